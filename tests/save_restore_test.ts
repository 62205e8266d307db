import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { SavedState } from "../gen/proto/smmuv3/v1/saved_state.ts";
import {
  CMDQ_BASE,
  CMDQ_CONS,
  CR0,
  CR0_LAYOUT,
  EVENTQ_BASE,
  EVENTQ_PROD,
  GATOS_PAR,
  GATOS_PAR_FAULT,
  GATOS_PAR_FAULT_LAYOUT,
  GBPA,
  GERROR,
  IDR0,
  IDR5,
  PRIQ_CONS,
  REG,
  REGISTERS,
  SCHEMA_VERSION,
  STRTAB_BASE,
  STRTAB_BASE_CFG,
} from "../gen/mod.ts";
import { SavedStateError } from "../src/core/errors.ts";
import { RegisterFile, word } from "../src/registers/regfile.ts";
import { restoreState, saveState, stateToJson } from "../src/state/save_restore.ts";
import { idRegistersFor, type SmmuFeatures } from "../src/registers/features.ts";
import { sanitize } from "../src/registers/rules.ts";
import { configuredDevice } from "./fixtures/make_v1.ts";

const SAVED = REGISTERS.filter((r) => r.state === "saved");
const OAS_BITS = [32, 36, 40, 42, 44, 48, 52]; // IDR5.OAS encodings 0..6 (IHI 0070 6.3.6)

// ---------------------------------------------------------------- legal device states

/** The device's features, plus ATOS (which the Smmu does not offer, but whose registers save/restore still covers). */
const featuresArb = fc.record({
  features: fc.record({
    oas: fc.constantFrom(32, 36, 40, 42, 44, 48, 52),
    sidBits: fc.integer({ min: 0, max: 32 }),
    ssidBits: fc.integer({ min: 0, max: 20 }),
    cmdqLog2: fc.integer({ min: 0, max: 19 }),
    eventqLog2: fc.integer({ min: 0, max: 19 }),
    priqLog2: fc.integer({ min: 0, max: 19 }),
    twoLevelStreamTable: fc.boolean(),
    msi: fc.boolean(),
    pri: fc.boolean(),
    ats: fc.boolean(),
    hyp: fc.boolean(),
  }) as fc.Arbitrary<SmmuFeatures>,
  atos: fc.boolean(),
});
type Features = { features: SmmuFeatures; atos: boolean };
const u32 = fc.oneof(fc.constant(0), fc.constant(0xffff_ffff), fc.integer({ min: 0, max: 0xffff_ffff }));
const rawArb = fc.array(u32, { minLength: 2 * SAVED.length, maxLength: 2 * SAVED.length });

/** A register file at reset with the ID registers of `f` (as the device writes them at construction). */
function deviceWith(f: Features): RegisterFile {
  const regs = new RegisterFile();
  const ids = idRegistersFor(f.features);
  for (const [name, value] of Object.entries(ids)) regs.words[word(REG[name as keyof typeof REG])] = value;
  IDR0.ATOS.set(regs.words, f.atos ? 1 : 0, word(REG.IDR0));
  return regs;
}

/** A device holding a state it could reach, from random words: each guest-writable register holds what the device
 *  stores for a guest write of the raw value (in register order, so queue bases precede their indices; GBPA with its
 *  update done); GERROR holds
 *  errors GERRORN can acknowledge; GATOS_PAR holds a result (either view) the SMMU could write. */
function legalDevice(f: Features, raw: readonly number[]): RegisterFile {
  const regs = deviceWith(f);
  const w = regs.words;
  const oas = OAS_BITS[IDR5.OAS.get(w, word(REG.IDR5))];
  SAVED.forEach((r, i) => {
    const o = word(r.offset);
    const rawHi = r.width === 64 ? raw[2 * i + 1] : 0;
    if (r.access === "RW") {
      [w[o], w[o + 1]] = r.width === 64
        ? sanitize(w, r.offset, raw[2 * i], rawHi)
        : [sanitize(w, r.offset, raw[2 * i], 0)[0], w[o + 1]];
      if (r.offset === REG.GBPA) GBPA.Update.set(w, 0, o); // the device completes an update at once
    } else if (r.offset === REG.GERROR) w[o] = sanitize(w, REG.GERRORN, raw[2 * i], 0)[0];
    else if (r.offset === REG.GATOS_PAR && f.atos) {
      [w[o], w[o + 1]] = [raw[2 * i], rawHi];
      const fault = GATOS_PAR.FAULT.get(w, o) === 1;
      const layout = fault ? GATOS_PAR_FAULT_LAYOUT : r.layout;
      for (let k = 0; k < 2; k++) w[o + k] &= ~layout.reserved[k];
      for (const field of layout.fields) {
        const v = field.get(w, o);
        if (field.enumValues) {
          field.set(w, Number(Object.keys(field.enumValues)[v % Object.keys(field.enumValues).length]), o);
        }
        if (field.shift !== undefined && !fault) field.set(w, v % 2 ** (oas - field.shift), o);
      }
    }
  });
  return regs;
}

const savedWords = (r: (typeof SAVED)[number]) =>
  r.width === 64 ? [word(r.offset), word(r.offset) + 1] : [word(r.offset)];
const SAVED_WORDS = new Set(SAVED.flatMap(savedWords));

// ---------------------------------------------------------------- round trip

Deno.test("every saved field round-trips; other words come from the target and the target is untouched", () => {
  fc.assert(
    fc.property(featuresArb, rawArb, u32, (l, raw, junk) => {
      const source = legalDevice(l, raw);
      const target = deviceWith(l);
      target.words[word(REG.CR0ACK)] = junk; // derived state: left for the device to recompute
      target.words[word(REG.CMDQ_BASE)] = junk; // saved state: replaced
      const before = target.words.slice();
      const next = restoreState(target, saveState(source));
      assert.deepEqual(target.words, before, "restoreState never touches its target");
      for (let i = 0; i < next.length; i++) {
        assert.equal(next[i], SAVED_WORDS.has(i) ? source.words[i] : before[i], `word 0x${(i * 4).toString(16)}`);
      }
    }),
    { numRuns: 300 },
  );
});

Deno.test("the configured fixture device round-trips, and saving has no side effects", () => {
  const regs = configuredDevice();
  const before = regs.words.slice();
  const blob = saveState(regs);
  assert.deepEqual(regs.words, before);
  assert.deepEqual(saveState(regs), blob, "saving twice gives the same bytes");
  assert.deepEqual(restoreState(regs, blob), before);
});

// ---------------------------------------------------------------- refusals

/** `bytes` is refused with a SavedStateError naming `field`, and `regs` is unchanged. */
function refuses(regs: RegisterFile, bytes: Uint8Array, field: string, problem?: RegExp) {
  const before = regs.words.slice();
  assert.throws(() => restoreState(regs, bytes), (e) => {
    assert.ok(e instanceof SavedStateError, String(e));
    assert.equal(e.field, field, e.message);
    if (problem) assert.match(e.message, problem);
    return true;
  });
  assert.deepEqual(regs.words, before);
}

/** A 64-bit message value with `edit` applied to its two words through gen/ accessors. */
function edit64(value: bigint | undefined, edit: (w: Uint32Array) => void): bigint {
  const w = new Uint32Array([Number(value! & 0xffff_ffffn), Number(value! >> 32n)]);
  edit(w);
  return (BigInt(w[1]) << 32n) | BigInt(w[0]);
}
const edit32 = (value: number | undefined, edit: (w: Uint32Array) => void) => {
  const w = new Uint32Array([value!]);
  edit(w);
  return w[0];
};
const concat = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));
const fieldBytes = (no: number, write: (b: BinaryWriter) => BinaryWriter) =>
  write(new BinaryWriter().tag(no, WireType.Varint)).finish();

Deno.test("restore refuses every blob save() could not have produced, naming the field", () => {
  // IDR0: MSI, PRI, ATS, Hyp, two-level stream tables, no VMW, no ATOS; IDR1: SIDSIZE 16, CMDQS 19, EVENTQS 7,
  // PRIQS 4; IDR5.OAS 44 bits.
  const regs = configuredDevice();
  const good = SavedState.decode(saveState(regs));
  const blobWith = (patch: Partial<SavedState>) => SavedState.encode({ ...good, ...patch }).finish();
  const lowestReserved = CR0_LAYOUT.reserved[0] & -CR0_LAYOUT.reserved[0];
  const cases: [string, Partial<SavedState>, RegExp?][] = [
    ["CR0", { cr0: good.cr0! | lowestReserved }, /reserved/],
    ["GERROR_IRQ_CFG0", { gerrorIrqCfg0: (1n << 64n) - 1n }, /reserved/],
    ["CR0.VMW", { cr0: edit32(good.cr0, (w) => CR0.VMW.set(w, 1)) }],
    ["CMDQ_BASE.LOG2SIZE", { cmdqBase: edit64(good.cmdqBase, (w) => CMDQ_BASE.LOG2SIZE.set(w, 20)) }],
    ["EVENTQ_BASE.LOG2SIZE", { eventqBase: edit64(good.eventqBase, (w) => EVENTQ_BASE.LOG2SIZE.set(w, 8)) }],
    ["STRTAB_BASE_CFG.LOG2SIZE", {
      strtabBaseCfg: edit32(good.strtabBaseCfg, (w) => STRTAB_BASE_CFG.LOG2SIZE.set(w, 17)),
    }],
    ["STRTAB_BASE_CFG.FMT", { strtabBaseCfg: edit32(good.strtabBaseCfg, (w) => STRTAB_BASE_CFG.FMT.set(w, 2)) }],
    ["EVENTQ_PROD.WR", { eventqProd: edit32(good.eventqProd, (w) => EVENTQ_PROD.WR.set(w, 2 ** 8)) }],
    ["CMDQ_CONS.RD", { cmdqCons: edit32(good.cmdqCons, (w) => CMDQ_CONS.RD.set(w, 2 ** 9)) }],
    ["PRIQ_CONS.RD", { priqCons: edit32(good.priqCons, (w) => PRIQ_CONS.RD.set(w, 2 ** 5)) }],
    ["STRTAB_BASE.ADDR", { strtabBase: edit64(good.strtabBase, (w) => STRTAB_BASE.ADDR.setAddress(w, 2 ** 44)) }],
    ["CMDQ_CONS.ERR", { cmdqCons: edit32(good.cmdqCons, (w) => CMDQ_CONS.ERR.set(w, 0x7f)) }],
    ["GERROR.CMDQP_ERR", { gerror: edit32(good.gerror, (w) => GERROR.CMDQP_ERR.set(w, 1)) }],
    ["GBPA.Update", { gbpa: edit32(good.gbpa, (w) => GBPA.Update.set(w, 1)) }],
    ["GATOS_SID.STREAMID", { gatosSid: 1n }], // no ATOS: the GATOS registers are RES0
    ["GATOS_PAR", { gatosPar: 1n << 12n }, /ATOS/],
    ["id_registers.IDR1", { idRegisters: { ...good.idRegisters!, idr1: good.idRegisters!.idr1 ^ 1 } }],
    ["id_registers", { idRegisters: undefined }, /missing/],
    ["schema_version", { schemaVersion: SCHEMA_VERSION + 1 }],
    ["schema_version", { schemaVersion: 0 }],
    ["CR1", { cr1: undefined }, /missing/],
  ];
  for (const [field, patch, problem] of cases) refuses(regs, blobWith(patch), field, problem);

  const blob = blobWith({});
  refuses(regs, concat(blob, fieldBytes(99, (b) => b.uint32(1))), "field 99", /unknown/);
  refuses(regs, concat(blob, fieldBytes(10, (b) => b.uint32(0))), "CR0", /repeated/);
  const fixed = new BinaryWriter().tag(10, WireType.Bit32).fixed32(0).finish();
  refuses(regs, concat(blobWith({ cr0: undefined }), fixed), "CR0", /wire type/);
  refuses(regs, concat(blobWith({ cr0: undefined }), fieldBytes(10, (b) => b.uint64(2n ** 32n))), "CR0", /32 bits/);
  const ids = new BinaryWriter().tag(2, WireType.LengthDelimited).fork().tag(9, WireType.Varint).uint32(1).join();
  refuses(regs, concat(blobWith({ idRegisters: undefined }), ids.finish()), "field 9", /unknown/);
  refuses(regs, blob.subarray(0, blob.length - 1), "blob");
  refuses(regs, new Uint8Array([0xff, 0xff, 0xff]), "blob");
});

Deno.test("with ATOS, GATOS_PAR is checked in the view its FAULT bit selects", () => {
  const regs = configuredDevice();
  IDR0.ATOS.set(regs.words, 1, word(REG.IDR0));
  const good = SavedState.decode(saveState(regs));
  const fault = edit64(0n, (w) => {
    GATOS_PAR_FAULT.FAULT.set(w, 1);
    GATOS_PAR_FAULT.FAULTCODE.set(w, 0xff); // bits reserved in the FAULT == 0 view
    GATOS_PAR_FAULT.FADDR.setAddress(w, 2 ** 51); // an IPA: not bound by OAS
  });
  const next = restoreState(regs, SavedState.encode({ ...good, gatosPar: fault }).finish());
  assert.equal(GATOS_PAR_FAULT.FAULTCODE.get(next, word(REG.GATOS_PAR)), 0xff);
  const blobWith = (gatosPar: bigint) => SavedState.encode({ ...good, gatosPar }).finish();
  refuses(regs, blobWith(edit64(0n, (w) => GATOS_PAR_FAULT.FAULTCODE.set(w, 0xff))), "GATOS_PAR", /reserved/);
  refuses(regs, blobWith(edit64(0n, (w) => GATOS_PAR.SH.set(w, 1))), "GATOS_PAR.SH");
  refuses(regs, blobWith(edit64(0n, (w) => GATOS_PAR.ADDR.setAddress(w, 2 ** 44))), "GATOS_PAR.ADDR");
});

// ---------------------------------------------------------------- mutated and truncated blobs

/** Either `bytes` is refused with a SavedStateError and `regs` unchanged, or the state restored re-saves to exactly
 *  what the generated decoder reads from `bytes`. Returns whether it was accepted. */
function restoresExactlyOrRefuses(regs: RegisterFile, bytes: Uint8Array): boolean {
  const before = regs.words.slice();
  let next: Uint32Array;
  try {
    next = restoreState(regs, bytes);
  } catch (e) {
    if (!(e instanceof SavedStateError)) throw e;
    assert.deepEqual(regs.words, before);
    return false;
  }
  const restored = new RegisterFile();
  restored.words.set(next);
  // An older schema_version (a flipped version bit) is accepted; the state re-saves with the current one. A register
  // such a blob lacks restores as its reset value (the evolution rule of src/state/save_restore.ts), and re-saves so.
  const read = SavedState.decode(bytes);
  const resaved = SavedState.decode(saveState(restored));
  const expected: Record<string, unknown> = { ...read, schemaVersion: SCHEMA_VERSION };
  for (const reg of SAVED) {
    const key = protoKey(reg);
    if ((read as unknown as Record<string, unknown>)[key] !== undefined) continue;
    assert.ok(read.schemaVersion < SCHEMA_VERSION, `${reg.name} is missing from a current-schema blob`);
    savedWords(reg).forEach((w, i) => assert.equal(next[w], reg.reset[i], `${reg.name} restores as its reset value`));
    expected[key] = (resaved as unknown as Record<string, unknown>)[key];
  }
  assert.deepEqual(resaved, expected);
  for (let i = 0; i < next.length; i++) if (!SAVED_WORDS.has(i)) assert.equal(next[i], before[i]);
  return true;
}

/** ts-proto's field name for a register: its name in camelCase. */
const protoKey = (r: { readonly name: string }): string =>
  r.name.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

Deno.test("every truncation and every single-bit flip of a blob restores exactly or is refused", () => {
  const regs = configuredDevice();
  const blob = saveState(regs);
  let accepted = 0;
  for (let n = 0; n < blob.length; n++) accepted += +restoresExactlyOrRefuses(regs, blob.subarray(0, n));
  for (let bit = 0; bit < blob.length * 8; bit++) {
    const flipped = blob.slice();
    flipped[bit >> 3] ^= 1 << (bit & 7);
    accepted += +restoresExactlyOrRefuses(regs, flipped);
  }
  assert.ok(accepted > 0, "some flips (a value bit of a field without constraints) still restore");
});

Deno.test("random mutations of random legal blobs restore exactly or are refused", () => {
  const mutation = fc.record({
    kind: fc.constantFrom("set", "insert", "delete", "truncate", "splice"),
    at: fc.nat(),
    byte: fc.integer({ min: 0, max: 255 }),
    len: fc.integer({ min: 1, max: 8 }),
  });
  const outcomes = [0, 0]; // refused, accepted
  fc.assert(
    fc.property(featuresArb, rawArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (l, raw, mutations) => {
      const regs = legalDevice(l, raw);
      let bytes = [...saveState(regs)];
      for (const m of mutations) {
        const at = m.at % (bytes.length + 1);
        if (m.kind === "set") bytes[Math.min(at, bytes.length - 1)] = m.byte;
        if (m.kind === "insert") bytes.splice(at, 0, m.byte);
        if (m.kind === "delete") bytes.splice(at, m.len);
        if (m.kind === "truncate") bytes = bytes.slice(0, at);
        if (m.kind === "splice") bytes.splice(at, 0, ...bytes.slice(at, at + m.len)); // a repeated run
      }
      outcomes[+restoresExactlyOrRefuses(regs, new Uint8Array(bytes))]++;
    }),
    { numRuns: 5000 },
  );
  assert.ok(outcomes[0] > 0 && outcomes[1] > 0, `both outcomes occur: ${outcomes}`);
});

// ---------------------------------------------------------------- tooling

Deno.test("stateToJson names registers, fields and enum values from the spec", () => {
  const blob = saveState(configuredDevice());
  const json = stateToJson(blob) as Record<string, Record<string, unknown>>;
  assert.equal(json.schema_version, SCHEMA_VERSION);
  assert.equal(json.CR0.SMMUEN, 1);
  assert.equal(json.CMDQ_CONS.ERR, "CERROR_ILL");
  assert.equal(json.STRTAB_BASE.ADDR, "0x4000000000");
  assert.equal(json.STRTAB_BASE_CFG.FMT, "TWO_LEVEL");
  assert.equal((json.id_registers.IDR5 as Record<string, unknown>).OAS, "BITS_44");
  assert.deepEqual(Object.keys(json).slice(2), SAVED.map((r) => r.name));
  const older = SavedState.encode({ ...SavedState.decode(blob), cr1: undefined }).finish();
  assert.match(String(stateToJson(older).CR1), /absent/);
  const fault = SavedState.encode({ ...SavedState.decode(blob), gatosPar: 1n }).finish();
  assert.equal((stateToJson(fault).GATOS_PAR as Record<string, unknown>).view, "GATOS_PAR_FAULT");
  assert.throws(() => stateToJson(blob.subarray(0, 5)), SavedStateError);
});
