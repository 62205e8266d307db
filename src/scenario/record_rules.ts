/**
 * Event-record rules of a deviation list (deviations.ts): a recorded implementation may leave a field of its event
 * records at a value the architecture does not give (QEMU never fills PnU, for one). A rule says so once, for every
 * record, in terms of the generated spec: the field, the event types and conditions it applies to, what the
 * recording has there, what the architecture requires this model's record to hold, and why:
 *
 * ```json
 * { "field": "CLASS", "events": ["F_TRANSLATION"], "when": { "S2": "STAGE_1" },
 *   "recorded": "CD", "ours": "IN", "reason": "IHI 0070 7.3.13: …" }
 * ```
 *
 * `field` is a field of those events' layouts, or `NAME[hi:lo]` for address bits an address field does not hold, which
 * the record leaves RES0 (`IPA[11:0]`: the bits below IPA[51:12]); `ours` must then be 0. Values are numbers or the
 * field's enumerated names; `recorded` may be "any". Without `events`, the rule applies to every event type whose
 * layout has the fields it names. A rule accepts a difference in exactly its field's bits, and only where this
 * model's record holds `ours` there, the recording `recorded`, and `when` holds of this model's record.
 * @module
 */
import { EVENT, EVENT_LAYOUT, EVENT_TYPE, EVENTS, type Field, type Layout } from "../../gen/mod.ts";
import { z } from "zod";
import { InputError } from "../core/errors.ts";

const value = z.union([z.number().int().nonnegative(), z.string().min(1)]);

/** A rule as written in a deviation list. */
export const recordRuleSchema = z.object({
  /** How the trace names it (default: `field`). */
  name: z.string().min(1).optional(),
  field: z.string().regex(/^\w+(\[\d+:\d+\])?$/, "a field name, or NAME[hi:lo] for address bits"),
  events: z.array(z.string()).min(1).optional(),
  when: z.record(z.string(), value).optional(),
  recorded: value,
  ours: value,
  reason: z.string().min(1, "a rule says why"),
}).strict();

/** A rule as written. */
export type RecordRuleInput = z.infer<typeof recordRuleSchema>;

/** Bits of a record: `width` bits from record bit `lsb`. */
interface Bits {
  lsb: number;
  width: number;
}

/** The rule for one event type. */
interface ForType {
  bits: Bits;
  /** The bits as one mask per word. */
  mask: Uint32Array;
  when: { bits: Bits; value: number }[];
  /** undefined: any. */
  recorded: number | undefined;
  ours: number;
}

/** A rule, resolved against the spec's event layouts. */
export interface RecordRule {
  readonly name: string;
  readonly reason: string;
  readonly input: RecordRuleInput;
  /** By event type code. */
  readonly types: ReadonlyMap<number, ForType>;
}

const TYPE_NAMES = Object.keys(EVENT_TYPE) as (keyof typeof EVENT_TYPE)[];

/** Resolves a rule; a name, value or bit range the spec does not have throws {@link InputError} at `where`. */
export function compileRecordRule(rule: RecordRuleInput, where: string): RecordRule {
  const [, fieldName, hi, lo] = /^(\w+)(?:\[(\d+):(\d+)\])?$/.exec(rule.field)!;
  const names = [fieldName, ...Object.keys(rule.when ?? {})];
  let layouts: Layout[];
  if (rule.events) {
    layouts = rule.events.map((e, i) => {
      const code = (EVENT_TYPE as Record<string, number>)[e];
      if (code === undefined) {
        throw new InputError(`no event type ${e} (one of ${TYPE_NAMES.join(", ")})`, `${where}.events[${i}]`);
      }
      return EVENTS.get(code)!;
    });
  } else {
    layouts = [...EVENTS.values()].filter((l) => names.every((n) => l.fields.some((f) => f.name === n)));
    if (layouts.length === 0) throw new InputError(`no event type has the fields ${names.join(", ")}`, where);
  }
  const types = new Map<number, ForType>();
  for (const layout of layouts) {
    const fieldOf = (name: string, at: string) => {
      const f = layout.fields.find((f) => f.name === name);
      if (f === undefined) throw new InputError(`${layout.name} has no field ${name}`, at);
      return f;
    };
    const field = fieldOf(fieldName, `${where}.field`);
    let bits: Bits = { lsb: field.lsb, width: field.width };
    if (hi !== undefined) bits = belowField(field, Number(hi), Number(lo), layout, `${where}.field`);
    const when = Object.entries(rule.when ?? {}).map(([name, v]) => {
      const f = fieldOf(name, `${where}.when.${name}`);
      const at = { lsb: f.lsb, width: f.width };
      return { bits: at, value: valueOf(v, f, at, `${where}.when.${name}`) };
    });
    const enumField = hi === undefined ? field : undefined;
    const recorded = rule.recorded === "any" ? undefined : valueOf(rule.recorded, enumField, bits, `${where}.recorded`);
    const ours = valueOf(rule.ours, enumField, bits, `${where}.ours`);
    if (hi !== undefined && ours !== 0) {
      throw new InputError(`${rule.field} is RES0 in ${layout.name}: ours must be 0`, `${where}.ours`);
    }
    types.set(layout.code!, { bits, mask: maskOf(bits), when, recorded, ours });
  }
  return { name: rule.name ?? rule.field, reason: rule.reason, input: rule, types };
}

/** Address bits [hi:lo] of an address field that holds the address from bit `shift` up: the record bits below it. */
function belowField(f: Field, hi: number, lo: number, layout: Layout, where: string): Bits {
  const shift = f.shift ?? 0;
  if (lo > hi || hi >= shift) {
    throw new InputError(
      `${f.name} holds address bits [${f.width + shift - 1}:${shift}]: name bits below ${shift}, or the field`,
      where,
    );
  }
  const bits = { lsb: f.lsb - shift + lo, width: hi - lo + 1 };
  const mask = maskOf(bits);
  if (mask.some((m, i) => (m & ~(layout.reserved[i] ?? 0)) !== 0)) {
    throw new InputError(`${f.name}[${hi}:${lo}] are not reserved bits of ${layout.name}`, where);
  }
  return bits;
}

/** A value of a rule: a number that fits, or a name of the field's enumeration. */
function valueOf(v: number | string, f: Field | undefined, bits: Bits, where: string): number {
  if (typeof v === "number") {
    if (v >= 2 ** bits.width) throw new InputError(`${v} does not fit in ${bits.width} bits`, where);
    return v;
  }
  const names = Object.entries(f?.enumValues ?? {});
  const hit = names.find(([, name]) => name === v);
  if (hit === undefined) {
    const valid = names.length ? `one of ${names.map(([, n]) => n).join(", ")}, or a number` : "a number";
    throw new InputError(`${JSON.stringify(v)} is not a value of ${f?.name ?? "these bits"} (${valid})`, where);
  }
  return Number(hit[0]);
}

function maskOf(b: Bits): Uint32Array {
  const m = new Uint32Array(EVENT_LAYOUT.words);
  for (let i = b.lsb; i < b.lsb + b.width; i++) m[i >>> 5] |= 1 << (i & 31);
  return m;
}

/** The value of bits `b` of a record (at most 53 bits). */
function read(w: Uint32Array, b: Bits): number {
  let v = 0;
  for (let i = b.lsb + b.width - 1; i >= b.lsb; i--) v = v * 2 + ((w[i >>> 5] >>> (i & 31)) & 1);
  return v;
}

/**
 * The rules that explain every bit in which our event records (`ours`, whole records, hex in memory order) differ
 * from the recorded ones, or null when a difference is left unexplained (or nothing differs).
 */
export function explainRecords(rules: readonly RecordRule[], ours: string, recorded: string): RecordRule[] | null {
  const bytes = EVENT_LAYOUT.bytes;
  if (rules.length === 0 || ours.length !== recorded.length || ours.length % (2 * bytes) !== 0) return null;
  const used = new Set<RecordRule>();
  for (let at = 0; at < ours.length; at += 2 * bytes) {
    const mine = words(ours.slice(at, at + 2 * bytes)), theirs = words(recorded.slice(at, at + 2 * bytes));
    const diff = mine.map((x, i) => x ^ theirs[i]);
    if (diff.every((x) => x === 0)) continue;
    const type = EVENT.Type.get(mine);
    for (const rule of rules) {
      const r = rule.types.get(type);
      if (r === undefined || !r.when.every((c) => read(mine, c.bits) === c.value)) continue;
      if (read(mine, r.bits) !== r.ours || (r.recorded !== undefined && read(theirs, r.bits) !== r.recorded)) continue;
      if (!r.mask.some((m, i) => (m & diff[i]) !== 0)) continue;
      used.add(rule);
      for (let i = 0; i < diff.length; i++) diff[i] &= ~r.mask[i];
    }
    if (diff.some((x) => x !== 0)) return null;
  }
  return used.size > 0 ? [...used] : null;
}

/** A record's words from hex bytes in memory order (little-endian words). */
function words(hex: string): Uint32Array {
  const out = new Uint32Array(hex.length / 8);
  for (let i = 0; i < out.length; i++) {
    const le = hex.slice(8 * i, 8 * i + 8).match(/../g)!.reverse().join("");
    out[i] = parseInt(le, 16);
  }
  return out;
}
