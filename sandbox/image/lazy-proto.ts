// A build plugin for the sandbox executable: Baileys' WAProto (protobufjs static code, about
// 670 message and enum types, 2.1 MB of the bundle) defines every type when it is imported, each
// one an immediately invoked function that builds a constructor, its prototype and its
// encode/decode/verify/fromObject/toObject functions. A session uses a few dozen of them. This
// rewrites each `Parent.Name = (function() { ... })();` into a getter on Parent that runs the
// same function on first access and then replaces itself with the value, so a type nobody touches
// costs one small closure instead of its functions and structures. Measured, compiled with
// bytecode and JIT off: an executable that only imports WAProto 6.5 -> 2.6 MiB anonymous, one
// that imports Baileys 15.2 -> 12.0 MiB, an idle linked sandbox 19.4 -> 16.0 MiB (mean of 4).
// The build fails if the file no longer has the shape this relies on.
import type { BunPlugin } from "bun";

const OPEN = /^( +)([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\.([A-Za-z_$][\w$]*) = \(function\(\) \{$/;

/** Defines `key` on `target` as a getter that runs `make` once, on first access or assignment. */
const HELPER = `function $lazyType(target, key, make) {
    Object.defineProperty(target, key, {
        configurable: true,
        enumerable: true,
        get() {
            const value = make();
            Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
            return value;
        },
        set(value) {
            Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
        },
    });
}
`;

export function lazyProtoSource(source: string): { code: string; types: number } {
  const lines = source.split("\n");
  const open: { indent: string; line: number }[] = [];
  let types = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = OPEN.exec(line);
    if (m) {
      open.push({ indent: m[1]!, line: i });
      lines[i] = `${m[1]}$lazyType(${m[2]}, ${JSON.stringify(m[3])}, function() {`;
      continue;
    }
    const top = open.at(-1);
    if (top && line === `${top.indent}})();`) {
      lines[i] = `${top.indent}});`;
      open.pop();
      types++;
    }
  }
  if (open.length) throw new Error(`lazy-proto: ${open.length} type definitions without their end (first at line ${open[0]!.line + 1})`);
  const marker = "export const proto = $root.proto = (() => {";
  const at = lines.indexOf(marker);
  if (at < 0) throw new Error(`lazy-proto: "${marker}" not found`);
  lines.splice(at, 0, HELPER);
  return { code: lines.join("\n"), types };
}

/** `minTypes`: fewer rewritten definitions than this means the file changed shape: fail the build. */
export function lazyProtoPlugin(minTypes = 500): BunPlugin {
  return {
    name: "lazy-waproto",
    setup(build) {
      build.onLoad({ filter: /@whiskeysockets[\\/]baileys[\\/]WAProto[\\/]index\.js$/ }, async (args) => {
        const { code, types } = lazyProtoSource(await Bun.file(args.path).text());
        if (types < minTypes) throw new Error(`lazy-proto: only ${types} type definitions rewritten in ${args.path}; expected at least ${minTypes}`);
        return { contents: code, loader: "js" };
      });
    },
  };
}
