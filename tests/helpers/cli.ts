/**
 * Running the command line in tests: in process with files and stdin in memory, or as a program with exactly the
 * permissions that `deno task cli` (deno.json) grants.
 */
import assert from "node:assert/strict";
import { main } from "../../cli.ts";
import type { CliIo } from "../../src/cli/io.ts";

const ROOT = new URL("../../", import.meta.url);

/** What a run printed and returned. */
export interface CliRun {
  code: number;
  out: string;
  /** Lines written to stderr. */
  errors: string[];
}

/**
 * Runs `main` in process: `files` are read from memory first, then from disk; `stdin` is the standard input; files
 * are written to disk.
 */
export async function runMain(
  args: string[],
  files: Record<string, string | Uint8Array> = {},
  stdin = "",
): Promise<CliRun> {
  let out = "";
  const errors: string[] = [];
  const text = (v: string | Uint8Array) => typeof v === "string" ? v : new TextDecoder().decode(v);
  const bytes = (v: string | Uint8Array) => typeof v === "string" ? new TextEncoder().encode(v) : v;
  const io: CliIo = {
    out: (t) => void (out += t),
    err: (l) => void errors.push(l),
    readStdin: () => Promise.resolve(stdin),
    readFile: (p) => p in files ? Promise.resolve(text(files[p])) : Deno.readTextFile(p),
    readBytes: (p) => p in files ? Promise.resolve(bytes(files[p])) : Deno.readFile(p),
    writeFile: (p, t) => Deno.writeTextFile(p, t),
  };
  const code = await main(args, io);
  return { code, out, errors };
}

/** The permission flags of `deno task cli` in deno.json (the flags between `deno run` and `cli.ts`). */
export async function cliTaskFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const m = /^deno run ((?:--[\w-]+(?:=\S+)? )*)cli\.ts$/.exec(config.tasks.cli);
  assert.ok(m, `deno.json's cli task is "deno run <flags> cli.ts": ${config.tasks.cli}`);
  return m[1].trim().split(/\s+/).filter((f) => f);
}

/** Runs cli.ts as a program, from the repository's root, with the cli task's permissions and nothing else. */
export async function runProgram(args: string[], stdin = ""): Promise<{ code: number; out: string; err: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...await cliTaskFlags(), "cli.ts", ...args],
    cwd: new URL(".", ROOT).pathname,
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}

/**
 * The CLI's JSON rule: each key has one JSON type wherever it appears (a value is never a number here and a string
 * there), numbers only count or index things (bit positions, steps, levels: below 2^32), and every `value` is "0x…".
 */
export function assertJsonRule(doc: unknown): void {
  const types = new Map<string, string>();
  const walk = (v: unknown, key: string) => {
    const type = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
    if (key !== "" && type !== "undefined") {
      const seen = types.get(key);
      assert.ok(seen === undefined || seen === type, `"${key}" is a ${type} here and a ${seen} elsewhere`);
      types.set(key, type);
    }
    if (typeof v === "number") assert.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32, `"${key}": ${v} is a value`);
    if (key === "value") assert.match(String(v), /^0x[0-9a-f]+$/, `"value" ${v}`);
    if (Array.isArray(v)) v.forEach((x) => walk(x, `${key}[]`));
    else if (type === "object") { for (const [k, x] of Object.entries(v as object)) walk(x, k); }
  };
  walk(doc, "");
}
