/**
 * `deno task codegen [--check] [--spec registers.yaml] [--out DIR]`: compiles the spec into `gen/` and `proto/`.
 *
 * Everything is generated into a scratch directory first (TypeScript, the proto schema, then ts-proto's messages
 * through buf, then `deno fmt`), so `--check` compares exactly what a regeneration would write.
 * @module
 */
import { emitTypeScript } from "./emit_ts.ts";
import { emitProto, PROTO_PATH } from "./emit_proto.ts";
import { loadSpec, SpecError } from "./spec.ts";

const BUF = "npm:@bufbuild/buf@1.74.0";
const TS_PROTO = "npm:ts-proto@2.18.0/protoc-gen-ts_proto";
const TS_PROTO_OPTS = ["esModuleInterop=true", "importSuffix=.ts", "forceLong=bigint", "outputServices=false"];
const OUTPUTS = ["gen", "proto"];

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${text}`);
  }
}

/** Generates every output of `specPath` under `root` (which receives gen/ and proto/). */
export async function generate(specPath: string, root: string): Promise<void> {
  const spec = loadSpec(specPath);
  const files = emitTypeScript(spec);
  files.set(PROTO_PATH, emitProto(spec));
  for (const [rel, text] of files) {
    const path = `${root}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
  const template = JSON.stringify({
    version: "v2",
    plugins: [{ local: [Deno.execPath(), "run", "-A", TS_PROTO], out: "gen/proto", opt: TS_PROTO_OPTS }],
  });
  await run(Deno.execPath(), ["run", "-A", BUF, "generate", "proto", "--template", template], root);
  const ours = [...files.keys()].filter((f) => f.endsWith(".ts"));
  await run(Deno.execPath(), ["fmt", "--quiet", "--line-width", "120", ...ours], root);
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory) out.push(...await listFiles(`${dir}/${e.name}`, rel));
      else out.push(rel);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** Relative paths whose content differs between two roots (missing on either side counts). */
export async function staleFiles(expectedRoot: string, actualRoot: string): Promise<string[]> {
  const stale: string[] = [];
  for (const top of OUTPUTS) {
    const want = await listFiles(`${expectedRoot}/${top}`);
    const have = await listFiles(`${actualRoot}/${top}`);
    for (const f of new Set([...want, ...have])) {
      const a = await Deno.readTextFile(`${expectedRoot}/${top}/${f}`).catch(() => null);
      const b = await Deno.readTextFile(`${actualRoot}/${top}/${f}`).catch(() => null);
      if (a !== b) stale.push(`${top}/${f}${a === null ? " (should not exist)" : b === null ? " (missing)" : ""}`);
    }
  }
  return stale;
}

const USAGE = "usage: codegen/main.ts [--check] [--spec registers.yaml] [--out DIR]";

/** The command line, or the problem with it: a mistyped `--check` must not regenerate instead of checking. */
function parseArgs(args: string[]): { check: boolean; specPath: string; root: string } | string {
  const out = { check: false, specPath: "registers.yaml", root: "." };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--check") out.check = true;
    else if (a === "--spec" || a === "--out") {
      const value = args[++i];
      if (value === undefined || value.startsWith("--")) return `${a} needs a path`;
      if (a === "--spec") out.specPath = value;
      else out.root = value;
    } else return `unknown argument ${a}`;
  }
  return out;
}

async function main(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === "string") {
    console.error(`codegen: ${parsed}\n${USAGE}`);
    return 2;
  }
  const { check, specPath, root } = parsed;
  const scratch = await Deno.makeTempDir({ prefix: "smmuv3-codegen-" });
  try {
    await generate(specPath, scratch);
    if (check) {
      const stale = await staleFiles(scratch, root);
      if (stale.length) {
        console.error(`codegen --check: ${stale.length} generated file(s) do not match ${specPath}:`);
        for (const s of stale) console.error(`  ${s}`);
        console.error("run `deno task codegen` and commit the result");
        return 1;
      }
      console.log(`codegen --check: gen/ and proto/ match ${specPath}`);
      return 0;
    }
    for (const top of OUTPUTS) {
      await Deno.remove(`${root}/${top}`, { recursive: true }).catch(() => {});
      await Deno.mkdir(root, { recursive: true });
      await Deno.rename(`${scratch}/${top}`, `${root}/${top}`).catch(async () => {
        await run("cp", ["-r", `${scratch}/${top}`, `${root}/${top}`], ".");
      });
    }
    console.log(`codegen: wrote gen/ and proto/ from ${specPath}`);
    return 0;
  } catch (e) {
    if (e instanceof SpecError) {
      console.error(e.message);
      return 2;
    }
    throw e;
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
