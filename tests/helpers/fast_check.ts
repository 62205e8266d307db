/**
 * fast-check for the conformance suite, seeded: every property runs from one fixed seed, so a run's result depends on
 * the code alone, the same on every run and machine. `FC_SEED=<integer>` runs from that seed instead (a failing
 * property's report names its seed), `FC_SEED=random` from a fresh one, printed. Test files take `fc` from here, never
 * from "fast-check" itself (tests/fast_check_test.ts checks); the fuzzer (tests/fuzz/) seeds its own batches.
 * @module
 */
import fc from "fast-check";

/** The seed when FC_SEED is unset or empty: an arbitrary one, fixed. */
export const DEFAULT_SEED = 1;

/** The seed FC_SEED names: unset or empty is {@link DEFAULT_SEED}, "random" a fresh 32-bit one, else an integer. */
export function seedFrom(value: string | undefined, random: () => number = Math.random): number {
  const text = value?.trim() ?? "";
  if (text === "") return DEFAULT_SEED;
  if (text === "random") return (random() * 2 ** 32) | 0;
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < -(2 ** 31) || seed >= 2 ** 32) {
    throw new Error(`FC_SEED=${value}: want a 32-bit integer (as a failing property reports it) or "random"`);
  }
  return seed | 0;
}

/** FC_SEED, where the run may read it (`deno task test` grants --allow-env); without the permission, the default. */
function fcSeedVariable(): string | undefined {
  const granted = Deno.permissions.querySync({ name: "env", variable: "FC_SEED" }).state === "granted";
  return granted ? Deno.env.get("FC_SEED") : undefined;
}

const variable = fcSeedVariable();
/** The seed every property of this run starts from. */
export const SEED: number = seedFrom(variable);
if (variable?.trim() === "random") console.error(`fast-check: FC_SEED=random drew seed ${SEED}`);

fc.configureGlobal({ seed: SEED });

export default fc;
