// Calls that need a session's sandbox go to the node that owns the session, transparently to
// the client: the request as it came (method, path, headers with the client's key, the body as
// a stream), with a short-lived token signed with NODE_SECRET that says which node sent it and
// to whom. The owner checks the client's key again, and never sends a forwarded call further.
import { SignJWT, jwtVerify } from "jose";
import type { Logger } from "../log";
import { sessionErrors, type SessionError } from "../sessions/errors";

export const NODE_TOKEN_HEADER = "x-node-token";
const AUDIENCE = "wa-session-api node";
const TOKEN_TTL_SECONDS = 60;
const FORWARD_TIMEOUT_MS = 120_000;
/** Headers that belong to one hop (and the host, which the target's URL sets). */
const HOP_HEADERS = ["host", "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", NODE_TOKEN_HEADER];

/** A call answered by the owner node: the route answers its response as it is. */
export class Forwarded extends Error {
  constructor(readonly response: Response) {
    super("answered by the owner node");
  }
}

/** GET routes that ask the sandbox (the other GETs read the database, on any node). */
const SANDBOX_GETS = /^\/sessions\/[^/]+\/(check-number\/[^/]+|groups\/[^/]+\/invite)$/;

const MOVE = /^\/sessions\/[^/]+\/move$/;

export interface OwnerNode {
  id: string;
  url: string;
}

export class NodeForwarder {
  private readonly key: Uint8Array | null;

  constructor(
    secret: string | undefined,
    private readonly self: string,
    /** The owner if it is not dead; null otherwise. */
    private readonly reachable: (node: string) => OwnerNode | null,
    private readonly log: Logger,
  ) {
    this.key = secret ? new TextEncoder().encode(secret) : null;
  }

  /** Whether this call on a session of `owner` is to be answered by that node. */
  goesToOwner(request: Request, owner: string | null): boolean {
    if (owner === null || owner === this.self) return false;
    if (request.headers.has(NODE_TOKEN_HEADER)) return false; // checked in `accepts`; never forwarded twice
    const path = new URL(request.url).pathname;
    // A dead node's session is moved by whichever node is asked (its owner cannot).
    if (MOVE.test(path) && !this.reachable(owner)) return false;
    if (request.method !== "GET" && request.method !== "HEAD") return true;
    return SANDBOX_GETS.test(path);
  }

  /**
   * A call sent here by another node: its token must be valid, or the call is refused (a node
   * that cannot prove itself must not make this one skip forwarding).
   */
  async accepts(request: Request): Promise<boolean> {
    const token = request.headers.get(NODE_TOKEN_HEADER);
    if (token === null) return true;
    if (!this.key) return false;
    try {
      await jwtVerify(token, this.key, { algorithms: ["HS256"], audience: AUDIENCE, subject: this.self, requiredClaims: ["exp", "iss"] });
      return true;
    } catch {
      return false;
    }
  }

  /** The owner's answer to the call; 503 SANDBOX_UNAVAILABLE when the owner is dead or does not answer. */
  async forward(request: Request, owner: string): Promise<Response> {
    const node = this.reachable(owner);
    if (!node) throw unavailable(owner, "it is not seen (dead?); its sessions move to live nodes soon");
    if (!this.key) throw unavailable(owner, "this node has no NODE_SECRET to call it with");
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    for (const h of HOP_HEADERS) headers.delete(h);
    headers.set(NODE_TOKEN_HEADER, await this.token(owner));
    try {
      return await fetch(`${node.url}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        body: request.body,
        redirect: "manual",
        // The client gone, the call to the owner goes too; an owner that hangs is given up on
        // (a send waits at most a minute there for WhatsApp's answer).
        signal: AbortSignal.any([request.signal, AbortSignal.timeout(FORWARD_TIMEOUT_MS)]),
        // @ts-expect-error duplex is needed to stream a request body (fetch standard), not in every lib's types
        duplex: "half",
      });
    } catch (err) {
      this.log.warn("call for another node's session not forwarded", { node: owner, path: url.pathname, error: err });
      throw unavailable(owner, "it does not answer");
    }
  }

  private token(to: string): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(this.self)
      .setSubject(to)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + TOKEN_TTL_SECONDS)
      .sign(this.key!);
  }
}

function unavailable(node: string, why: string): SessionError {
  return sessionErrors.onOtherNode(node, `and ${why}`);
}
