/**
 * Output of `smmuv3 decode`: aligned text for people, JSON for programs.
 * @module
 */
import type { DecodedField, DecodedRecord } from "./decode.ts";

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
    `  ${r.words.length === 1 ? "word" : "64-bit words"}: ${dwords.join(" ")}`,
    ...rows.map((row) => "  " + row.map((cell, c) => c < 4 ? cell.padEnd(widths[c]) : cell).join("  ")),
    r.reservedSet.length ? `  reserved bits set: ${r.reservedSet.join(", ")}` : "  reserved bits: clear",
    ...r.notes.map((n) => `  note: ${n}`),
  ];
  return lines.join("\n");
}

/** The records as JSON: values that fit a double exactly are numbers, wider ones hex strings; `hex` always. */
export function formatJson(records: readonly DecodedRecord[]): string {
  const out = records.map((r) => ({
    layout: r.layout,
    description: r.description,
    source: r.source,
    words: r.words.map(hex32),
    fields: r.fields.map((f) => ({
      name: f.name,
      bits: bits(f),
      lsb: f.lsb,
      msb: f.msb,
      value: typeof f.value === "bigint" && f.value > BigInt(Number.MAX_SAFE_INTEGER) ? hex(f.value) : Number(f.value),
      hex: hex(f.value),
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
