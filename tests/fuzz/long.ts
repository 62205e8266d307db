/**
 * The long fuzz run, `deno task test:fuzz` (CI runs it after `deno task test`): a 20,000-case fixed-seed batch, and
 * every planted bug (tests/fuzz/mutants.ts), each of which the fuzzer must catch through the invariant it breaks,
 * which shows the oracle can fail. Not named *_test.ts, so that `deno task test` (the short batch in
 * tests/fuzz_test.ts) stays within a minute.
 * @module
 */
import assert from "node:assert/strict";
import { MUTANTS } from "./mutants.ts";
import { assertBatch, mutantCopy } from "./suite.ts";

const LONG_SEED = 0x5eed;
const LONG_CASES = 20_000;

Deno.test(`fuzz: ${LONG_CASES} cases of seed ${LONG_SEED} keep every invariant and reach every outcome class`, () => {
  assertBatch(LONG_SEED, LONG_CASES);
});

/** Most cases a mutant may survive (each is found within a few hundred to a few thousand). */
const MUTANT_CASES = 8000;

Deno.test(`fuzz: every one of ${MUTANTS.length} planted bugs is caught, each by the invariant it breaks`, async (t) => {
  for (const m of MUTANTS) {
    await t.step(m.name, async () => {
      const dir = await mutantCopy(m.file, m.find, m.replace);
      try {
        const mutated: typeof import("./run.ts") = await import(`file://${dir}/tests/fuzz/run.ts`);
        const cases = m.cases ?? MUTANT_CASES;
        const r = mutated.runFuzz({ seed: 1, cases });
        assert.ok(r.failure !== null, `survived ${cases} cases`);
        assert.match(r.failure.message, m.expect);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});
