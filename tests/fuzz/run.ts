/**
 * A fuzzing run: batches of generated cases (tests/fuzz/program.ts), each compiled to a scenario and checked by the
 * oracle (tests/fuzz/check.ts), until a case count or a time limit. Batch k of a run with seed s and stride t uses
 * seed s + k·t, so parallel jobs (stride = jobs) never repeat each other and any case can be regenerated from its
 * batch seed and fast-check's path. A failing case is shrunk by fast-check before it is reported.
 * @module
 */
import fc from "fast-check";
import { checkScenario } from "./check.ts";
import { Coverage } from "./coverage.ts";
import { compile } from "./compile.ts";
import { fuzzCase } from "./arbitraries.ts";
import type { FuzzCase } from "./program.ts";
import type { Scenario } from "../../src/scenario/scenario.ts";

/** What to run. */
export interface RunOptions {
  /** Seed of the first batch. */
  seed: number;
  /** Seed step between batches (the number of parallel jobs). */
  stride?: number;
  /** Stop after this many cases (default: no limit). */
  cases?: number;
  /** Stop after this many milliseconds (default: no limit). */
  timeMs?: number;
  /** Most actions per case. */
  actions?: number;
  /** Cases per batch. */
  batch?: number;
  /** Called after each batch. */
  progress?: (coverage: Coverage) => void;
}

/** A shrunk failing case. */
export interface Failure {
  /** Seed of its batch and fast-check's path to it: `deno task fuzz --seed S --path P` runs it again. */
  seed: number;
  path: string;
  /** What broke. */
  message: string;
  /** The case, as generated, and as the scenario `trace` replays. */
  counterexample: FuzzCase;
  scenario: Scenario;
}

/** How a run ended. */
export interface RunResult {
  coverage: Coverage;
  failure: Failure | null;
}

export const DEFAULT_ACTIONS = 48;
const DEFAULT_BATCH = 250;

/** The property: every generated case compiles to a scenario that keeps every invariant. */
export function fuzzProperty(actions: number, coverage: Coverage): fc.IPropertyWithHooks<[FuzzCase]> {
  return fc.property(fuzzCase(actions), (c) => checkScenario(compile(c), coverage));
}

/** Runs batches until `cases` or `timeMs`, or the first failure. */
export function runFuzz(o: RunOptions): RunResult {
  const coverage = new Coverage();
  const stride = o.stride ?? 1;
  const batch = o.batch ?? DEFAULT_BATCH;
  const start = performance.now();
  const actions = o.actions ?? DEFAULT_ACTIONS;
  for (let k = 0;; k++) {
    const left = (o.cases ?? Infinity) - coverage.cases;
    if (left <= 0 || performance.now() - start >= (o.timeMs ?? Infinity)) break;
    const seed = (o.seed + k * stride) | 0;
    // Shrinking re-runs the property: count coverage of the original cases only.
    const counted = new Coverage();
    const details = fc.check(fuzzProperty(actions, counted), { seed, numRuns: Math.min(batch, left) });
    if (details.failed) {
      coverage.merge(counted);
      const counterexample = details.counterexample![0];
      return {
        coverage,
        failure: {
          seed,
          path: details.counterexamplePath ?? "",
          message: errorMessage(details.errorInstance),
          counterexample,
          scenario: compile(counterexample),
        },
      };
    }
    coverage.merge(counted);
    o.progress?.(coverage);
  }
  return { coverage, failure: null };
}

/** Runs the one case at `path` of the batch with `seed` (a reproduction), shrinking it again if it fails. */
export function replayCase(seed: number, path: string, actions = DEFAULT_ACTIONS): RunResult {
  const coverage = new Coverage();
  const details = fc.check(fuzzProperty(actions, coverage), { seed, path, numRuns: 1 });
  if (!details.failed) return { coverage, failure: null };
  const counterexample = details.counterexample![0];
  return {
    coverage,
    failure: {
      seed,
      path: details.counterexamplePath ?? path,
      message: errorMessage(details.errorInstance),
      counterexample,
      scenario: compile(counterexample),
    },
  };
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
