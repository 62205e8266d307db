/**
 * `smmuv3 state <blob>`: a saved-state blob (from `Smmu.save()`) as JSON, every saved register by its spec name
 * with its fields decoded.
 * @module
 */
import { SavedStateError } from "../errors.ts";
import { stateToJson } from "../save_restore.ts";
import { InputError } from "./hex.ts";

/** Reads a whole file as bytes (replaced in tests). */
export type ReadBytes = (path: string) => Promise<Uint8Array>;

/** `smmuv3 state <blob file>`: prints the JSON with `out`; returns the exit code; bad input throws InputError. */
export async function stateCommand(
  args: readonly string[],
  out: (text: string) => void,
  readBytes: ReadBytes,
): Promise<number> {
  if (args.length !== 1 || args[0].startsWith("-")) {
    throw new InputError("expected one saved-state blob file", `argument ${args.length === 0 ? 2 : 3}`);
  }
  const file = args[0];
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(file);
  } catch (e) {
    throw new InputError(
      `cannot read (${(e instanceof Error ? e.message : String(e)).replace(/: \w+ '.*'$/, "")})`,
      file,
    );
  }
  try {
    out(JSON.stringify(stateToJson(bytes), null, 2) + "\n");
  } catch (e) {
    if (!(e instanceof SavedStateError)) throw e;
    throw new InputError(`not a saved state: ${e.message}`, file);
  }
  return 0;
}
