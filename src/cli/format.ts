/**
 * Output of `smmuv3 decode`: aligned text for people, JSON for programs.
 * @module
 */
import type { DecodedField, DecodedRecord, LogOrigin } from "./decode.ts";

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;
const bits = (f: DecodedField): string => f.lsb === f.msb ? `[${f.lsb}]` : `[${f.msb}:${f.lsb}]`;

/** One line per field (name, bits, value, meaning, description), then reserved bits and notes; records in order. */
export function formatText(records: readonly DecodedRecord[]): string {
  return records.map(formatRecord).join("\n\n") + "\n";
}

function formatRecord(r: DecodedRecord): string {
  const dwords: string[] = [];
  for (let i = 0; i < r.words.length; i += 2) {
    const hi = r.words[i + 1] ?? 0;
    dwords.push(r.words.length === 1 ? hex32(r.words[0]) : `0x${pad32(hi)}${pad32(r.words[i])}`);
  }
  const rows = r.fields.map((f) => [f.name, bits(f), hex(f.value), f.meaning || "-", f.description]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((row) => row[c].length)));
  const lines = [
    `${r.layout} (${r.source}): ${r.description}`,
    ...(r.log ? [`  logged: ${logged(r.log)}`] : []),
    `  ${r.words.length === 1 ? "word" : "64-bit words"}: ${dwords.join(" ")}`,
    ...rows.map((row) => "  " + row.map((cell, c) => c < 4 ? cell.padEnd(widths[c]) : cell).join("  ")),
    r.reservedSet.length ? `  reserved bits set: ${r.reservedSet.join(", ")}` : "  reserved bits: clear",
    ...r.notes.map((n) => `  note: ${n}`),
  ];
  return lines.join("\n");
}

/** Where a log printed a record, in one line: time, SMMU, client, and the line that explains it. */
function logged(l: LogOrigin): string {
  const parts = [
    l.time,
    l.device && (l.driver ? `${l.driver} ${l.device}` : l.device),
    l.client && `client ${l.client}`,
    l.context && `after "${l.context}"`,
  ];
  return parts.filter((p) => p).join(", ") || `line ${l.line}`;
}

/**
 * The records as JSON. Every field value is a "0x…" string (numbers only count things: bit positions), so a value
 * keeps its type however wide it is; `meaning` names an enumerated value or spells out an address.
 */
export function formatJson(records: readonly DecodedRecord[]): string {
  const out = records.map((r) => ({
    layout: r.layout,
    description: r.description,
    source: r.source,
    ...(r.log ? { log: r.log } : {}),
    words: r.words.map(hex32),
    fields: r.fields.map((f) => ({
      name: f.name,
      bits: bits(f),
      lsb: f.lsb,
      msb: f.msb,
      value: hex(f.value),
      meaning: f.meaning,
      description: f.description,
    })),
    reservedSet: r.reservedSet,
    notes: r.notes,
  }));
  return JSON.stringify(out, null, 2) + "\n";
}

function pad32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, "0");
}

function hex32(v: number): string {
  return `0x${pad32(v)}`;
}
