/**
 * Documented deviations: recorded observations this model does not follow, each with the reason (the IHI 0070 section
 * that says why). `smmuv3 trace --allow-deviations FILE` accepts exactly these and still fails on any other
 * difference. The file (JSON or YAML) is keyed by scenario name (its `name`, else the file name without extension),
 * then by step index:
 *
 * ```json
 * { "s1-4k-4level-basic": { "46": { "ours": "0x1", "reason": "IHI 0070 7.3: one transaction, one event record" } } }
 * ```
 *
 * `ours` is what this model observes there, in the recordings' terms: "0x…" for a register read, hex bytes (memory
 * order) for a memory read, `{ "pa": "0x…" }` or `{ "fault": true }` for a DMA. A step is accepted only where this
 * model observes exactly `ours`, so a deviation that stops happening, or changes, is reported again.
 * @module
 */
import { z } from "zod";
import { parseDataFile, validate } from "./scenario.ts";

/** An observation in the recordings' terms: a register value ("0x…"), memory bytes (hex), or a DMA's outcome. */
export type Observation = string | { pa: string } | { fault: true; event?: boolean };

/** One accepted difference: what this model observes instead, and why. */
export interface Deviation {
  ours: Observation;
  reason: string;
}

/** Deviations by scenario name, then by step index. */
export type Deviations = Record<string, Record<string, Deviation>>;

const hexNumber = z.string().regex(/^0x[0-9a-fA-F]+$/, "not a 0x… number");
const observation = z.union([
  z.string().regex(/^(0x[0-9a-fA-F]+|([0-9a-fA-F]{2})*)$/, "not a 0x… value or hex bytes"),
  z.object({ pa: hexNumber }).strict(),
  z.object({ fault: z.literal(true), event: z.boolean().optional() }).strict(),
]);
const schema = z.record(
  z.string(),
  z.record(
    z.string().regex(/^\d+$/, "steps are keyed by their index"),
    z.object({ ours: observation, reason: z.string().min(1, "a deviation says why") }).strict(),
  ),
);

/** Parses a deviation list; problems throw InputError naming the file and the entry. */
export function parseDeviations(text: string, file: string): Deviations {
  return validate(schema, parseDataFile(text, file), file);
}

/** The name a scenario's deviations are listed under: its `name`, else its file name without the extension. */
export function scenarioKey(name: string | undefined, file: string): string {
  return name ?? file.replace(/^.*[\\/]/, "").replace(/\.(json|ya?ml)$/i, "");
}
