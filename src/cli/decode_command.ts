/**
 * `smmuv3 decode <kind> [NAME] [options] <hex…> | - | --file PATH`: arguments, input, output and exit status.
 * @module
 */
import { type Args, choice, flag, parseArgs, value } from "./args.ts";
import { decode, type Kind, KINDS, type PteOptions, REGISTER_NAMES } from "./decode.ts";
import { formatJson, formatText } from "./format.ts";
import type { WordWidth } from "./hex.ts";
import { type CliIo, InputError, oneOf, readInput } from "./io.ts";

const OPTIONS = {
  "--json": "flag",
  "--bytes": "flag",
  "--file": "value",
  "--width": "value",
  "--stage": "value",
  "--level": "value",
  "--granule": "value",
} as const;

/**
 * Decodes and prints; returns the exit status: 0 when it printed a record, 1 when a Linux log held none it could
 * decode. Each log block it skips is a warning line on stderr. Bad input throws {@link InputError}.
 */
export async function decodeCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, OPTIONS);
  const width: WordWidth = choice(args, "--width", { auto: "auto", 32: 32, 64: 64 } as const, "auto");
  const pte: PteOptions = {
    stage: choice(args, "--stage", { 1: 1, 2: 2 } as const, 1),
    level: choice(args, "--level", { 0: 0, 1: 1, 2: 2, 3: 3 }, 3),
    granule: choice(args, "--granule", { "4k": 4, "16k": 16, "64k": 64 } as const, 4),
  };
  const [kindArg, ...rest] = args.positional;
  if (!kindArg) throw new InputError(`missing kind (${oneOf(KINDS)})`, "argument 2");
  if (!(KINDS as readonly string[]).includes(kindArg.value)) {
    throw new InputError(`unknown kind "${kindArg.value}" (${oneOf(KINDS)})`, kindArg.where);
  }
  const kind = kindArg.value as Kind;
  let register: string | undefined;
  if (kind === "reg") {
    const name = rest.shift();
    const looksLikeValue = name !== undefined && /^(0x)?[0-9a-f_]+$/i.test(name.value) &&
      !REGISTER_NAMES.includes(name.value.toUpperCase());
    if (name === undefined || looksLikeValue) {
      throw new InputError(
        `reg needs a register name before the value, as in "decode reg CR0 0x5" (${oneOf(REGISTER_NAMES)})`,
        name?.where ?? "argument 3",
      );
    }
    register = name.value;
  }
  const text = await inputText(args, rest.map((r) => r.value), io);
  const { records, skipped, fromLog } = decode({ kind, register, text, width, bytes: flag(args, "--bytes"), pte });
  for (const s of skipped) io.err(`smmuv3 decode: warning: ${s.what} at ${s.where}`);
  if (records.length === 0) {
    io.err(`smmuv3 decode: no ${kind} record decoded from the ${fromLog ? "log" : "input"}`);
    return 1;
  }
  io.out(flag(args, "--json") ? formatJson(records) : formatText(records));
  return 0;
}

async function inputText(args: Args, hex: string[], io: CliIo): Promise<string> {
  const file = value(args, "--file");
  if (file !== undefined && hex.length) throw new InputError("give hex words or --file, not both", "--file");
  if (hex.length === 0 && file === undefined) throw new InputError("no hex words given", "end of arguments");
  if (file !== undefined) return await readInput(`--file ${file}`, () => io.readFile(file));
  if (hex.length === 1 && hex[0] === "-") return await readInput("stdin", io.readStdin);
  if (hex.includes("-")) throw new InputError('"-" (stdin) must be the only input', `input ${hex.indexOf("-") + 1}`);
  return hex.join(" ");
}
