/**
 * Documented deviations: where this model does not follow a recording, and why (the IHI 0070 section that says so).
 * `smmuv3 trace --allow-deviations FILE` accepts exactly these and still fails on any other difference; the vectors
 * test (tests/vectors_test.ts) replays each recorded folder with the list beside it ({@link DEVIATIONS_FILE}). A list
 * (JSON or YAML) has three kinds of entry, all optional:
 *
 * ```json
 * {
 *   "steps": [{ "reason": "IHI 0070 7.3: one transaction, one event record",
 *               "ours": { "s1-4k-4level-basic": { "46": "0x1" } } }],
 *   "records": [{ "field": "PnU", "recorded": "UNPRIVILEGED", "ours": "PRIVILEGED", "reason": "IHI 0070 7.3 …" }],
 *   "stale_translations": { "reason": "IHI 0070 3.21 …" }
 * }
 * ```
 *
 * - `steps`: per-step deviations, grouped by reason: scenario (its `name`, else its file name without extension), step
 *   index, and what this model observes there, in the recordings' terms: "0x…" for a register read, hex bytes (memory
 *   order) for a memory read, `{ "pa": "0x…" }` or `{ "fault": true }` for a DMA. A step is accepted only where this
 *   model observes exactly that, so a deviation that stops happening, or changes, is reported again.
 * - `records`: rules for event records read from the event queue (record_rules.ts), each exact about the fields it
 *   explains and checking that this model's value there is the architecture's.
 * - `stale_translations`: a DMA whose recorded PA differs is accepted where ours is the up-to-date answer, what a device
 *   in the same state with nothing cached gives (IHI 0070 3.21: without an invalidation, an entry may or may not be
 *   cached; after invalidation and CMD_SYNC only the new one may be used).
 * @module
 */
import { z } from "zod";
import { compileRecordRule, explainRecords, type RecordRule, recordRuleSchema } from "./record_rules.ts";
import { InputError } from "./io.ts";
import { parseDataFile, validate } from "./scenario.ts";

/** The name of a recording folder's deviation list, beside its vectors (tests/vectors/qemu-7.2/deviations.json). */
export const DEVIATIONS_FILE = "deviations.json";

/** An observation in the recordings' terms: a register value ("0x…"), memory bytes (hex), or a DMA's outcome. */
export type Observation = string | { pa: string } | { fault: true; event?: boolean };

/** One accepted difference at a listed step: what this model observes instead, and why. */
export interface Deviation {
  ours: Observation;
  reason: string;
}

/** A deviation list, read: the listed steps by scenario name then step index, and the general rules. */
export interface DeviationList {
  steps: Readonly<Record<string, Readonly<Record<string, Deviation>>>>;
  records: readonly RecordRule[];
  /** The reason stale translations are accepted, when the list accepts them. */
  staleTranslations?: string;
}

/** What one scenario may show: its listed steps, and the list's general rules. */
export interface ScenarioDeviations {
  steps: Readonly<Record<string, Deviation>>;
  records: readonly RecordRule[];
  staleTranslations?: string;
}

/** A documented deviation applied to one observation. */
export type Applied =
  | { kind: "step"; reason: string }
  | { kind: "record"; rule: string; reason: string }
  | { kind: "stale"; reason: string };

const hexNumber = z.string().regex(/^0x[0-9a-fA-F]+$/, "not a 0x… number");
const observation = z.union([
  z.string().regex(/^(0x[0-9a-fA-F]+|([0-9a-fA-F]{2})*)$/, "not a 0x… value or hex bytes"),
  z.object({ pa: hexNumber }).strict(),
  z.object({ fault: z.literal(true), event: z.boolean().optional() }).strict(),
]);
const schema = z.object({
  description: z.string().optional(),
  steps: z.array(
    z.object({
      reason: z.string().min(1, "a deviation says why"),
      ours: z.record(z.string(), z.record(z.string().regex(/^\d+$/, "steps are keyed by their index"), observation)),
    }).strict(),
  ).optional(),
  records: z.array(recordRuleSchema).optional(),
  stale_translations: z.object({ reason: z.string().min(1, "a rule says why") }).strict().optional(),
}).strict();

/** Parses a deviation list; problems (a step listed twice, a field the spec does not have…) throw InputError. */
export function parseDeviations(text: string, file: string): DeviationList {
  const raw = validate(schema, parseDataFile(text, file), file);
  const steps: Record<string, Record<string, Deviation>> = {};
  raw.steps?.forEach((group, g) => {
    for (const [scenario, byStep] of Object.entries(group.ours)) {
      const into = steps[scenario] ??= {};
      for (const [step, ours] of Object.entries(byStep)) {
        const key = String(Number(step));
        if (key in into) throw new InputError(`step ${key} is listed twice`, `${file} steps[${g}].ours.${scenario}`);
        into[key] = { ours, reason: group.reason };
      }
    }
  });
  const records = (raw.records ?? []).map((r, i) => compileRecordRule(r, `${file} records[${i}]`));
  return { steps, records, staleTranslations: raw.stale_translations?.reason };
}

/** What `list` documents for the scenario listed under `key`; undefined when nothing in it applies. */
export function deviationsFor(list: DeviationList, key: string): ScenarioDeviations | undefined {
  const steps = list.steps[key];
  if (steps === undefined && list.records.length === 0 && list.staleTranslations === undefined) return undefined;
  return { steps: steps ?? {}, records: list.records, staleTranslations: list.staleTranslations };
}

/** The name a scenario's deviations are listed under: its `name`, else its file name without the extension. */
export function scenarioKey(name: string | undefined, file: string): string {
  return name ?? file.replace(/^.*[\\/]/, "").replace(/\.(json|ya?ml)$/i, "");
}

/** What is known of an observation beyond its value, for the general rules. */
export interface Context {
  /** The observation is whole event records read from the event queue. */
  eventRecords?: boolean;
  /** A DMA's answer on a device in the same state with nothing cached. */
  uncached?: () => Observation;
}

/**
 * The documented deviations that accept `ours` where step `step` recorded something else, or undefined. A step listed
 * in `d` is accepted only as listed; other steps by the general rules.
 */
export function accept(
  d: ScenarioDeviations | undefined,
  step: number,
  ours: Observation,
  recorded: Observation,
  context: Context = {},
): Applied[] | undefined {
  if (d === undefined) return undefined;
  const listed = d.steps[String(step)];
  if (listed !== undefined) return same(listed.ours, ours) ? [{ kind: "step", reason: listed.reason }] : undefined;
  if (context.eventRecords && typeof ours === "string" && typeof recorded === "string") {
    const rules = explainRecords(d.records, ours.toLowerCase(), recorded.toLowerCase());
    return rules?.map((r) => ({ kind: "record", rule: r.name, reason: r.reason }));
  }
  const stale = d.staleTranslations;
  if (stale !== undefined && typeof ours === "object" && "pa" in ours && context.uncached) {
    return same(context.uncached(), ours) ? [{ kind: "stale", reason: stale }] : undefined;
  }
  return undefined;
}

/** Two observations are the same when their JSON is (hex digits compared case-blind). */
export function same(a: Observation, b: Observation): boolean {
  return JSON.stringify(a).toLowerCase() === JSON.stringify(b).toLowerCase();
}
