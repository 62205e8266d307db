/**
 * Event records as people read them: the type's name and its fields by name, enumerated values by their names,
 * addresses joined from their halves. For trace output, the explorer and logs.
 * @module
 */
import { EVENT, EVENTS } from "../../gen/mod.ts";
import { decodeRecord } from "./records.ts";

const hex = (v: number | bigint) => `0x${v.toString(16)}`;

/** An event record's fields, 64-bit halves joined: the value, and as shown (an enumerated value's name, or "0x…"). */
export function eventFields(
  record: Uint32Array,
): { type: string; fields: { name: string; value: number | bigint; shown: string }[] } {
  const layout = EVENTS.get(EVENT.Type.get(record));
  if (layout === undefined) return { type: hex(EVENT.Type.get(record)), fields: [] };
  const fields = decodeRecord(layout, record).fields
    .filter((f) => f.name !== "Type" && !/_(LO|HI)$/.test(f.name))
    .map((f) => ({
      name: f.name,
      value: f.value,
      shown: f.meaning ? f.meaning.replace(/^address /, "") : hex(f.value),
    }));
  return { type: layout.name.replace(/^EVT_/, ""), fields };
}

/** An event record in one line: its type name, then its fields by name: the direction (RnW) always, others if not 0. */
export function eventSummary(record: Uint32Array): string {
  const { type, fields } = eventFields(record);
  const shown = fields.filter((f) => f.name === "RnW" || (f.value !== 0 && f.value !== 0n));
  return [type, ...shown.map((f) => `${f.name}=${f.shown}`)].join(" ");
}
