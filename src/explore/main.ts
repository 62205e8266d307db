/**
 * `deno task explore`: serves the explorer page on 127.0.0.1 and prints its address.
 *
 * ```sh
 * deno task explore                                        # choose a recorded vector, or load files, in the page
 * deno task explore tests/vectors/qemu-10.0/nested-basic.json --port 8016
 * deno task explore --state saved.bin --memory ram.bin@0x40000000 --log dmesg.txt
 * ```
 * @module
 */
import { InputError } from "../cli/io.ts";
import { firstLine } from "../cli/scenario.ts";
import { buildModel } from "./inputs.ts";
import { inputOf, type LoadRequest, serveExplorer } from "./server.ts";

const HELP = `deno task explore [options] [scenario.json|.yaml]

Serves a page on 127.0.0.1 that draws every step of a scenario: each DMA's walk (STE, CD, every level, nested
stage 2), the event records, the commands, the registers and the caches. Without a file, the page offers the
recorded vectors and forms to load files.

options:
  --port N               the port (default: one the system chooses)
  --state FILE           a saved-state blob (Smmu.save()) to restore, after the scenario if there is one
  --memory FILE@ADDR     an image of guest memory at guest physical ADDR (repeatable), written before --state
  --log FILE             a Linux arm-smmu-v3 log: each event record is explained by a walk of the tables
  --help                 this text`;

/** Parses the command line into a port and a load request (files read and base64-encoded as the page would). */
export function parseArgs(args: readonly string[]): { port: number; request: LoadRequest | null } | "help" {
  let port = 0;
  const request: LoadRequest = {};
  const memory: { base: string; data: string }[] = [];
  const b64 = (bytes: Uint8Array) => {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  };
  const read = (file: string, where: string) => {
    try {
      return Deno.readFileSync(file);
    } catch (e) {
      throw new InputError(`cannot read (${firstLine(e).replace(/: \w+ '.*'$/, "")})`, where);
    }
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new InputError(`${arg} needs a value`, `argument ${i}`);
      return v;
    };
    if (arg === "--help" || arg === "-h") return "help";
    else if (arg === "--port") {
      port = Number(value());
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InputError("not a port", `--port ${args[i]}`);
    } else if (arg === "--state") request.state = b64(read(value(), "--state"));
    else if (arg === "--log") request.log = new TextDecoder().decode(read(value(), "--log"));
    else if (arg === "--memory") {
      const spec = value();
      const at = spec.lastIndexOf("@");
      if (at < 0) throw new InputError("expected FILE@ADDR", `--memory ${spec}`);
      memory.push({ base: spec.slice(at + 1), data: b64(read(spec.slice(0, at), `--memory ${spec}`)) });
    } else if (arg.startsWith("-")) throw new InputError(`unknown option ${arg}`, `argument ${i + 1}`);
    else if (request.scenario) throw new InputError("one scenario at a time", `argument ${i + 1}`);
    else request.scenario = { name: arg, text: new TextDecoder().decode(read(arg, arg)) };
  }
  if (memory.length) request.memory = memory;
  const given = request.scenario || request.state || request.log !== undefined || memory.length;
  return { port, request: given ? request : null };
}

if (import.meta.main) {
  let parsed: ReturnType<typeof parseArgs>;
  let initial = null;
  try {
    parsed = parseArgs(Deno.args);
    if (parsed === "help") {
      console.log(HELP);
      Deno.exit(0);
    }
    if (parsed.request) initial = { request: parsed.request, model: buildModel(inputOf(parsed.request, [])) };
  } catch (e) {
    console.error(`explore: ${e instanceof InputError ? e.message : firstLine(e)}`);
    Deno.exit(2);
  }
  const explorer = serveExplorer({ port: parsed.port, initial });
  console.log(`smmuv3 explorer: ${explorer.url}  (Ctrl-C stops it)`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => void explorer.shutdown().then(() => Deno.exit(0)));
  }
  await explorer.finished;
}
