/**
 * `deno task state --decode <blob>`: prints a saved-state blob as JSON, with the spec's register and field names.
 * Exit status 0 on success, 2 on a usage error or a blob that does not decode (one line on stderr).
 * @module
 */
import { SavedStateError } from "../src/errors.ts";
import { stateToJson } from "../src/save_restore.ts";

const USAGE = "usage: deno task state --decode <blob file>";

async function main(args: readonly string[]): Promise<number> {
  const [flag, path, ...rest] = args;
  if (flag !== "--decode" || path === undefined || rest.length > 0) {
    console.error(USAGE);
    return 2;
  }
  try {
    console.log(JSON.stringify(stateToJson(await Deno.readFile(path)), null, 2));
    return 0;
  } catch (e) {
    if (!(e instanceof SavedStateError || e instanceof Deno.errors.NotFound)) throw e;
    console.error(`state: ${path}: ${e.message}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
