/**
 * Save and restore of the device's architectural state over the generated `SavedState` message.
 *
 * Which registers are saved, their proto field numbers, widths, reset values and layouts all come from gen/ (the
 * spec's `state: saved` registers); nothing here lists registers by hand. State that is no register's (the spec's
 * `saved` records, such as the stalled transactions) travels as repeated records in their fieldsets' layouts. The device calls {@link saveState} and
 * {@link restoreState}; it then commits the returned frame in one step and re-derives derived state itself.
 *
 * The line between accepted and refused: a blob is accepted iff save() could have produced it on this device. Every
 * guest-writable register must hold what the device's own `sanitize` (src/registers/rules.ts) stores for a guest write of
 * that value; GERROR and GATOS_PAR, which only the SMMU writes, get the checks in `checkSmmuWritten`.
 *
 * Evolution rule (the blob's `schema_version` against ours, {@link SCHEMA_VERSION}):
 * - newer than ours, or 0/absent: refused (SavedStateError "schema_version"): we cannot know what a newer writer's
 *   fields mean, and every writer sets a version;
 * - ours: every saved register must be present (save() always writes all of them);
 * - older: a register the blob lacks takes its reset value from the spec (not zero);
 * - whatever the version, an unknown field number, a field with the wrong wire type, a repeated field or a 32-bit
 *   field whose varint exceeds 32 bits is refused: field numbers are never reused, so an older blob can only hold
 *   numbers we know.
 * @module
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { IdRegisters, SavedState } from "../../gen/proto/smmuv3/v1/saved_state.ts";
import {
  decode,
  GATOS_PAR,
  GATOS_PAR_FAULT_LAYOUT,
  GBPA,
  IDR0,
  IDR5,
  IDR5_OAS_BITS,
  REG,
  REGISTERS,
  reservedSet,
  SAVED_RECORDS,
  SCHEMA_VERSION,
} from "../../gen/mod.ts";
import type { Layout, RegisterInfo } from "../../gen/mod.ts";
import { SavedStateError } from "../core/errors.ts";
import { sanitize } from "../registers/rules.ts";
import { isWide, type RegisterFile, word } from "../registers/regfile.ts";
import { DWORD_BYTES, WORD_BITS, WORD_BYTES } from "../core/numbers.ts";

// ---------------------------------------------------------------- the mapping, exhaustive by construction

/**
 * How exhaustiveness is enforced. The codec below is generic: it walks REGISTERS and handles every saved register the
 * same way, so a register added to the spec is saved and restored by construction once gen/ is regenerated. What it
 * cannot handle is a SavedState key that is not a 32-bit (number) or 64-bit (bigint) register value, such as a
 * nested message for non-register state. `Unhandled` collects such keys (besides the header, which `saveState` and
 * `restoreState` name explicitly); the `true` below only type-checks while it is `never`, so `deno check` fails as
 * soon as the generated type gains a key this codec does not handle. At load, `SAVED` is checked against the
 * generated decoder (field number → key → number or bigint), so a stale or half-regenerated gen/ fails loudly.
 */
type HeaderKey = "schemaVersion" | "idRegisters";
/** The saved records (registers.yaml `saved`): repeated bytes, one record each. */
type RecordKey = { [K in keyof SavedState]-?: SavedState[K] extends Uint8Array[] ? K : never }[keyof SavedState];
type RegisterKey = Exclude<keyof SavedState, HeaderKey | RecordKey>;
type Unhandled = {
  [K in keyof SavedState]-?: K extends HeaderKey | RecordKey ? never
    : Exclude<SavedState[K], undefined> extends number | bigint ? never
    : K;
}[keyof SavedState];
type UnhandledId = { [K in keyof IdRegisters]-?: IdRegisters[K] extends number ? never : K }[keyof IdRegisters];
const _everyKeyHandled: [Unhandled | UnhandledId] extends [never] ? true : never = true;
void _everyKeyHandled;

/** ts-proto's field name for a register: the proto name (register name lowercased) in camelCase. */
const keyOf = (r: { readonly name: string }): string =>
  r.name.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

interface SavedField {
  readonly reg: RegisterInfo;
  readonly key: RegisterKey;
  readonly w: number; // word index of the register's low word
}

const SAVED: readonly SavedField[] = REGISTERS.filter((r) => r.state === "saved")
  .map((reg) => ({ reg, key: keyOf(reg) as RegisterKey, w: word(reg.offset) }));
const BY_PROTO = new Map(SAVED.map((f) => [f.reg.proto!, f]));
const ID_FIELDS = REGISTERS.filter((r) => r.state === "id" && r.proto !== undefined)
  .map((reg) => ({ reg, key: keyOf(reg) as keyof IdRegisters, w: word(reg.offset) }));
const ID_BY_PROTO = new Map(ID_FIELDS.map((f) => [f.reg.proto!, f]));
const RECORDS = SAVED_RECORDS.map((r) => ({ info: r, key: keyOf(r) as RecordKey }));
const RECORD_BY_PROTO = new Map(RECORDS.map((r) => [r.info.proto, r]));
const FIELD_SCHEMA_VERSION = 1;
const WORD = BigInt(WORD_BITS);
const TWO_32 = 1n << WORD;
const FIELD_ID_REGISTERS = 2;

/** Decodes a probe holding every saved field and checks each lands on its key with its width's type. */
(function checkMappingAgainstGeneratedDecoder() {
  const probe = new Uint8Array(SAVED.flatMap((f) => [...varint((f.reg.proto! << 3) >>> 0), 1]));
  const decoded = SavedState.decode(probe) as unknown as Record<string, unknown>;
  for (const f of SAVED) {
    const type = typeof decoded[f.key];
    const want = isWide(f.reg) ? "bigint" : "number";
    if (type !== want) throw new Error(`gen/ out of sync: ${f.reg.name} is not ${f.key}: ${want}`);
  }
  for (const r of RECORDS) {
    if (!Array.isArray(decoded[r.key])) throw new Error(`gen/ out of sync: ${r.info.name} is not ${r.key}: bytes[]`);
  }
  const keys = Object.keys(decoded).filter((k) =>
    decoded[k] !== undefined && k !== "schemaVersion" && !RECORDS.some((r) => r.key === k)
  );
  if (keys.length !== SAVED.length) throw new Error(`gen/ out of sync: SavedState has keys ${keys}`);
  const idKeys = Object.keys(IdRegisters.create());
  if (idKeys.length !== ID_FIELDS.length || ID_FIELDS.some((f) => !idKeys.includes(f.key))) {
    throw new Error(`gen/ out of sync: IdRegisters has keys ${idKeys}`);
  }
})();

function varint(v: number): number[] {
  const out = [];
  for (; v > 0x7f; v = Math.floor(v / 128)) out.push((v & 0x7f) | 0x80);
  return [...out, v];
}

// ---------------------------------------------------------------- save

/** Saved records by their registers.yaml `saved` name (e.g. "STALLS"): each record's words, in its layout. */
export type SavedRecords = Readonly<Record<string, readonly Uint32Array[]>>;

/** A record's words as little-endian bytes, and back. */
function recordBytes(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(words.length * WORD_BYTES);
  const view = new DataView(out.buffer);
  words.forEach((v, i) => view.setUint32(WORD_BYTES * i, v, true));
  return out;
}

/**
 * Encodes every saved register of `regs`, the records (by `saved` name; absent ones are empty) and the identification
 * fingerprint. Reads only; no side effects.
 */
export function saveState(regs: RegisterFile, records: SavedRecords = {}): Uint8Array {
  const w = regs.words;
  const registers: Partial<Record<RegisterKey, number | bigint>> = {};
  for (const f of SAVED) {
    registers[f.key] = isWide(f.reg) ? (BigInt(w[f.w + 1]) << WORD) | BigInt(w[f.w]) : w[f.w];
  }
  const lists: Partial<Record<RecordKey, Uint8Array[]>> = {};
  for (const r of RECORDS) lists[r.key] = (records[r.info.name] ?? []).map(recordBytes);
  const message: SavedState = {
    schemaVersion: SCHEMA_VERSION,
    idRegisters: idRegistersOf(w),
    ...(registers as Pick<SavedState, RegisterKey>),
    ...(lists as Pick<SavedState, RecordKey>),
  };
  return SavedState.encode(message).finish();
}

function idRegistersOf(w: Uint32Array): IdRegisters {
  const ids = IdRegisters.create();
  for (const f of ID_FIELDS) ids[f.key] = w[f.w];
  return ids;
}

// ---------------------------------------------------------------- restore

/** Decodes and validates everything against the device limits read from `regs`' ID registers (IDR0/1/3/5 words, which
 *  the device writes at construction); throws SavedStateError naming the field; never touches `regs`. Returns the
 *  complete new frame words: a copy of regs.words with every saved register replaced (derived registers are left for
 *  the device to recompute; id registers are kept). */
export function restoreState(
  regs: RegisterFile,
  bytes: Uint8Array,
  /** Filled with the blob's records by `saved` name, each checked for size and reserved bits. */
  records: Record<string, Uint32Array[]> = {},
): Uint32Array {
  const { schemaVersion, idRegisters, ...rest } = decodeBlob(bytes);
  const registers: Partial<Record<RegisterKey, number | bigint>> = { ...rest };
  for (const r of RECORDS) delete (registers as Record<string, unknown>)[r.key];
  if (schemaVersion < 1 || schemaVersion > SCHEMA_VERSION) {
    throw new SavedStateError(
      "schema_version",
      `${schemaVersion} is not a version this device reads (1..${SCHEMA_VERSION})`,
    );
  }
  if (idRegisters === undefined) throw new SavedStateError("id_registers", "missing");
  for (const f of ID_FIELDS) {
    const mine = regs.words[f.w];
    if (idRegisters[f.key] !== mine) {
      throw new SavedStateError(
        `id_registers.${f.reg.name}`,
        `0x${hex(idRegisters[f.key])} differs from this device's 0x${hex(mine)}`,
      );
    }
  }
  const next = regs.words.slice();
  for (const f of SAVED) {
    const value = registers[f.key];
    if (value === undefined) {
      if (schemaVersion === SCHEMA_VERSION) throw new SavedStateError(f.reg.name, "missing from a current-schema blob");
      next[f.w] = f.reg.reset[0];
      if (isWide(f.reg)) next[f.w + 1] = f.reg.reset[1];
    } else if (typeof value === "bigint") {
      next[f.w] = Number(value % TWO_32);
      next[f.w + 1] = Number(value >> WORD);
    } else {
      next[f.w] = value;
    }
  }
  validate(next);
  for (const r of RECORDS) records[r.info.name] = (rest[r.key] ?? []).map((b, i) => recordWords(r.info, b, i));
  return next;
}

/** One saved record's words: exactly its layout's size, no reserved bit set. */
function recordWords(info: (typeof SAVED_RECORDS)[number], bytes: Uint8Array, i: number): Uint32Array {
  const where = `${info.name}[${i}]`;
  if (bytes.length !== info.layout.bytes) {
    throw new SavedStateError(where, `${bytes.length} bytes, not a ${info.layout.name} (${info.layout.bytes})`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const words = Uint32Array.from({ length: info.layout.words }, (_, k) => view.getUint32(WORD_BYTES * k, true));
  const bad = reservedSet(info.layout, words).findIndex((m) => m !== 0);
  if (bad >= 0) throw new SavedStateError(where, `reserved bits set in word ${bad}`);
  return words;
}

/** Structure check, then the generated decoder. Every decoding problem becomes a SavedStateError. */
function decodeBlob(bytes: Uint8Array): SavedState {
  try {
    scanMessage(new BinaryReader(bytes), false);
    return SavedState.decode(bytes);
  } catch (e) {
    if (e instanceof SavedStateError) throw e;
    throw new SavedStateError("blob", `not a SavedState encoding (${(e as Error).message})`);
  }
}

/** Refuses unknown or repeated field numbers, wrong wire types and 32-bit values that do not fit. */
function scanMessage(reader: BinaryReader, inIdRegisters: boolean): void {
  const seen = new Set<number>();
  while (reader.pos < reader.len) {
    const [no, type] = reader.tag();
    const record = inIdRegisters ? undefined : RECORD_BY_PROTO.get(no);
    const known = inIdRegisters ? ID_BY_PROTO.has(no) : no <= FIELD_ID_REGISTERS || BY_PROTO.has(no) || !!record;
    if (!known) throw new SavedStateError(`field ${no}`, "unknown field number");
    const name = inIdRegisters ? `id_registers.${ID_BY_PROTO.get(no)!.reg.name}` : fieldName(no);
    const nested = !inIdRegisters && no === FIELD_ID_REGISTERS;
    if (type !== (nested || record ? WireType.LengthDelimited : WireType.Varint)) {
      throw new SavedStateError(name, "wrong wire type");
    }
    if (record) {
      reader.bytes(); // a repeated record: checked after decoding
      continue;
    }
    if (seen.has(no)) throw new SavedStateError(name, "repeated");
    seen.add(no);
    if (nested) {
      scanMessage(new BinaryReader(reader.bytes()), true);
    } else {
      const v = BigInt(reader.uint64());
      const width = inIdRegisters || no === FIELD_SCHEMA_VERSION ? WORD_BITS : BY_PROTO.get(no)!.reg.width;
      if (v >> BigInt(width) !== 0n) throw new SavedStateError(name, `0x${v.toString(16)} does not fit ${width} bits`);
    }
  }
}

function fieldName(no: number): string {
  return no === FIELD_SCHEMA_VERSION
    ? "schema_version"
    : no === FIELD_ID_REGISTERS
    ? "id_registers"
    : BY_PROTO.get(no)?.reg.name ?? RECORD_BY_PROTO.get(no)!.info.name;
}

const hex = (v: number) => v.toString(16);

// ---------------------------------------------------------------- validation of a candidate frame

/** The layout a saved register's value is read with (GATOS_PAR has a second view when it reports a fault). */
function layoutOf(f: SavedField, w: Uint32Array): Layout {
  return f.reg.offset === REG.GATOS_PAR && GATOS_PAR.FAULT.get(w, f.w) === 1 ? GATOS_PAR_FAULT_LAYOUT : f.reg.layout;
}

/**
 * Every rule a value the device stored obeys; the first broken one throws, naming its field. Guest-writable registers
 * hold exactly what the device's own {@link sanitize} lets a guest write (reserved and feature-gated bits, LOG2SIZE
 * within IDR1, SPLIT/FMT, addresses within OAS, PROD/CONS within the ring): a value is legal iff sanitize leaves it
 * unchanged, so restore and the device share one rule book. The registers only the SMMU writes get the checks below.
 */
function validate(w: Uint32Array): void {
  for (const f of SAVED) {
    const layout = layoutOf(f, w);
    for (let i = 0; i < f.reg.width / WORD_BITS; i++) {
      const bad = (w[f.w + i] & layout.reserved[i]) >>> 0;
      if (bad) throw new SavedStateError(f.reg.name, `reserved bits 0x${hex(bad)} set in word ${i}`);
    }
    if (f.reg.access === "RW") mustStore(f, layout, w, f.reg.offset);
    else checkSmmuWritten(f, layout, w);
  }
  // The SMMU completes a GBPA update at once (src/device/mmio.ts), so Update never reads 1 between two accesses.
  if (GBPA.Update.get(w, word(REG.GBPA))) throw new SavedStateError("GBPA.Update", "an update never stays pending");
}

/** The stored value must be what the device stores for a guest write of that value (at `as`'s rules). */
function mustStore(f: SavedField, layout: Layout, w: Uint32Array, as: number): void {
  const [lo, hi] = sanitize(w, as, w[f.w], isWide(f.reg) ? w[f.w + 1] : 0);
  if (lo === w[f.w] && (!isWide(f.reg) || hi === w[f.w + 1])) return;
  const stored = new Uint32Array([lo, hi]);
  const field = layout.fields.find((x) => x.get(w, f.w) !== x.get(stored)) ?? { name: "value" };
  throw new SavedStateError(`${f.reg.name}.${field.name}`, "not a value this device can hold");
}

/** GERROR and GATOS_PAR: values the SMMU itself writes. */
function checkSmmuWritten(f: SavedField, layout: Layout, w: Uint32Array): void {
  const oas = IDR5_OAS_BITS[IDR5.OAS.get(w, word(REG.IDR5))]!;
  for (const field of layout.fields) {
    const v = field.get(w, f.w);
    if (field.enumValues && !(v in field.enumValues)) {
      throw new SavedStateError(`${f.reg.name}.${field.name}`, `${v} is not a value the SMMU writes`);
    }
    // A PAR's output address is physical (a fault's FADDR is an IPA).
    if (field.shift !== undefined && layout !== GATOS_PAR_FAULT_LAYOUT && v * 2 ** field.shift >= 2 ** oas) {
      throw new SavedStateError(`${f.reg.name}.${field.name}`, `address beyond the ${oas}-bit output address size`);
    }
  }
  // GERROR raises only errors GERRORN can acknowledge (same layout, same feature gating).
  if (f.reg.offset === REG.GERROR) mustStore(f, layout, w, REG.GERRORN);
  if (f.reg.offset === REG.GATOS_PAR && !IDR0.ATOS.get(w, word(REG.IDR0)) && (w[f.w] || w[f.w + 1])) {
    throw new SavedStateError("GATOS_PAR", "set on a device without ATOS (IDR0.ATOS = 0)");
  }
}

// ---------------------------------------------------------------- tooling

/** Readable JSON of a blob with the spec's names: each saved register's fields decoded by name (absent ones marked).
 *  Checks the encoding only, not a device's limits. Throws SavedStateError for a garbled blob. */
export function stateToJson(bytes: Uint8Array): Record<string, unknown> {
  const message = decodeBlob(bytes);
  const words = new Uint32Array(DWORD_BYTES / WORD_BYTES);
  const show = (reg: RegisterInfo, value: number | bigint | undefined, layoutFor = (_: Uint32Array) => reg.layout) => {
    if (value === undefined) return "absent (in an older schema: restores as the reset value)";
    const big = BigInt(value);
    words[0] = Number(big % TWO_32);
    words[1] = Number(big >> WORD);
    const layout = layoutFor(words);
    const fields = decode(layout, words);
    for (const f of layout.fields) {
      if (f.shift !== undefined) fields[f.name] = `0x${(f.get(words) * 2 ** f.shift).toString(16)}`;
    }
    return { value: `0x${big.toString(16)}`, ...(layout !== reg.layout ? { view: layout.name } : {}), ...fields };
  };
  const ids: Record<string, unknown> = {};
  for (const f of ID_FIELDS) {
    ids[f.reg.name] = message.idRegisters ? show(f.reg, message.idRegisters[f.key]) : undefined;
  }
  const out: Record<string, unknown> = {
    schema_version: message.schemaVersion,
    id_registers: message.idRegisters ? ids : "absent",
  };
  for (const f of SAVED) out[f.reg.name] = show(f.reg, message[f.key], (w) => layoutOf({ ...f, w: 0 }, w));
  // A saved record list shows only when it holds records (an empty list encodes as nothing).
  for (const r of RECORDS) {
    const list = message[r.key] ?? [];
    if (list.length > 0) out[r.info.name] = list.map((b, i) => decode(r.info.layout, recordWords(r.info, b, i)));
  }
  return out;
}
