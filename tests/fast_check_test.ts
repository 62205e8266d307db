/**
 * The suite's properties are reproducible (tests/helpers/fast_check.ts): every test file takes fast-check from the
 * helper, which seeds every property with one seed (fixed unless FC_SEED names another), and a failing property's
 * report names the seed that reproduces it.
 */
import assert from "node:assert/strict";
import fc, { DEFAULT_SEED, SEED, seedFrom } from "./helpers/fast_check.ts";

const TESTS = new URL("./", import.meta.url);

/** The .ts files under `dir` (a URL ending in "/"), paths relative to tests/. */
function tsFiles(dir: URL): string[] {
  const files: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory) {
      for (const f of tsFiles(new URL(`${e.name}/`, dir))) files.push(`${e.name}/${f}`);
    } else if (e.name.endsWith(".ts")) files.push(e.name);
  }
  return files;
}

Deno.test("every test file takes fast-check from tests/helpers/fast_check.ts (the fuzzer seeds its own)", () => {
  const direct = tsFiles(TESTS).filter((f) =>
    f !== "helpers/fast_check.ts" && !f.startsWith("fuzz/") &&
    /from\s+["']fast-check["']/.test(Deno.readTextFileSync(new URL(f, TESTS)))
  );
  assert.deepEqual(direct, []);
});

Deno.test("FC_SEED: unset or empty is the fixed default, an integer is that seed, random is a fresh one", () => {
  assert.equal(seedFrom(undefined), DEFAULT_SEED);
  assert.equal(seedFrom(""), DEFAULT_SEED);
  assert.equal(seedFrom("1234"), 1234);
  assert.equal(seedFrom(" -1234 "), -1234, "fast-check reports negative seeds too");
  assert.equal(seedFrom("0x13"), 0x13);
  assert.equal(seedFrom("4294967295"), -1, "a 32-bit seed, as fast-check reads it");
  assert.equal(seedFrom("random", () => 0.5), 2 ** 31 | 0);
  assert.notEqual(seedFrom("random", () => 0.25), seedFrom("random", () => 0.75));
  for (const bad of ["1.5", "seed", "2**40", "4294967296", "-2147483649"]) {
    assert.throws(() => seedFrom(bad), new RegExp(`FC_SEED=${bad.replace(/[.*]/g, "\\$&")}: want a 32-bit integer`));
  }
});

Deno.test("a property runs from the suite's seed, and its failure report names that seed", () => {
  const details = fc.check(fc.property(fc.nat(), (n) => n < 0));
  assert.equal(details.seed, SEED);
  assert.throws(() => fc.assert(fc.property(fc.nat(), (n) => n < 0)), (e: Error) => {
    assert.match(e.message, new RegExp(`\\{ seed: ${SEED}, path: "`));
    return true;
  });
});

Deno.test("the same seed draws the same values", () => {
  const draw = () => fc.sample(fc.array(fc.integer()), 20);
  assert.deepEqual(draw(), draw());
});
