/**
 * What enum values mean: the attributes each value states (an address size in bits, a granule, a permission) and
 * how the encodings no value names behave (reserved: as another value, or with no meaning at all). Checked after the
 * layouts, because an enum's width is that of the fields using it.
 * @module
 */
import type { RawEnum } from "./schema.ts";
import type { Claim, EnumAttribute, EnumDef, Fail, FieldSet, Reserved } from "./spec.ts";

const ENCODING = /^(0x[0-9a-fA-F_]+|0b[01_]+|[0-9_]+)$/;

/** Fills in each enum's width, attributes, value meanings and reserved encodings; claims the tables they emit. */
export function checkMeanings(
  raw: Record<string, RawEnum>,
  enums: EnumDef[],
  fieldsets: readonly FieldSet[],
  fail: Fail,
  claim: Claim,
): void {
  const byName = new Map(enums.map((e) => [e.name, e]));
  const widths = fieldWidths(fieldsets);
  for (const e of enums) {
    const r = raw[e.name];
    const path = ["enums", e.name];
    const used = widths.get(e.name);
    if (used && used.size > 1) {
      fail(path, `fields of different widths use it (${[...used].map(([w, f]) => `${f} is ${w} bits`).join(", ")})`);
    }
    const fieldWidth = used ? [...used.keys()][0] : undefined;
    if (r.width !== undefined && fieldWidth !== undefined && r.width !== fieldWidth) {
      fail([...path, "width"], `width ${r.width}, but field ${used!.get(fieldWidth)} is ${fieldWidth} bits`);
    }
    e.width = r.width ?? fieldWidth;
    if (e.width !== undefined) {
      const big = e.values.find((v) => v.value >= 2 ** e.width!);
      if (big) fail([...path, "values", big.name], `value ${big.value} does not fit in ${e.width} bits`);
    }
    e.attributes = attributes(path, r, byName, fail);
    for (const v of e.values) {
      v.meaning = valueMeaning([...path, "values", v.name], r.values[v.name], e.attributes, byName, fail);
    }
    for (const a of e.attributes.filter((a) => a.unique)) {
      const seen = new Map<number | boolean, string>();
      for (const v of e.values) {
        const m = v.meaning[a.name];
        if (m === undefined) continue;
        const other = seen.get(m);
        if (other) fail([...path, "values", v.name, a.name], `${a.name} ${m} already used by ${other} (unique)`);
        seen.set(m, v.name);
      }
    }
    e.reserved = reserved(path, r, e, fail);
    const tables = e.attributes.flatMap((a) => [attributeTable(e, a), ...(a.unique ? [inverseTable(e, a)] : [])]);
    if (e.reserved.some((x) => x.as !== undefined)) tables.push(effectiveTable(e));
    claim(path, tables);
  }
}

/** Name of the table of attribute `a` by encoding, e.g. IDR5_OAS_BITS. */
export const attributeTable = (e: EnumDef, a: EnumAttribute) => `${e.name}_${a.name.toUpperCase()}`;
/** Name of the inverse table of a unique attribute, e.g. IDR5_OAS_BY_BITS. */
export const inverseTable = (e: EnumDef, a: EnumAttribute) => `${e.name}_BY_${a.name.toUpperCase()}`;
/** Name of the table of what every meaningful encoding behaves as, e.g. STE_CONFIG_EFFECTIVE. */
export const effectiveTable = (e: EnumDef) => `${e.name}_EFFECTIVE`;

/** The width(s) of the fields using each enum, with one field of each width for messages. */
function fieldWidths(fieldsets: readonly FieldSet[]): Map<string, Map<number, string>> {
  const out = new Map<string, Map<number, string>>();
  for (const fs of fieldsets) {
    for (const f of fs.fields) {
      if (f.enumName === undefined) continue;
      const m = out.get(f.enumName) ?? new Map<number, string>();
      if (!m.has(f.width)) m.set(f.width, `${fs.name}.${f.name}`);
      out.set(f.enumName, m);
    }
  }
  return out;
}

function attributes(
  path: (string | number)[],
  r: RawEnum,
  enums: Map<string, EnumDef>,
  fail: Fail,
): EnumAttribute[] {
  return Object.entries(r.attributes ?? {}).map(([name, a]) => {
    const at = [...path, "attributes", name];
    if (name === "value" || name === "description") fail(at, `"${name}" is a key of every value, not an attribute`);
    if (a.type !== "int" && a.type !== "bool" && !enums.has(a.type)) {
      fail([...at, "type"], `unknown enum ${a.type} (type is "int", "bool" or an enum name)`);
    }
    if (a.unique && a.type === "bool") fail([...at, "unique"], "a bool attribute cannot be unique");
    return { name, type: a.type, description: a.description, optional: a.optional ?? false, unique: a.unique ?? false };
  });
}

function valueMeaning(
  path: (string | number)[],
  raw: Record<string, unknown>,
  declared: EnumAttribute[],
  enums: Map<string, EnumDef>,
  fail: Fail,
): Record<string, number | boolean> {
  const meaning: Record<string, number | boolean> = {};
  for (const key of Object.keys(raw)) {
    if (key === "value" || key === "description") continue;
    if (!declared.some((a) => a.name === key)) {
      const known = declared.length ? ` (attributes: ${declared.map((a) => a.name).join(", ")})` : "";
      fail([...path, key], `unknown key "${key}"${known}`);
    }
  }
  for (const a of declared) {
    const v = raw[a.name];
    if (v === undefined) {
      if (!a.optional) fail(path, `missing attribute ${a.name}`);
      continue;
    }
    const at = [...path, a.name];
    if (a.type === "int") {
      if (typeof v !== "number" || !Number.isSafeInteger(v)) fail(at, `${a.name} is an integer, not ${String(v)}`);
      meaning[a.name] = v as number;
    } else if (a.type === "bool") {
      if (typeof v !== "boolean") fail(at, `${a.name} is true or false, not ${String(v)}`);
      meaning[a.name] = v as boolean;
    } else {
      const target = enums.get(a.type)!.values.find((x) => x.name === v);
      if (target === undefined) fail(at, `${a.name} names a value of ${a.type}, and ${String(v)} is not one`);
      meaning[a.name] = target!.value;
    }
  }
  return meaning;
}

function reserved(path: (string | number)[], r: RawEnum, e: EnumDef, fail: Fail): Reserved[] {
  const named = new Set(e.values.map((v) => v.value));
  const seen = new Map<number, string>();
  const out: Reserved[] = [];
  const entries = Object.entries(r.reserved ?? {});
  // "others" takes whatever the values and the other reserved entries leave, so it is resolved last.
  entries.sort(([a], [b]) => (a === "others" ? 1 : 0) - (b === "others" ? 1 : 0));
  for (const [label, x] of entries) {
    const at = [...path, "reserved", label];
    if (x.as !== undefined && !e.values.some((v) => v.name === x.as)) {
      fail([...at, "as"], `${x.as} is not a value of ${e.name}`);
    }
    let encodings: number[];
    if (label === "others") {
      if (e.width === undefined) fail(at, "others needs the enum's width (give width, or use it in a field)");
      encodings = [...Array(2 ** e.width!).keys()].filter((n) => !named.has(n) && !seen.has(n));
    } else {
      if (!ENCODING.test(label)) fail(at, `"${label}" is not an encoding ("0b111", "0x7", "7") or others`);
      const n = Number(BigInt(label.replaceAll("_", ""))); // "0b…", "0x…" or decimal
      if (named.has(n)) fail(at, `encoding ${n} is value ${e.values.find((v) => v.value === n)!.name}, not reserved`);
      if (seen.has(n)) fail(at, `encoding ${n} is already reserved as ${seen.get(n)}`);
      if (e.width !== undefined && n >= 2 ** e.width) fail(at, `encoding ${n} does not fit in ${e.width} bits`);
      encodings = [n];
    }
    for (const n of encodings) seen.set(n, label);
    out.push({ label, encodings, as: x.as, description: x.description });
  }
  return out;
}
