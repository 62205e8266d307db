/**
 * Emits `gen/enums.ts`: every enum with its value names, and what its values mean: one table per attribute (by
 * encoding, reserved encodings that behave as a value included), the inverse of each unique attribute, and the
 * effective value of every meaningful encoding where reserved encodings stand for a value.
 * @module
 */
import type { EnumAttribute, EnumDef } from "./spec.ts";
import { attributeTable, effectiveTable, inverseTable } from "./meanings.ts";

const hex = (n: number) => "0x" + n.toString(16);
const doc = (text: string, indent = "") => `${indent}/** ${text.replaceAll("*/", "*\\/")} */\n`;
const str = (s: string) => JSON.stringify(s);
const sentence = (s: string) => (/[.!?]$/.test(s) ? s : `${s}.`);

type Enums = ReadonlyMap<string, EnumDef>;

/** Every enum, in spec order. */
export function emitEnums(enums: readonly EnumDef[]): string {
  const byName: Enums = new Map(enums.map((e) => [e.name, e]));
  return enums.map((e) => emitEnum(e, byName)).join("\n");
}

/** The enum, its names, and its meaning tables. */
function emitEnum(e: EnumDef, enums: Enums): string {
  const label = (l: string) => (l === "others" ? "every other" : l);
  const reserved = e.reserved.map((r) => `${label(r.label)}: ${sentence(r.description)}`).join(" ");
  const head = e.description + (e.ref ? ` (${e.ref})` : "") + (reserved ? ` Reserved encodings: ${reserved}` : "");
  const out = [doc(head) + `export const ${e.name} = {`];
  for (const v of e.values) out.push(doc(v.description, "  ") + `  ${v.name}: ${hex(v.value)},`);
  out.push("} as const;\n");
  out.push(
    doc(`Names of the values of {@link ${e.name}}, by value.`) +
      `export const ${e.name}_NAMES: Readonly<Record<number, string>> = {`,
  );
  for (const v of e.values) out.push(`  ${hex(v.value)}: ${str(v.name)},`);
  out.push("};\n");
  for (const a of e.attributes) {
    out.push(emitAttribute(e, a, enums));
    if (a.unique) out.push(emitInverse(e, a));
  }
  if (e.reserved.some((r) => r.as !== undefined)) out.push(emitEffective(e));
  return out.join("\n");
}

/** Every encoding that means something, with the value it behaves as (itself for a named value), lowest first. */
function meaningful(e: EnumDef): { encoding: number; as: string; reserved: boolean }[] {
  const out = e.values.map((v) => ({ encoding: v.value, as: v.name, reserved: false }));
  for (const r of e.reserved) {
    if (r.as !== undefined) { for (const n of r.encodings) out.push({ encoding: n, as: r.as, reserved: true }); }
  }
  return out.sort((a, b) => a.encoding - b.encoding);
}

/** The record type of a table by encoding: total (every encoding of the width has an entry) or partial. */
function tableType(e: EnumDef, entries: number, valueType: string): string {
  const total = e.width !== undefined && entries === 2 ** e.width;
  return total ? `Readonly<Record<number, ${valueType}>>` : `Readonly<Partial<Record<number, ${valueType}>>>`;
}

function emitAttribute(e: EnumDef, a: EnumAttribute, enums: Enums): string {
  /** For an attribute of enum type, the name of the value it holds. */
  const valueName = (v: number | boolean) => enums.get(a.type)?.values.find((x) => x.value === v)?.name ?? "";
  const byName = new Map(e.values.map((v) => [v.name, v]));
  const rows: string[] = [];
  for (const m of meaningful(e)) {
    const v = byName.get(m.as)!.meaning[a.name];
    if (v === undefined) continue;
    const notes = [m.reserved ? `reserved, behaves as ${m.as}` : "", valueName(v)].filter(Boolean).join("; ");
    rows.push(`  ${hex(m.encoding)}: ${v},${notes ? ` // ${notes}` : ""}`);
  }
  const kind = a.type === "int" || a.type === "bool" ? "" : ` (a {@link ${a.type}} value)`;
  const partial = e.width === undefined || rows.length < 2 ** e.width;
  const text = `By {@link ${e.name}} encoding${kind}: ${sentence(a.description)}` +
    (partial ? " Encodings it does not apply to are absent." : "");
  const type = tableType(e, rows.length, a.type === "bool" ? "boolean" : "number");
  return doc(text) + `export const ${attributeTable(e, a)}: ${type} = {\n${rows.join("\n")}\n};\n`;
}

function emitInverse(e: EnumDef, a: EnumAttribute): string {
  const rows = e.values.filter((v) => v.meaning[a.name] !== undefined)
    .sort((x, y) => (x.meaning[a.name] as number) - (y.meaning[a.name] as number))
    .map((v) => `  ${v.meaning[a.name]}: ${hex(v.value)}, // ${v.name}`);
  const text = `The {@link ${e.name}} value whose ${a.name} is the key (the inverse of {@link ${
    attributeTable(e, a)
  }}).`;
  return doc(text) + `export const ${inverseTable(e, a)}: Readonly<Partial<Record<number, number>>> = {\n` +
    `${rows.join("\n")}\n};\n`;
}

function emitEffective(e: EnumDef): string {
  const rows = meaningful(e).map((m) =>
    `  ${hex(m.encoding)}: ${hex(e.values.find((v) => v.name === m.as)!.value)},${
      m.reserved ? ` // reserved, behaves as ${m.as}` : ""
    }`
  );
  const partial = e.width === undefined || rows.length < 2 ** e.width;
  const text = `The value each {@link ${e.name}} encoding behaves as: a named value as itself, a reserved one as the ` +
    `value it stands for${partial ? "; encodings without a meaning are absent" : ""}.`;
  return doc(text) + `export const ${effectiveTable(e)}: ${tableType(e, rows.length, "number")} = {\n` +
    `${rows.join("\n")}\n};\n`;
}
