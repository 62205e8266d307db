/**
 * What the fuzz tests share: the outcome classes a fixed-seed batch must reach, a failure's report, and copies of
 * the device with one planted bug. `tests/fuzz_test.ts` (in `deno task test`) runs a short batch and the
 * regressions; `tests/fuzz/long.ts` (in `deno task test:fuzz`) runs the long batch and every mutant.
 * @module
 */
import assert from "node:assert/strict";
import { scenarioJson } from "./guest_writes.ts";
import { runFuzz, type RunResult } from "./run.ts";

const ROOT = new URL("../../", import.meta.url);

/** What a fixed-seed batch must reach: every outcome class the generator is built to provoke. */
export const MUST_REACH = [
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
  "stall: transaction stalled",
  "stall: DMA copy stalled",
  "stall: completed",
  "stall: retried, stalled again",
  "stall: terminated",
  "stall: unrecorded, waiting for the event queue",
  "page request: queued",
  "page request: responded",
  "page request: discarded",
  "page request: overflow (OVFLG)",
  "page request: PRI queue interrupt",
  "write: PRI record",
  "GERROR.PRIQ_ABT_ERR",
  "ats: success",
  "ats: success (no access)",
  "ats: UR",
  "ats: CA",
  "ats: W granted, checked against a transaction",
  "ats translated: passed",
  "ats translated: F_TRANSL_FORBIDDEN",
];

/** A failed run as a report: what broke, how to run it again, and the shrunk case as a scenario. */
export function explain(r: RunResult): string {
  const f = r.failure;
  return f === null ? "" : `${f.message}\n(seed ${f.seed}, path ${f.path})\n${scenarioJson(f.scenario)}`;
}

/** Runs `cases` cases of `seed`: every invariant must hold and every class of {@link MUST_REACH} be reached. */
export function assertBatch(seed: number, cases: number): void {
  const r = runFuzz({ seed, cases });
  assert.equal(r.failure, null, explain(r));
  assert.equal(r.coverage.cases, cases);
  const missed = MUST_REACH.filter((what) => !r.coverage.counts.has(what));
  assert.deepEqual(missed, [], `never reached: ${missed.join(", ")}`);
}

/** A copy of the device and the fuzzer (src/, gen/, mod.ts, tests/fuzz/) with one planted bug; returns its folder. */
export async function mutantCopy(file: string, find: string, replace: string): Promise<string> {
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
