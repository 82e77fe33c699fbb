// Images: whether one exists, and building one from a tar context (so an image lands in the
// store of whichever Podman the socket belongs to).
import type { PodmanClient } from "./client";
import { PodmanError } from "./errors";

export async function imageExists(client: PodmanClient, name: string): Promise<boolean> {
  return client.found("GET", `/images/${encodeURIComponent(name)}/exists`);
}

export interface BuildOptions {
  tag: string;
  /** Path of the Containerfile inside the context. */
  containerfile?: string;
  labels?: Record<string, string>;
  onOutput?: (line: string) => void;
}

/** Builds from a tar of the context; resolves to the image id, rejects with the build's error. */
export async function buildImage(client: PodmanClient, context: Blob, opts: BuildOptions): Promise<string> {
  const res = await client.fetch("POST", "/build", {
    query: { t: opts.tag, dockerfile: opts.containerfile ?? "Containerfile", labels: opts.labels, rm: true, layers: false },
    raw: { data: context, contentType: "application/x-tar" },
  });
  let id = "";
  let error = "";
  const decoder = new TextDecoder();
  let buffer = "";
  const handle = (line: string) => {
    if (!line.trim()) return;
    const msg = JSON.parse(line) as { stream?: string; error?: string; aux?: { ID?: string } };
    if (msg.stream) {
      opts.onOutput?.(msg.stream);
      // Podman 4 ends a build with the image id as a bare stream line; later versions send aux.ID.
      if (/^[0-9a-f]{64}\s*$/.test(msg.stream)) id ||= msg.stream.trim();
    }
    if (msg.error) error = msg.error;
    if (msg.aux?.ID) id = msg.aux.ID.replace(/^sha256:/, "");
  };
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    const lines = buffer.split("\n");
    buffer = lines.pop() ?? "";
    lines.forEach(handle);
  }
  handle(buffer);
  if (error) throw new PodmanError(`image build failed: ${error}`, 500);
  return id;
}
