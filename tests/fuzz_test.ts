/**
 * The fuzzer in CI (tests/fuzz/): a fixed-seed run that must keep every invariant and reach deep states; every
 * case the fuzzer ever found, replayed as a named regression; planted bugs (mutants) that the fuzzer must catch, which
 * shows the oracle can fail; and the failure path: a shrunk case printed as a scenario that `trace` replays.
 */
import assert from "node:assert/strict";
import { checkScenario } from "./fuzz/check.ts";
import { scenarioJson } from "./fuzz/guest_writes.ts";
import { MUTANTS } from "./fuzz/mutants.ts";
import { runFuzz, type RunResult } from "./fuzz/run.ts";
import { parseScenario, type Scenario, ScenarioRunner } from "../src/cli/scenario.ts";
import { runTrace } from "../src/cli/trace.ts";

const ROOT = new URL("../", import.meta.url);
const REGRESSIONS = new URL("fuzz/regressions/", import.meta.url);

/** The CI run: sized to take well under a minute on one core. */
const CI_SEED = 0x5eed;
const CI_CASES = 20_000;

/** What the CI run must reach: every outcome class the generator is built to provoke. */
const MUST_REACH = [
  "translate: ok",
  "translate: ABORT",
  "translate: C_BAD_STREAMID",
  "translate: C_BAD_STE",
  "translate: C_BAD_CD",
  "translate: C_BAD_SUBSTREAMID",
  "translate: F_STREAM_DISABLED",
  "translate: F_STE_FETCH",
  "translate: F_CD_FETCH",
  "translate: F_TRANSLATION",
  "translate: F_ADDR_SIZE",
  "translate: F_ACCESS",
  "translate: F_PERMISSION",
  "translate: F_WALK_EABT",
  "copy: done",
  "copy: abort",
  "copy: F_TRANSLATION",
  "CMDQ_CONS.ERR CERROR_ILL",
  "CMDQ_CONS.ERR CERROR_ABT",
  "GERROR.CMDQ_ERR",
  "GERROR.EVENTQ_ABT_ERR",
  "GERROR.MSI_CMDQ_ABT_ERR",
  "GERROR.MSI_EVENTQ_ABT_ERR",
  "GERROR.MSI_GERROR_ABT_ERR",
  "event queue overflow (OVFLG)",
  "write: event record",
  "write: MSI",
  "write: Access flag (HTTU)",
  "write: dirty state (HTTU)",
  "record: stage-2 fault on a stage-1 table read",
  "record: stage-2 fault on a stage-1 table write",
  "write: DMA data split at mapping boundaries",
  "full invalidation completed",
  "TLB hit checked against a walk",
  "reentered from cmdqSync",
  "reentered from eventq",
  "reentered from synced",
  "reentered from invalidated",
];

function explain(r: RunResult): string {
  const f = r.failure;
  return f === null ? "" : `${f.message}\n(seed ${f.seed}, path ${f.path})\n${scenarioJson(f.scenario)}`;
}

Deno.test(`fuzz: ${CI_CASES} cases of seed ${CI_SEED} keep every invariant and reach every outcome class`, () => {
  const r = runFuzz({ seed: CI_SEED, cases: CI_CASES });
  assert.equal(r.failure, null, explain(r));
  assert.equal(r.coverage.cases, CI_CASES);
  const missed = MUST_REACH.filter((what) => !r.coverage.counts.has(what));
  assert.deepEqual(missed, [], `never reached: ${missed.join(", ")}`);
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

// ---------------------------------------------------------------------------------------------------- mutants

/** A copy of the device and the fuzzer (src/, gen/, mod.ts, tests/fuzz/) with one planted bug. */
async function mutantCopy(file: string, find: string, replace: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "smmuv3-mutant-" });
  for (const d of ["src", "gen", "tests/fuzz"]) await copyTree(new URL(`${d}/`, ROOT), `${dir}/${d}`);
  await Deno.copyFile(new URL("mod.ts", ROOT), `${dir}/mod.ts`);
  const path = `${dir}/${file}`;
  const text = await Deno.readTextFile(path);
  assert.equal(text.split(find).length, 2, `the mutant's text occurs once in ${file}`);
  await Deno.writeTextFile(path, text.replace(find, replace));
  return dir;
}

async function copyTree(from: URL, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(new URL(`${e.name}/`, from), `${to}/${e.name}`);
    else if (e.isFile) await Deno.copyFile(new URL(e.name, from), `${to}/${e.name}`);
  }
}

/** Most cases a mutant may survive (each is found within a few hundred to a few thousand). */
const MUTANT_CASES = 8000;

Deno.test(`fuzz: every one of ${MUTANTS.length} planted bugs is caught, each by the invariant it breaks`, async (t) => {
  for (const m of MUTANTS) {
    await t.step(m.name, async () => {
      const dir = await mutantCopy(m.file, m.find, m.replace);
      try {
        const mutated: typeof import("./fuzz/run.ts") = await import(`file://${dir}/tests/fuzz/run.ts`);
        const r = mutated.runFuzz({ seed: 1, cases: MUTANT_CASES });
        assert.ok(r.failure !== null, `survived ${MUTANT_CASES} cases`);
        assert.match(r.failure.message, m.expect);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});

Deno.test("fuzz: a failure is shrunk into a scenario that trace replays and that fails the same way", async () => {
  const m = MUTANTS.find((x) => x.file === "src/events.ts")!;
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
