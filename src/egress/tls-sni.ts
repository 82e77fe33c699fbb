// The server name a TLS ClientHello asks for (its SNI extension), read from the first record a
// client sends: that is where a sandbox's HTTPS request (a media upload or download) is going.
// Bounded: one record of at most 16 KiB; anything malformed is null.

/** `undefined` while the record is incomplete; null when it holds no usable name. */
export function serverNameOf(bytes: Buffer): string | null | undefined {
  if (bytes.length < 5) return undefined;
  if (bytes[0] !== 0x16) return null; // not a handshake record
  const recordLength = bytes.readUInt16BE(3);
  if (recordLength > 16 * 1024) return null;
  if (bytes.length < 5 + recordLength) return undefined;
  const end = 5 + recordLength;
  try {
    let at = 5;
    if (bytes[at] !== 0x01) return null; // a client_hello
    at += 4 + 2 + 32; // handshake type and length, client version, random
    at += 1 + bytes[at]!; // session id
    at += 2 + bytes.readUInt16BE(at); // cipher suites
    at += 1 + bytes[at]!; // compression methods
    const extensionsEnd = Math.min(end, at + 2 + bytes.readUInt16BE(at));
    at += 2;
    while (at + 4 <= extensionsEnd) {
      const type = bytes.readUInt16BE(at);
      const length = bytes.readUInt16BE(at + 2);
      at += 4;
      if (type === 0x0000) {
        // server_name: the list's length, then entries of a type (0: host_name) and a length.
        if (bytes[at + 2] !== 0x00) return null;
        const nameLength = bytes.readUInt16BE(at + 3);
        if (at + 5 + nameLength > extensionsEnd) return null;
        const name = bytes.subarray(at + 5, at + 5 + nameLength).toString("latin1").toLowerCase();
        return /^[a-z0-9_.-]{1,253}$/.test(name) ? name : null;
      }
      at += length;
    }
  } catch {
    return null; // read past the record
  }
  return null;
}
