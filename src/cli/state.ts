/**
 * `smmuv3 state <blob>`: a saved-state blob (from `Smmu.save()`) as JSON, every saved register by its spec name
 * with its fields decoded. As in every command's JSON, values are "0x…" strings (an enumerated field gives its value's
 * name); the only number is the schema version.
 * @module
 */
import { SavedStateError } from "../errors.ts";
import { stateToJson } from "../save_restore.ts";
import { parseArgs } from "./args.ts";
import { type CliIo, InputError, readInput } from "./io.ts";

/** `smmuv3 state <blob file>`: prints the JSON; returns the exit code; bad input throws {@link InputError}. */
export async function stateCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { positional } = parseArgs(argv, {});
  if (positional.length !== 1) {
    throw new InputError("expected one saved-state blob file", positional[1]?.where ?? "argument 2");
  }
  const file = positional[0].value;
  const bytes = await readInput(file, () => io.readBytes(file));
  try {
    io.out(
      JSON.stringify(
        stateToJson(bytes),
        (key, v) => typeof v === "number" && key !== "schema_version" ? `0x${v.toString(16)}` : v,
        2,
      ) + "\n",
    );
  } catch (e) {
    if (!(e instanceof SavedStateError)) throw e;
    throw new InputError(`not a saved state: ${e.message}`, file);
  }
  return 0;
}
