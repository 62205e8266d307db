/**
 * Loads and validates `registers.yaml` into a checked model the emitters can trust.
 *
 * Validation happens in two passes: zod checks the shape (schema.ts: keys, types, required descriptions), then the
 * semantic checks here and in meanings.ts catch what a schema cannot (overlaps, widths, values that do not fit,
 * duplicates, what values mean). Every error names the file, the line and column of the offending entry, and its path.
 * @module
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { Document, Node, Pair } from "yaml";
import { checkMeanings } from "./meanings.ts";
import { type RawField, type RawSpec, specSchema } from "./schema.ts";

/** The register frame: pages 0 and 1, 64 KiB each (IHI 0070 6.1). */
export const FRAME_BYTES = 0x20000;

/** A problem in the spec, located at `file:line:column` and naming the entry. */
export class SpecError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly entry: string,
    readonly problem: string,
  ) {
    super(`${file}:${line}:${column}: ${entry}: ${problem}`);
    this.name = "SpecError";
  }
}

// ---------------------------------------------------------------- model

/** One enumerated value. */
export interface EnumValue {
  name: string;
  value: number;
  description: string;
  /** What the value means, by attribute name (an attribute of enum type holds that enum's value). */
  meaning: Record<string, number | boolean>;
}

/** A fact every value of an enum states (meanings.ts). */
export interface EnumAttribute {
  name: string;
  /** "int", "bool", or the name of the enum whose value it holds. */
  type: string;
  description: string;
  /** Values may leave it out. */
  optional: boolean;
  /** No two values share it: the generator emits the inverse table too. */
  unique: boolean;
}

/** Encodings no value names, and how they behave. */
export interface Reserved {
  /** The key as written: an encoding ("0b111") or "others". */
  label: string;
  encodings: number[];
  /** Name of the value they behave as; absent when they have no meaning (ILLEGAL, or never advertised). */
  as?: string;
  description: string;
}

/** A named set of values for a field. */
export interface EnumDef {
  name: string;
  description: string;
  ref?: string;
  /** Width of the encoding in bits: given, or that of the fields using the enum. */
  width?: number;
  attributes: EnumAttribute[];
  values: EnumValue[];
  reserved: Reserved[];
}

/** One field of a layout: bits [msb:lsb], absolute within its container. */
export interface Field {
  name: string;
  lsb: number;
  width: number;
  description: string;
  enumName?: string;
  shift?: number;
  /** The address is two's complement: its top bit repeats upwards (a VA whose top bit selects the TTB1 range). */
  signed?: boolean;
  /** Largest value the architecture permits. */
  max?: number;
  access?: "RO" | "RW";
}

/** What a layout is: a plain structure, a register's value, a command record or an event record. */
export type FieldSetKind = "fieldset" | "register" | "command" | "event";

/** A layout over `bits` bits, read and written as little-endian 32-bit words. */
export interface FieldSet {
  name: string;
  kind: FieldSetKind;
  description: string;
  ref?: string;
  bits: number;
  fields: Field[];
  /** The command opcode or event type code. */
  code?: number;
  /** Name of the fieldset whose fields this one inherits (its own come after). */
  extends?: string;
}

/** A register of the MMIO frame. */
export interface Register {
  name: string;
  offset: number;
  width: 32 | 64;
  access: "RO" | "RW" | "RAZ/WI";
  reset: bigint;
  state: "saved" | "id" | "derived" | "none";
  proto?: number;
  description: string;
  ref?: string;
  /** Name of the fieldset that lays out its value. */
  layout: string;
}

/** Saved state that is no register's: a repeated record laid out by a fieldset. */
export interface SavedRecord {
  name: string;
  proto: number;
  /** Name of the plain fieldset that lays out each record. */
  layout: string;
  description: string;
  ref?: string;
}

/** The whole validated spec. */
export interface Spec {
  name: string;
  spec: string;
  schemaVersion: number;
  enums: EnumDef[];
  fieldsets: FieldSet[];
  registers: Register[];
  /** Saved records beside the registers, by proto number. */
  saved: SavedRecord[];
  source: string;
}

// ---------------------------------------------------------------- loading

/** Reads, parses and validates the spec at `path`; throws {@link SpecError} on the first problem. */
export function loadSpec(path: string, text = Deno.readTextFileSync(path)): Spec {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, uniqueKeys: true, prettyErrors: false });
  const posOf = (offset: number) => lineCounter.linePos(offset);
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const { line, col } = posOf(e.pos[0]);
    const entry = entryAt(doc.contents, e.pos[0]);
    throw new SpecError(path, line, col, entry.length ? entry.join(".") : "(document)", e.message.split("\n")[0]);
  }
  const fail = (entryPath: (string | number)[], problem: string): never => {
    const { line, col } = posOf(locate(doc, entryPath));
    throw new SpecError(path, line, col, entryPath.join("."), problem);
  };

  const parsed = specSchema.safeParse(doc.toJS({ maxAliasCount: 1000 }));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = [...issue.path];
    if (issue.code === "unrecognized_keys") at.push(issue.keys[0]);
    const problem = issue.code === "unrecognized_keys" ? `unknown key "${issue.keys[0]}"` : issue.message;
    const missing = issue.code === "invalid_type" && issue.received === "undefined";
    return fail(at, missing ? `missing ${String(at[at.length - 1])}` : problem);
  }
  return check(parsed.data, path, fail);
}

/** A map key as text; the merge key `<<` is a symbol in the parsed document. */
const keyOf = (p: Pair) => {
  const v = isScalar(p.key) ? p.key.value : undefined;
  return typeof v === "symbol" ? v.description : v === undefined ? undefined : String(v);
};

/**
 * Offset in the text of the key at `path` (or of the deepest node found on the way). A key that only exists
 * through a merge (`<<: *anchor`) is located at the merge key of the entry that pulls it in.
 */
function locate(doc: Document, path: (string | number)[]): number {
  let node = doc.contents as Node | null;
  let best = node?.range?.[0] ?? 0;
  const has = (map: unknown, key: string) => isMap(map) && map.items.some((p: Pair) => keyOf(p) === key);
  for (const key of path) {
    if (!isMap(node)) break;
    const pair = node.items.find((p: Pair) => keyOf(p) === String(key));
    if (!pair || !isPair(pair)) {
      const merge = node.items.find((p: Pair) =>
        keyOf(p) === "<<" && isAlias(p.value) && has(p.value.resolve(doc), String(key))
      );
      if (merge) best = (merge.key as Node).range?.[0] ?? best;
      break;
    }
    best = (pair.key as Node).range?.[0] ?? best;
    node = pair.value as Node;
  }
  return best;
}

/** Path of map keys leading to the innermost node at text offset `at` (for YAML errors such as duplicate keys). */
function entryAt(root: unknown, at: number): string[] {
  const path: string[] = [];
  let node = root as Node | null;
  const inside = (n: unknown) => {
    const r = (n as { range?: [number, number, number] } | null)?.range;
    return r !== undefined && r[0] <= at && at < r[2];
  };
  while (isMap(node) || isSeq(node)) {
    const items = node.items as unknown[];
    const pair = isMap(node)
      ? node.items.find((p: Pair) => inside(p.key) || inside(p.value))
      : items.find((item) => inside(item));
    if (!pair) break;
    if (isMap(node)) {
      const p = pair as Pair;
      path.push(keyOf(p) ?? "?");
      if (inside(p.key)) break;
      node = p.value as Node;
    } else {
      path.push(String(items.indexOf(pair)));
      node = pair as Node;
    }
  }
  return path;
}

/** Reports a problem at an entry of the spec (never returns). */
export type Fail = (path: (string | number)[], problem: string) => never;
/** Claims generated names for the entry at `path`; a name claimed twice is an error. */
export type Claim = (path: (string | number)[], names: string[]) => void;

/** An integer written as a number, "0x…", "0b…" or decimal text. */
function toBigInt(v: number | string): bigint {
  return typeof v === "number" ? BigInt(v) : BigInt(v.replaceAll("_", "")); // "0x…" and "0b…" included
}

function parseBits(bits: number | string): { lsb: number; width: number } {
  if (typeof bits === "number") return { lsb: bits, width: 1 };
  const [hi, lo] = bits.split(":").map(Number);
  return lo === undefined ? { lsb: hi, width: 1 } : { lsb: lo, width: hi - lo + 1 };
}

/** What a layout is written as: its section's entry, with the container size and code filled in. */
interface RawLayout {
  description: string;
  ref?: string;
  bits: number;
  extends?: string;
  fields?: Record<string, RawField>;
  code?: number;
}

function check(raw: RawSpec, source: string, fail: Fail): Spec {
  const enums: EnumDef[] = Object.entries(raw.enums).map(([name, e]) => {
    const seen = new Map<number, string>();
    const values = Object.entries(e.values).map(([vname, v]) => {
      const value = Number(toBigInt(v.value));
      const dup = seen.get(value);
      if (dup) fail(["enums", name, "values", vname], `value ${value} already used by ${dup}`);
      seen.set(value, vname);
      return { name: vname, value, description: v.description, meaning: {} };
    });
    return { name, description: e.description, ref: e.ref, attributes: [], values, reserved: [] };
  });
  const enumByName = new Map(enums.map((e) => [e.name, e]));

  const fieldsets: FieldSet[] = [];
  // Every exported name of gen/ is claimed once: layouts export NAME and NAME_LAYOUT, enums NAME and NAME_NAMES.
  const names = new Map<string, string>(GENERATED_NAMES.map((n) => [n, "a name the generator uses itself"]));
  const claim: Claim = (path, claimed) => {
    for (const n of claimed) {
      const other = names.get(n);
      if (other) fail(path, `duplicate name ${n} (also ${other})`);
    }
    for (const n of claimed) names.set(n, path.join("."));
  };
  for (const e of enums) claim(["enums", e.name], [e.name, `${e.name}_NAMES`]);

  const built = new Map<string, FieldSet>();
  const building = new Set<string>();
  const layout = (path: (string | number)[], name: string, kind: FieldSetKind, info: RawLayout): FieldSet => {
    // A plain fieldset that extends none also gives its size (NAME_BYTES): a structure, or a record family's root.
    const sized = kind === "fieldset" && info.extends === undefined;
    claim(path, sized ? [name, `${name}_LAYOUT`, `${name}_BYTES`] : [name, `${name}_LAYOUT`]);
    const inherited = info.extends === undefined ? [] : baseOf([...path, "extends"], info.extends, info.bits).fields;
    const own = Object.entries(info.fields ?? {}).map(([fname, f]) =>
      checkField([...path, "fields", fname], fname, f, info.bits, enumByName, fail)
    );
    if (info.extends === undefined && info.fields === undefined) fail(path, "missing fields (or extends)");
    for (const f of own) {
      if (inherited.some((b) => b.name === f.name)) {
        fail([...path, "fields", f.name], `field ${f.name} is already inherited from ${info.extends}`);
      }
    }
    // An extending layout lists its fields in bit order, its own among the inherited ones.
    const fields = info.extends === undefined ? own : [...inherited, ...own].sort((a, b) => a.lsb - b.lsb);
    const sorted = [...fields].sort((a, b) => a.lsb - b.lsb);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1], cur = sorted[i];
      if (cur.lsb < prev.lsb + prev.width) {
        const mine = own.includes(cur) ? cur : prev;
        fail([...path, "fields", mine.name], `overlaps field ${(mine === cur ? prev : cur).name}`);
      }
    }
    if (kind !== "register" && fields.some((f) => f.access)) {
      fail([...path, "fields", fields.find((f) => f.access)!.name], "access applies to register fields only");
    }
    const fs: FieldSet = { name, kind, description: info.description, ref: info.ref, bits: info.bits, fields };
    if (info.code !== undefined) fs.code = info.code;
    if (info.extends !== undefined) fs.extends = info.extends;
    fieldsets.push(fs);
    built.set(name, fs);
    return fs;
  };
  /** The fieldset `base` (built first if it comes later in the file), which must be `bits` wide. */
  const baseOf = (path: (string | number)[], base: string, bits: number): FieldSet => {
    const rawBase = raw.fieldsets[base];
    if (rawBase === undefined) return fail(path, `unknown fieldset ${base} (extends names an entry of fieldsets)`);
    if (building.has(base)) return fail(path, `extends ${base}, which extends it back`);
    const fs = built.get(base) ?? buildFieldset(base);
    if (fs.bits !== bits) fail(path, `extends ${base}, a ${fs.bits}-bit fieldset, but is ${bits} bits`);
    return fs;
  };
  const buildFieldset = (name: string): FieldSet => {
    building.add(name);
    const fs = layout(["fieldsets", name], name, "fieldset", raw.fieldsets[name]);
    building.delete(name);
    return fs;
  };
  for (const name of Object.keys(raw.fieldsets)) if (!built.has(name)) buildFieldset(name);

  const registers: Register[] = [];
  const offsets = new Map<number, string>();
  const protos = new Map<number, string>();
  for (const [name, r] of Object.entries(raw.registers)) {
    const path = ["registers", name];
    const offset = Number(toBigInt(r.offset));
    if (offset % (r.width / 8) !== 0) fail([...path, "offset"], `offset 0x${offset.toString(16)} is not aligned`);
    if (offset + r.width / 8 > FRAME_BYTES) fail([...path, "offset"], "offset is outside the 128 KiB frame");
    for (let b = offset; b < offset + r.width / 8; b += 4) {
      const other = offsets.get(b);
      if (other) fail([...path, "offset"], `offset 0x${b.toString(16)} already used by ${other}`);
      offsets.set(b, name);
    }
    if (r.fields && r.fieldset) fail(path, "give either fields or fieldset, not both");
    let layoutName: string;
    if (r.fields) {
      layout(path, name, "register", { description: r.description, ref: r.ref, bits: r.width, fields: r.fields });
      layoutName = name;
    } else if (r.fieldset) {
      claim(path, [name]); // exported as an alias of the shared layout
      layoutName = r.fieldset;
    } else {
      return fail(path, "missing fields (or fieldset)");
    }
    const reset = toBigInt(r.reset);
    if (reset >= 1n << BigInt(r.width)) fail([...path, "reset"], `reset value does not fit in ${r.width} bits`);
    if (r.state === "saved" && r.proto === undefined) fail(path, "missing proto (saved registers need one)");
    if (r.state === "saved" && r.proto! < 3) fail([...path, "proto"], "proto numbers 1 and 2 are the header's");
    if (r.state !== "saved" && r.state !== "id" && r.proto !== undefined) {
      fail([...path, "proto"], `a ${r.state} register is not in the saved state and takes no proto number`);
    }
    if (r.proto !== undefined) {
      const key = r.state === "id" ? r.proto + 1e9 : r.proto; // id registers number their own message
      const other = protos.get(key);
      if (other) fail([...path, "proto"], `proto number ${r.proto} already used by ${other}`);
      protos.set(key, name);
    }
    registers.push({
      name,
      offset,
      width: r.width,
      access: r.access,
      reset,
      state: r.state,
      proto: r.proto,
      description: r.description,
      ref: r.ref,
      layout: layoutName,
    });
  }
  for (const [name, c] of Object.entries(raw.commands)) {
    layout(["commands", name], name, "command", { ...c, bits: COMMAND_BITS, code: c.opcode });
  }
  for (const [name, e] of Object.entries(raw.events)) {
    layout(["events", name], `EVT_${name}`, "event", { ...e, bits: EVENT_BITS, code: e.type });
  }
  for (const kind of ["command", "event"] as const) {
    const codes = new Map<number, string>();
    for (const fs of fieldsets.filter((f) => f.kind === kind)) {
      const other = codes.get(fs.code!);
      const path = [kind === "command" ? "commands" : "events", fs.name.replace(/^EVT_/, "")];
      if (other) fail(path, `code 0x${fs.code!.toString(16)} already used by ${other}`);
      codes.set(fs.code!, fs.name);
    }
  }
  // A fieldset that commands or events extend names their codes (BASE_CODES).
  for (const base of fieldsets.filter((f) => f.kind === "fieldset")) {
    if (familyOf(base, fieldsets) !== undefined) claim(["fieldsets", base.name], [`${base.name}_CODES`]);
  }

  // Register layouts: shared ones must exist and match the register's width; reset must respect the fields.
  const byName = new Map(fieldsets.map((f) => [f.name, f]));
  for (const r of registers) {
    const path = ["registers", r.name];
    const fs = byName.get(r.layout);
    if (!fs) fail([...path, "fieldset"], `unknown fieldset ${r.layout}`);
    if (fs!.bits !== r.width) fail([...path, "fieldset"], `fieldset ${r.layout} is ${fs!.bits} bits, not ${r.width}`);
    let covered = 0n;
    for (const f of fs!.fields) covered |= ((1n << BigInt(f.width)) - 1n) << BigInt(f.lsb);
    const stray = r.reset & ~covered;
    if (stray !== 0n) fail([...path, "reset"], `reset value sets reserved bits 0x${stray.toString(16)}`);
  }
  const saved: SavedRecord[] = [];
  for (const [name, r] of Object.entries(raw.saved ?? {})) {
    const path = ["saved", name];
    const fs = byName.get(r.fieldset);
    if (fs === undefined || fs.kind !== "fieldset") fail([...path, "fieldset"], `unknown fieldset ${r.fieldset}`);
    const other = protos.get(r.proto);
    if (other) fail([...path, "proto"], `proto number ${r.proto} already used by ${other}`);
    protos.set(r.proto, name);
    saved.push({ name, proto: r.proto, layout: r.fieldset, description: r.description, ref: r.ref });
  }
  checkMeanings(raw.enums, enums, fieldsets, fail, claim);
  return {
    name: raw.meta.name,
    spec: raw.meta.spec,
    schemaVersion: raw.meta.schema_version,
    enums,
    fieldsets,
    registers,
    saved: saved.sort((a, b) => a.proto - b.proto),
    source,
  };
}

/** Size of a command record and of an event record, in bits. */
const COMMAND_BITS = 128, EVENT_BITS = 256;

/**
 * "command" or "event" when commands or events (and only they) extend `fs`, directly or through other fieldsets:
 * it is then emitted with them and names their codes.
 */
export function familyOf(fs: FieldSet, all: readonly FieldSet[]): "command" | "event" | undefined {
  const byName = new Map(all.map((f) => [f.name, f]));
  const kinds = new Set<string>();
  for (const f of all) {
    if (f.kind !== "command" && f.kind !== "event") continue;
    for (let base = f.extends; base !== undefined; base = byName.get(base)?.extends) {
      if (base === fs.name) kinds.add(f.kind);
    }
  }
  return kinds.size === 1 ? [...kinds][0] as "command" | "event" : undefined;
}

/** Names gen/ exports besides the spec's own, and the fields of the SavedState message a register must not shadow. */
const GENERATED_NAMES = [
  "REG",
  "REGISTERS",
  "COMMANDS",
  "EVENTS",
  "OPCODE",
  "EVENT_TYPE",
  "SCHEMA_VERSION",
  "ID_REGISTERS",
  "SAVED_RECORDS",
];

function checkField(
  path: (string | number)[],
  name: string,
  f: RawField,
  containerBits: number,
  enums: Map<string, EnumDef>,
  fail: Fail,
): Field {
  const { lsb, width } = parseBits(f.bits);
  if (width < 1) fail([...path, "bits"], `bits "${f.bits}" run backwards (write "hi:lo")`);
  if (lsb + width > containerBits) {
    fail([...path, "bits"], `bits ${f.bits} run past the ${containerBits}-bit container`);
  }
  if (width > 53) {
    fail([...path, "bits"], `${width} bits wide: accessors use numbers, exact to 53 bits; split the field (_LO/_HI)`);
  }
  if (f.shift !== undefined && width + f.shift > 64) {
    fail([...path, "shift"], `address bits [${width + f.shift - 1}:${f.shift}] run past bit 63`);
  }
  const field: Field = { name, lsb, width, description: f.description };
  if (f.enum !== undefined) {
    const e = enums.get(f.enum);
    if (!e) return fail([...path, "enum"], `unknown enum ${f.enum}`);
    const big = e.values.find((v) => v.value >= 2 ** width);
    if (big) fail([...path, "enum"], `enum ${f.enum} value ${big.name} = ${big.value} does not fit in ${width} bits`);
    field.enumName = f.enum;
  }
  if (f.shift !== undefined) field.shift = f.shift;
  if (f.signed) {
    if (f.shift === undefined) fail([...path, "signed"], "signed applies to address fields (with shift) only");
    if (width + f.shift! !== 64) {
      fail(
        [...path, "signed"],
        `a signed address ends at bit 63, not ${width + f.shift! - 1} (it holds [63:${f.shift}])`,
      );
    }
    field.signed = true;
  }
  if (f.max !== undefined) {
    if (f.max >= 2 ** width) fail([...path, "max"], `max ${f.max} does not fit in ${width} bits`);
    field.max = f.max;
  }
  if (f.access !== undefined) field.access = f.access;
  return field;
}
