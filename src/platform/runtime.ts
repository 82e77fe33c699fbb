// Which JavaScript runtime runs this process. Only src/platform/ looks at it.
export type RuntimeName = "bun" | "deno";

export const runtime: RuntimeName = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : unsupported();

function unsupported(): never {
  throw new Error("The API runs on Bun or Deno: neither was found (`bun run start` or `deno task start`)");
}
