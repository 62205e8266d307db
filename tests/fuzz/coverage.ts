/**
 * What fuzz cases reached, counted by name (outcomes, errors, places written), so that a run shows it went deep;
 * and its structured-clone form for the workers of `deno task fuzz --jobs N`.
 * @module
 */
import type { Failure } from "./run.ts";

/** What the cases reached, so a run can show that it went deep: outcomes, errors and work, counted by name. */
export class Coverage {
  cases = 0;
  steps = 0;
  commands = 0;
  events = 0;
  readonly counts = new Map<string, number>();

  /** Counts one occurrence of `what`. */
  add(what: string): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
  }

  /** Adds another run's counts. */
  merge(o: Coverage): void {
    this.cases += o.cases;
    this.steps += o.steps;
    this.commands += o.commands;
    this.events += o.events;
    for (const [k, v] of o.counts) this.counts.set(k, (this.counts.get(k) ?? 0) + v);
  }
}

/** Coverage as a worker posts it (structured-clone friendly). */
export type CoverageData = Pick<Coverage, "cases" | "steps" | "commands" | "events"> & { counts: [string, number][] };
/** A worker's result. */
export type ResultData = { coverage: CoverageData; failure: Failure | null };
/** A worker's report: progress (coverage so far) or its result. */
export type WorkerMessage = { done: false; coverage: CoverageData } | { done: true; result: ResultData };

export const toData = (c: Coverage): CoverageData => ({
  cases: c.cases,
  steps: c.steps,
  commands: c.commands,
  events: c.events,
  counts: [...c.counts],
});

export function fromData(d: CoverageData): Coverage {
  const c = new Coverage();
  c.cases = d.cases;
  c.steps = d.steps;
  c.commands = d.commands;
  c.events = d.events;
  for (const [k, v] of d.counts) c.counts.set(k, v);
  return c;
}
