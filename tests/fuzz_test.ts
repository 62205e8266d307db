/**
 * The fuzzer in `deno task test` (tests/fuzz/): a short fixed-seed run that must keep every invariant and reach every
 * outcome class; every case the fuzzer ever found, replayed as a named regression; and the failure path: a planted
 * bug's shrunk case printed as a scenario that `trace` replays. The long run and every planted bug (mutant) are in
 * tests/fuzz/long.ts, run by `deno task test:fuzz`.
 */
import assert from "node:assert/strict";
import { checkScenario } from "./fuzz/check.ts";
import { scenarioJson } from "./fuzz/guest_writes.ts";
import { MUTANTS } from "./fuzz/mutants.ts";
import { assertBatch, MUST_REACH, mutantCopy } from "./fuzz/suite.ts";
import { parseScenario, type Scenario, ScenarioRunner } from "../src/scenario/scenario.ts";
import { runTrace } from "../src/cli/trace_command.ts";

const REGRESSIONS = new URL("fuzz/regressions/", import.meta.url);

/**
 * The short run: a seed whose 4,000 cases reach every class of MUST_REACH (the rarest, the stage-2 fault on a stage-1
 * table write and a stalled transaction completing after its retry, come after the first 1,500; seeds 1 to 4 all
 * reach every class), about a fifth of the long run's time.
 */
const SHORT_SEED = 1;
const SHORT_CASES = 4000;

Deno.test(`fuzz: ${SHORT_CASES} cases of seed ${SHORT_SEED} keep every invariant and reach all ${MUST_REACH.length} outcome classes`, () => {
  assertBatch(SHORT_SEED, SHORT_CASES);
});

// ------------------------------------------------------------------------------------------------ regressions

/** Replays `s` and compares every recorded observation (register reads, DMA outcomes, memory reads). */
function observationsDiffer(s: Scenario, file: string): string[] {
  const runner = new ScenarioRunner(s, file);
  const wrong: string[] = [];
  s.steps.forEach((step, i) => {
    const out = runner.run(step);
    if (step.op === "mmio_read" && step.observed !== undefined && out.op === "mmio_read") {
      if (out.value !== step.observed) wrong.push(`step ${i}: read 0x${out.value.toString(16)}`);
    }
    if (step.op === "mem_read" && step.observed_hex !== undefined && out.op === "mem_read") {
      const hex = [...out.bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
      if (hex !== step.observed_hex.toLowerCase()) wrong.push(`step ${i}: memory ${hex}`);
    }
    if (step.op === "dma" && step.observed !== undefined && out.op === "translate") {
      const o = step.observed, r = out.result;
      const event = "pa" in o ? undefined : o.event; // compared when recorded
      const want = "pa" in o ? `pa ${o.pa}` : event === undefined ? "fault" : `fault, event ${event}`;
      const got = r.ok ? `pa ${r.pa}` : event === undefined ? "fault" : `fault, event ${r.event}`;
      if (got !== want) wrong.push(`step ${i}: ${got}`);
    }
  });
  return wrong;
}

for (const entry of [...Deno.readDirSync(REGRESSIONS)].sort((a, b) => a.name.localeCompare(b.name))) {
  const file = new URL(entry.name, REGRESSIONS);
  const scenario = parseScenario(Deno.readTextFileSync(file), entry.name);
  Deno.test(`fuzz regression ${scenario.name ?? entry.name}: invariants hold and the observations replay`, () => {
    assert.ok(scenario.description, "a regression says what was found and what changed");
    checkScenario(scenario);
    assert.deepEqual(observationsDiffer(scenario, entry.name), []);
  });
}

// ------------------------------------------------------------------------------------------------ failure path

Deno.test("every planted bug still applies: its text occurs once in its file (the long run plants them all)", () => {
  const stale = MUTANTS.filter((m) => {
    const text = Deno.readTextFileSync(new URL(`../${m.file}`, import.meta.url));
    return text.split(m.find).length !== 2;
  });
  assert.deepEqual(stale.map((m) => `${m.file}: ${m.name}`), []);
});

/** Most cases the planted bug may survive before the fuzzer reports it. */
const MUTANT_CASES = 8000;

Deno.test("fuzz: a failure is shrunk into a scenario that trace replays and that fails the same way", async () => {
  const m = MUTANTS.find((x) => x.file === "src/device/events.ts")!;
  const dir = await mutantCopy(m.file, m.find, m.replace);
  try {
    const run: typeof import("./fuzz/run.ts") = await import(`file://${dir}/tests/fuzz/run.ts`);
    const check: typeof import("./fuzz/check.ts") = await import(`file://${dir}/tests/fuzz/check.ts`);
    const r = run.runFuzz({ seed: 1, cases: MUTANT_CASES });
    assert.ok(r.failure !== null);
    // Shrunk: fast-check dropped what the failure does not need.
    assert.ok(r.failure.counterexample.actions.length <= 12, `${r.failure.counterexample.actions.length} actions`);
    const text = scenarioJson(r.failure.scenario);
    const again = parseScenario(text, "failure.json");
    assert.throws(
      () => check.checkScenario(again),
      (e) => e instanceof check.InvariantError && m.expect.test(e.message),
    );
    // The same case on the real device keeps every invariant, and trace prints every step of it.
    checkScenario(again);
    const lines: string[] = [];
    runTrace(again, "failure.json", (l) => lines.push(l));
    assert.ok(lines.some((l) => l.startsWith(`step ${again.steps.length - 1} `)), lines.join("\n"));
    // And the reproduction the report names runs the same case again.
    const replayed = run.replayCase(r.failure.seed, r.failure.path);
    assert.ok(replayed.failure !== null && m.expect.test(replayed.failure.message));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task fuzz: runs a seeded number of cases, reports them, exits 0; bad arguments exit 2", async () => {
  const main = new URL("fuzz/main.ts", import.meta.url).pathname;
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), { args: ["run", "--allow-read", "--allow-write", main, ...args] }).output();
  const ok = await run(["--seed", "3", "--cases", "200"]);
  const out = new TextDecoder().decode(ok.stdout);
  assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
  assert.match(out, /^fuzz: seed 3, 1 job, 200 cases/m);
  assert.match(out, /^fuzz: 200 cases, \d+ steps/m);
  const bad = await run(["--cases", "zero"]);
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /--cases must be an integer/);
});
