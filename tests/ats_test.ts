/**
 * ATS (src/translation/ats.ts, src/endpoint/atc.ts) against IHI 0070 3.9.1 (Translation Requests 3.9.1.2, Translated transactions 3.9.1.3),
 * 5.2 STE.EATS, 6.3.9.2 ATSCHK, 7.3.6 F_BAD_ATS_TREQ, 7.3.8 F_TRANSL_FORBIDDEN, 13.6 and 13.7 (completions), and the
 * page-request round trip of 3.9.1 with chapter 8.
 */
import assert from "node:assert/strict";
import {
  CMD_PRI_RESP_RESP,
  CR0,
  EVENT_TYPE,
  EVT_CLASS,
  EVT_F_ADDR_SIZE,
  EVT_F_TRANSL_FORBIDDEN,
  EVT_F_TRANSLATION,
  IDR5,
  IDR5_OAS_BITS,
  PRI_RECORD,
  REG,
  STE,
  STE_CONFIG,
  STE_EATS,
  STE_INSTCFG,
  STE_PRIVCFG,
  STE_S1DSS,
  TT_AP,
  TT_PAGE_S1,
} from "../gen/mod.ts";
import { Atc, type AtsRequest, guest, HostError, Smmu, SparseMemory } from "../mod.ts";
import { grant } from "../src/translation/ats.ts";
import { ACCESS } from "../src/core/types.ts";
import { sva } from "./helpers/sva.ts";

const PAGE = 0x1000;
const DATA = 0x8000_0000;
const type = (rec: Uint32Array) => EVT_F_TRANSLATION.Type.get(rec);

/** Stream 1: stage 1 with full ATS; pages with the permissions of 13.7's examples. */
function fullAts() {
  const b = sva();
  const s = b.stage1(1, { ste: { EATS: STE_EATS.FULL }, cd: { HA: 1, HD: 1 }, cdMax: 1 });
  s.tables.map(0x1000, DATA + 0x1000); // User-RW, Priv-RW, executable by EL0 (UXN 0)
  s.tables.map(0x2000, DATA + 0x2000, 3, { AP: TT_AP.RO_ANY });
  s.tables.map(0x3000, DATA + 0x3000, 3, { AP: TT_AP.RW_EL1 }); // privileged only: EL0 may execute (UXN 0) only
  s.tables.map(0x4000, DATA + 0x4000, 3, { UXN: 1 });
  s.tables.map(0x5000, DATA + 0x5000, 3, { AP: TT_AP.RO_ANY, DBM: 1 }); // writable-clean
  s.tables.map(0x6000, DATA + 0x6000, 3, { AF: 0 });
  s.tables.map(0x20_0000, DATA + 0x20_0000, 2); // a 2 MiB block
  return { ...b, ...s };
}

const ok = (address: number, size: number, read: boolean, write: boolean, exec = false, priv = false) => ({
  status: "success",
  address,
  size,
  read,
  write,
  exec,
  priv,
});
const NONE = (priv = false) => ok(0, PAGE, false, false, false, priv);

// Translation Completions for stream 1 (IHI 0070 13.7's examples, with the pages above), and 3.9.1.2 for faults.
const COMPLETIONS: [string, Omit<AtsRequest, "sid">, ReturnType<typeof ok>][] = [
  ["NW 0 to User-RW", { address: 0x1234, write: true }, ok(DATA + 0x1000, PAGE, true, true)],
  [
    "NW 0, Exe 1 to User-RW XN 0 (with a PASID)",
    { ssid: 1, address: 0x1000, write: true, exec: true },
    ok(
      DATA + 0x1000,
      PAGE,
      true,
      true,
      true,
    ),
  ],
  ["NW 0 to User-RO: R only", { address: 0x2000, write: true }, ok(DATA + 0x2000, PAGE, true, false)],
  ["Exe 1 to XN 1: no Exe", { ssid: 1, address: 0x4000, exec: true }, ok(DATA + 0x4000, PAGE, true, true)],
  ["Priv 0 to privileged-only (User-X): nothing", { ssid: 1, address: 0x3000, exec: true }, NONE()],
  [
    "Priv 1 to privileged-only",
    { ssid: 1, address: 0x3000, write: true, priv: true },
    ok(
      DATA + 0x3000,
      PAGE,
      true,
      true,
      false,
      true,
    ),
  ],
  ["NW 1 to writable-clean: no W", { address: 0x5000 }, ok(DATA + 0x5000, PAGE, true, false)],
  ["a block: its size", { address: 0x21_2345 }, ok(DATA + 0x20_0000, 0x20_0000, true, true)],
  ["translation fault: success, R == W == 0, the STU", { address: 0x9000, write: true }, NONE()],
  ["translation fault keeps Priv", { ssid: 1, address: 0x9000, priv: true }, NONE(true)],
];
for (const [what, req, want] of COMPLETIONS) {
  Deno.test(`ATS completion: ${what}`, () => {
    const b = fullAts();
    assert.deepEqual(b.smmu.ats.translate({ sid: 1, ...req }), want);
    assert.equal(b.driver.events().length, 0, "the SMMU does not record fault events for ATS translation failures");
  });
}

Deno.test("13.7: NW 0 to a writable-clean page marks it dirty and grants W; NW 1 leaves it clean", () => {
  const b = fullAts();
  // "When HTTU is enabled, a request having NW == 0 to a page marked writable-clean updates the page to be marked
  // Dirty and then grants Write permission"; "HTTU does not mark a page Dirty in response to a ... NW == 1."
  b.smmu.ats.translate({ sid: 1, address: 0x5000 });
  assert.equal(TT_PAGE_S1.AP.get(b.tables.leaf(0x5000)), TT_AP.RO_ANY);
  assert.deepEqual(b.smmu.ats.translate({ sid: 1, address: 0x5000, write: true }), ok(DATA + 0x5000, PAGE, true, true));
  assert.equal(TT_PAGE_S1.AP.get(b.tables.leaf(0x5000)), TT_AP.RW_ANY, "AP[2] cleared: writable-dirty");
});

Deno.test("13.7: a request granting access sets AF; one granting nothing leaves it", () => {
  // "When HTTU is in use, an ATS TR that generates a response with R == 1 || W == 1 || Exe == 1 also sets the AF".
  const b = fullAts();
  b.tables.map(0x7000, DATA + 0x7000, 3, { AF: 0, AP: TT_AP.RW_EL1, UXN: 1 }); // nothing for EL0
  b.smmu.ats.translate({ sid: 1, ssid: 1, address: 0x7000, priv: false, exec: false }); // grants nothing
  assert.equal(TT_PAGE_S1.AF.get(b.tables.leaf(0x7000)), 0);
  assert.equal(b.smmu.ats.translate({ sid: 1, address: 0x6000 }).status, "success");
  assert.equal(TT_PAGE_S1.AF.get(b.tables.leaf(0x6000)), 1);
});

Deno.test("3.9.1.2: UR with F_BAD_ATS_TREQ, UR alone, or CA, by configuration", () => {
  const b = fullAts();
  const d = b.driver;
  b.stage1(2); // EATS 0b00
  d.writeSte(3, STE_CONFIG.BYPASS, (ste) => STE.EATS.set(ste, STE_EATS.FULL));
  d.writeSte(4, STE_CONFIG.ABORT, (ste) => STE.EATS.set(ste, STE_EATS.FULL));
  d.writeSte(5, STE_CONFIG.BYPASS, (ste) => STE.V.set(ste, 0));
  // EATS 0b10 on a stage-1-only stream: "If any of the following hold, the STE is ILLEGAL ... STE.Config != 0b111".
  b.stage1(6, { ste: { EATS: STE_EATS.SPLIT } });
  d.invalidateAll();
  const status = (sid: number) => b.smmu.ats.translate({ sid, ssid: 7, address: 0x1000 }).status;
  assert.deepEqual([2, 3, 4, 5, 6].map(status), ["UR", "UR", "UR", "CA", "CA"]);
  // "Effective STE.EATS == 0b00 ... Terminated with UR status and F_BAD_ATS_TREQ generated"; "STE.Config == 0b100
  // ... F_BAD_ATS_TREQ generated"; "STE.Config == 0b000 ... Terminated with UR status" (no event); configuration
  // errors: no event without REC_CFG_ATS.
  const events = d.events();
  assert.deepEqual(events.map((e) => [type(e), EVT_F_TRANSLATION.StreamID.get(e), EVT_F_TRANSLATION.SSV.get(e)]), [
    [EVENT_TYPE.F_BAD_ATS_TREQ, 2, 1],
    [EVENT_TYPE.F_BAD_ATS_TREQ, 3, 1],
  ]);
  assert.equal(EVT_F_TRANSLATION.SubstreamID.get(events[0]), 7);
  // "SMMUEN == 0: Terminated with UR status and F_BAD_ATS_TREQ generated".
  d.enable(d.read(REG.CR0) & ~1);
  assert.equal(b.smmu.ats.translate({ sid: 1, address: 0x1000 }).status, "UR");
  assert.equal(type(d.events()[0]), EVENT_TYPE.F_BAD_ATS_TREQ);
});

Deno.test("3.9.1.2: a configuration error after the STE (a bad CD) is a CA", () => {
  const b = fullAts();
  b.stage1(7, { ste: { EATS: STE_EATS.FULL }, cd: { V: 0 } });
  assert.deepEqual(b.smmu.ats.translate({ sid: 7, address: 0x1000 }), { status: "CA" });
  assert.equal(b.driver.events().length, 0);
});

Deno.test("13.6.4: full ATS skipping stage 1 without stage 2 answers an identity mapping, R and W", () => {
  const b = sva();
  b.stage1(8, { ste: { EATS: STE_EATS.FULL, S1CDMax: 1, S1DSS: STE_S1DSS.BYPASS } });
  assert.deepEqual(b.smmu.ats.translate({ sid: 8, address: 0x1234_5678 }), ok(0x1234_5000, PAGE, true, true));
});

/** Stream 9: nested; stage 2 maps the tables' region to itself and IPA 0x9000_0000 (2 MiB) to PA 0xA000_0000. */
function nested(eats: number, s2s = 0, ats = true) {
  const b = sva(ats ? {} : { features: { ats: false, pri: false } });
  const s2 = new guest.PageTable(b.memory, b.alloc, 12, 48, 0);
  for (let a = 0x5000_0000; a < 0x5200_0000; a += 0x20_0000) s2.map(a, a, 2, {}, 2);
  s2.map(0x9000_0000, 0xa000_0000, 2, {}, 2);
  const s1 = new guest.PageTable(b.memory, b.alloc, 12, 48, 0);
  s1.map(0x1000, 0x9000_1000);
  const cd = b.alloc.alloc(64, 64);
  guest.cdAt(b.memory, cd, { V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, IPS: 5, TTB0: s1.root, ASID: 9 });
  b.driver.writeSte(9, STE_CONFIG.NESTED, (ste) => {
    STE.S1ContextPtr.setAddress(ste, cd);
    for (const [f, v] of [[STE.S2AA64, 1], [STE.S2T0SZ, 16], [STE.S2SL0, 2], [STE.S2PS, 5], [STE.S2VMID, 1]] as const) {
      f.set(ste, v);
    }
    STE.S2R.set(ste, 1);
    STE.S2S.set(ste, s2s);
    STE.S2TTB.setAddress(ste, s2.root);
    STE.EATS.set(ste, eats);
  });
  b.driver.invalidateSte(9);
  return b;
}

Deno.test("13.6.3: split-stage ATS answers the IPA; its translated traffic goes through stage 2", () => {
  // Full ATS with nesting: the PA of both stages.
  assert.deepEqual(
    nested(STE_EATS.FULL).smmu.ats.translate({ sid: 9, address: 0x1040 }),
    ok(0xa000_1000, PAGE, true, true),
  );
  // "The completion contains the IPA result from the Stage 1 translation of the requested VA"; "The largest
  // translation size is the minimum of the stage 1 and stage 2 translation sizes".
  const b = nested(STE_EATS.SPLIT);
  assert.deepEqual(b.smmu.ats.translate({ sid: 9, address: 0x1040 }), ok(0x9000_1000, PAGE, true, true));
  // "When EATS == 0b10, the Translated transaction provides an IPA. This IPA is subject to stage 2 translation
  // (which might generate faults and events)".
  assert.deepEqual(b.smmu.ats.translated({ sid: 9, address: 0x9000_1040 }), { ok: true, pa: 0xa000_1040 });
  assert.deepEqual(b.smmu.ats.translated({ sid: 9, address: 0x9400_0000, write: true }), {
    ok: false,
    fault: "F_TRANSLATION",
    event: true,
  });
  const [e] = b.driver.events();
  assert.equal(type(e), EVENT_TYPE.F_TRANSLATION);
  assert.equal(EVT_F_TRANSLATION.S2.get(e), 1);
  assert.equal(EVT_F_TRANSLATION.IPA.getAddress(e), 0x9400_0000);
  assert.equal(EVT_F_TRANSLATION.SSV.get(e), 0, "translated traffic has no PASID (IDR3.PASIDTT == 0)");
});

Deno.test("3.4: a split-stage Translated IPA beyond the IAS is a stage-1 F_ADDR_SIZE on the input address", () => {
  const b = nested(STE_EATS.SPLIT);
  // IHI 0070 3.4: with VMSAv8-64 tables only, IAS = OAS; "F_ADDR_SIZE arising from the check of the input address
  // against IAS ... is reported as a stage 1 fault" (S2 = 0), its CLASS the input address (7.3.14).
  const ias = IDR5_OAS_BITS[IDR5.OAS.get(new Uint32Array([Number(b.smmu.mmioRead(REG.IDR5, 4))]))]!;
  for (const address of [2 ** ias, 2 ** ias + 0x1040]) {
    assert.deepEqual(b.smmu.ats.translated({ sid: 9, address }), { ok: false, fault: "F_ADDR_SIZE", event: true });
    const [e] = b.driver.events();
    assert.equal(type(e), EVENT_TYPE.F_ADDR_SIZE);
    assert.deepEqual(
      [EVT_F_ADDR_SIZE.StreamID.get(e), EVT_F_ADDR_SIZE.S2.get(e), EVT_F_ADDR_SIZE.CLASS.get(e)],
      [9, 0, EVT_CLASS.IN],
    );
    assert.equal(EVT_F_ADDR_SIZE.InputAddr_HI.get(e) * 2 ** 32 + EVT_F_ADDR_SIZE.InputAddr_LO.get(e), address);
  }
  // Just inside the IAS the IPA goes on to stage 2, which does not map it: F_TRANSLATION, not an address size fault.
  assert.equal(b.smmu.ats.translated({ sid: 9, address: 2 ** ias - 0x1000 }).ok, false);
  assert.equal(type(b.driver.events()[0]), EVENT_TYPE.F_TRANSLATION);
});

// IHI 0070 5.2 EATS (this SMMU is v3.2): 0b01 "In implementations of SMMUv3.1 and later, this configuration is ILLEGAL
// if this field is not IGNORED and STE.Config == 0b11x and STE.S2S == 1." 0b10 "If any of the following hold, the
// STE is ILLEGAL (if it is not IGNORED): • STE.Config != 0b111 • STE.S2S == 1. • SMMU_IDR0.NS1ATS == 1." "This field
// is IGNORED if any of the following hold: • SMMU_IDR0.ATS == 0". "Note: There is no dependency between this field
// being non-zero and the ability for a CD to select the stall fault model with CD.S == 1."
// [what, EATS, the stream (nested with STE.S2S, or stage 1 only with STE.S2S and CD.S), ATS implemented, ILLEGAL]
type Stream = { nested: true; s2s: number; ats?: false } | { nested: false; s2s: number; s: number };
const EATS_S2S: [string, number, Stream, boolean][] = [
  ["full ATS, nested, S2S 1", STE_EATS.FULL, { nested: true, s2s: 1 }, true],
  ["split stage, nested, S2S 1", STE_EATS.SPLIT, { nested: true, s2s: 1 }, true],
  ["EATS 0b00, nested, S2S 1", STE_EATS.ABORT, { nested: true, s2s: 1 }, false],
  ["full ATS, nested, S2S 0", STE_EATS.FULL, { nested: true, s2s: 0 }, false],
  ["full ATS, stage 1 only (Config 0b101), S2S 1", STE_EATS.FULL, { nested: false, s2s: 1, s: 0 }, false],
  ["full ATS, stage 1 only, CD.S 1", STE_EATS.FULL, { nested: false, s2s: 0, s: 1 }, false],
  ["full ATS, nested, S2S 1, no ATS (IDR0.ATS 0)", STE_EATS.FULL, { nested: true, s2s: 1, ats: false }, false],
];
for (const [what, eats, stream, illegal] of EATS_S2S) {
  Deno.test(`5.2 EATS with S2S: ${what}: ${illegal ? "ILLEGAL (C_BAD_STE, a CA completion)" : "legal"}`, () => {
    let b: ReturnType<typeof sva>, iova: number, pa: number;
    if (stream.nested) [b, iova, pa] = [nested(eats, stream.s2s, stream.ats ?? true), 0x1040, 0xa000_1040];
    else {
      b = sva();
      const s = b.stage1(9, { ste: { EATS: eats, S2S: stream.s2s }, cd: { S: stream.s } });
      s.tables.map(0x1000, DATA + 0x1000);
      [iova, pa] = [0x1040, DATA + 0x1040];
    }
    const r = b.smmu.translate(9, iova);
    if (illegal) {
      assert.ok(!r.ok && r.fault === "C_BAD_STE", JSON.stringify(r));
      // IHI 0070 3.9.1.2: a Translation Request meeting a configuration error gets Completer Abort.
      assert.deepEqual(b.smmu.ats.translate({ sid: 9, address: iova }), { status: "CA" });
    } else assert.deepEqual(r, { ok: true, pa });
  });
}

Deno.test("5.2 EATS: split stage with ATSCHK 0 behaves as 0b00 (UR)", () => {
  const b = nested(STE_EATS.SPLIT);
  const d = b.driver;
  d.enable(0);
  const cr0 = new Uint32Array(1);
  for (const f of [CR0.CMDQEN, CR0.EVENTQEN, CR0.SMMUEN]) f.set(cr0, 1);
  d.enable(cr0[0]);
  assert.deepEqual(b.smmu.ats.translate({ sid: 9, address: 0x1040 }), { status: "UR" });
  assert.equal(type(d.events()[0]), EVENT_TYPE.F_BAD_ATS_TREQ);
});

Deno.test("3.9.1.3: with ATSCHK 0 translated traffic passes unchecked; with 1, EATS decides", () => {
  const b = fullAts();
  const d = b.driver;
  b.stage1(2); // EATS 0b00
  d.writeSte(3, STE_CONFIG.BYPASS);
  d.writeSte(4, STE_CONFIG.ABORT);
  d.writeSte(5, STE_CONFIG.BYPASS, (ste) => STE.V.set(ste, 0));
  d.invalidateAll();
  const t = (sid: number, write = false) => b.smmu.ats.translated({ sid, address: DATA + 0x40, write });
  assert.deepEqual(t(1), { ok: true, pa: DATA + 0x40 }, "EATS 0b01: allowed to bypass");
  // "Effective STE.EATS == 0b00: If ATSCHK == 1, F_TRANSL_FORBIDDEN and aborted"; "STE.Config == 0b100: If
  // ATSCHK == 1, F_TRANSL_FORBIDDEN and aborted"; "STE.Config == 0b000: If ATSCHK == 1, aborted."
  assert.deepEqual(t(2, true), { ok: false, fault: "F_TRANSL_FORBIDDEN", event: true });
  assert.deepEqual(t(3), { ok: false, fault: "F_TRANSL_FORBIDDEN", event: true });
  assert.deepEqual(t(4), { ok: false, fault: "ABORT", event: false });
  assert.deepEqual(t(5), { ok: false, fault: "ABORT", event: false });
  const [e2, e3] = d.events();
  assert.equal(type(e2), EVENT_TYPE.F_TRANSL_FORBIDDEN);
  assert.equal(EVT_F_TRANSL_FORBIDDEN.StreamID.get(e2), 2);
  assert.equal(EVT_F_TRANSL_FORBIDDEN.RnW.get(e2), 0, "a write");
  assert.equal(EVT_F_TRANSL_FORBIDDEN.InputAddr_LO.get(e2), (DATA + 0x40) >>> 0);
  assert.equal(EVT_F_TRANSL_FORBIDDEN.RnW.get(e3), 1);
  // ATSCHK 0: "Fast mode, all ATS Translated traffic passes through the SMMU without Stream table or TLB lookup."
  d.enable(0);
  const cr0 = new Uint32Array(1);
  for (const f of [CR0.CMDQEN, CR0.EVENTQEN, CR0.PRIQEN, CR0.SMMUEN]) f.set(cr0, 1);
  d.enable(cr0[0]);
  for (const sid of [2, 3, 4, 5]) assert.deepEqual(t(sid), { ok: true, pa: DATA + 0x40 });
  // Beyond the OAS (3.9.1.1, IMPLEMENTATION DEFINED): "terminated with an abort, and no event or fault is recorded".
  assert.deepEqual(b.smmu.ats.translated({ sid: 1, address: 2 ** 48 }), { ok: false, fault: "ABORT", event: false });
  // "SMMUEN == 0: F_TRANSL_FORBIDDEN and aborted."
  CR0.SMMUEN.set(cr0, 0);
  d.enable(cr0[0]);
  assert.deepEqual(t(1), { ok: false, fault: "F_TRANSL_FORBIDDEN", event: true });
  assert.equal(d.events().length, 1);
});

// IHI 0070 13.7.1 pseudocode, for the overrides a test bench cannot reach without IDR1.ATTR_PERMS_OVR. Allow masks
// are bit sets over normalized ACCESS flags: U = unprivileged bits, P = privileged.
const R = 1 << 0, W = 1 << ACCESS.WRITE, X = 1 << ACCESS.EXEC;
const PR = 1 << ACCESS.PRIV, PW = 1 << (ACCESS.PRIV | ACCESS.WRITE), PX = 1 << (ACCESS.PRIV | ACCESS.EXEC);
const GRANTS: [string, number, boolean, boolean, number, number, [boolean, boolean, boolean]][] = [
  // "TC.Exe = TR.Exe && ttd_RX; // Granting X implies granting R ... An execute-only (XO) translation grants no access".
  ["incoming, XO page, Exe", X, false, true, STE_PRIVCFG.INCOMING, STE_INSTCFG.INCOMING, [false, false, false]],
  ["incoming, RX page, Exe", R | X, false, true, STE_PRIVCFG.INCOMING, STE_INSTCFG.INCOMING, [true, false, true]],
  // "INST: TC.R = ttd_X; TC.Exe = TR.Exe && ttd_X ... An XO translation can grant R&Exe".
  ["INSTCFG instruction, XO page", X, false, true, STE_PRIVCFG.INCOMING, STE_INSTCFG.INSTR, [true, false, true]],
  // "DATA: ... TC.R = ttd_R; TC.Exe = TR.Exe && ttd_R".
  ["INSTCFG data, R page", R, false, true, STE_PRIVCFG.INCOMING, STE_INSTCFG.DATA, [true, false, true]],
  // "a TR with 'NW == 0, Exe == 0, Priv == 1' with PRIVCFG == Unprivileged, and page permissions of 'User-RO,
  // Priv-RW', returns a Translation Completion with 'R == 1, W == 0, Exe == 0, Priv == 1'."
  ["PRIVCFG unprivileged", R | PR | PW, true, false, STE_PRIVCFG.UNPRIV, STE_INSTCFG.INCOMING, [true, false, false]],
  ["PRIVCFG privileged", PR | PW | PX, false, true, STE_PRIVCFG.PRIV, STE_INSTCFG.INCOMING, [true, true, true]],
  ["no PRIVCFG, privileged request", R | PR | PW, true, false, STE_PRIVCFG.INCOMING, STE_INSTCFG.INCOMING, [
    true,
    true,
    false,
  ]],
  ["write grant follows W", R | W, false, false, STE_PRIVCFG.INCOMING, STE_INSTCFG.INCOMING, [true, true, false]],
];
for (const [what, allow, priv, exec, privcfg, instcfg, [r, w, x]] of GRANTS) {
  Deno.test(`13.7.1 grant: ${what}`, () => {
    assert.deepEqual(grant(allow, priv, exec, privcfg, instcfg), { read: r, write: w, exec: x });
  });
}

Deno.test("the ATC round trip: requests fill it, CMD_ATC_INV + CMD_SYNC empty it, a remap is seen after", () => {
  const b = fullAts();
  const atc = new Atc(b.smmu.ats, b.memory, 1);
  b.atcHooks.push((inv) => atc.invalidate(inv));
  b.memory.write(DATA + 0x1010, Uint8Array.of(1, 2, 3, 4));
  const buf = new Uint8Array(4);
  assert.deepEqual(atc.read(0x1010, buf), { ok: true });
  assert.deepEqual([...buf], [1, 2, 3, 4]);
  atc.read(0x1010, buf);
  assert.equal(atc.requests, 1, "the second access hits the ATC");
  // The guest moves the page: the ATC still translates to the old page until invalidated (the ATC is a cache).
  b.tables.map(0x1000, DATA + 0x9000);
  b.memory.write(DATA + 0x9010, Uint8Array.of(9, 9, 9, 9));
  atc.read(0x1010, buf);
  assert.deepEqual([...buf], [1, 2, 3, 4]);
  // "after a change of translation configuration, an ATS Invalidate Request must be preceded by SMMU TLB
  // invalidation" (IHI 0070 3.9.1): TLBI, then CMD_ATC_INV and CMD_SYNC.
  b.driver.invalidateAll();
  assert.ok(b.driver.atcInvalidate(1, -1, 0x1000, 0));
  assert.equal(atc.entries.length, 0);
  atc.read(0x1010, buf);
  assert.deepEqual([...buf], [9, 9, 9, 9]);
  assert.equal(atc.requests, 2);
});

Deno.test("the ATC writes only through a completion granting W: a read-only one is not used for a write", () => {
  // IHI 0070 13.7 / PCIe ATS: a Translation Completion's W says whether the endpoint may write through it; without
  // W the endpoint must not send a Translated write (it may ask again, or page-request).
  const b = fullAts();
  const atc = new Atc(b.smmu.ats, b.memory, 1);
  assert.deepEqual(atc.write(0x1010, Uint8Array.of(7, 8)), { ok: true });
  const at = (pa: number) => {
    const buf = new Uint8Array(2);
    assert.ok(b.memory.read(pa, buf));
    return [...buf];
  };
  assert.deepEqual(at(DATA + 0x1010), [7, 8]);
  const ro = atc.read(0x2010, new Uint8Array(2));
  assert.deepEqual(ro, { ok: true });
  const w = atc.write(0x2010, Uint8Array.of(9, 9));
  assert.ok(!w.ok && "denied" in w && w.denied.status === "success" && w.denied.read && !w.denied.write);
  assert.deepEqual([w.done, w.address], [0, 0x2010]);
  assert.equal(atc.requests, 3, "the read-only entry did not answer the write: a new request was sent");
  assert.deepEqual(at(DATA + 0x2010), [0, 0]);
});

Deno.test("the page request round trip: no permission, PRI request, guest maps and answers, the retry succeeds", () => {
  const b = fullAts();
  const atc = new Atc(b.smmu.ats, b.memory, 1);
  b.atcHooks.push((inv) => atc.invalidate(inv));
  const VA = 0x40_0000;
  b.memory.write(DATA + 0x77_7008, Uint8Array.of(5, 6, 7, 8));
  // 1. The endpoint's access fails in its ATC: the completion grants nothing ("R == W == 0").
  const first = atc.read(VA + 8, new Uint8Array(4));
  assert.ok(!first.ok && "denied" in first && first.denied.status === "success" && !first.denied.read);
  // 2. It sends a page request (3.9.1: "If an ATS request fails with a not-present result, the endpoint issues a PRI
  // page request"), the last of group 3.
  let retried: ReturnType<Atc["read"]> | null = null;
  const buf = new Uint8Array(4);
  b.responses.length = 0;
  assert.equal(b.smmu.pri.request({ sid: 1, address: VA + 8, read: true, group: 3, last: true }), "queued");
  // 3. The guest's PRI handler finds the record, maps the page, and answers the group with CMD_PRI_RESP.
  const [rec] = b.driver.pageRequests();
  assert.equal(PRI_RECORD.Address.getAddress(rec), VA);
  b.tables.map(PRI_RECORD.Address.getAddress(rec), DATA + 0x77_7000);
  b.driver.priResponse(PRI_RECORD.StreamID.get(rec), -1, PRI_RECORD.PRGIndex.get(rec), CMD_PRI_RESP_RESP.SUCCESS);
  // 4. The response reaches the endpoint, which retries: a new request, granted, and the DMA completes.
  assert.deepEqual(b.responses.map((r) => [r.sid, r.prgIndex, r.code, r.auto]), [[1, 3, 0, false]]);
  retried = atc.read(VA + 8, buf);
  assert.deepEqual(retried, { ok: true });
  assert.deepEqual([...buf], [5, 6, 7, 8]);
  assert.equal(b.driver.events().length, 0);
});

const BAD_REQUESTS: [string, unknown, RegExp][] = [
  ["sid", { sid: 1.5, address: 0 }, /sid 1.5/],
  ["ssid", { sid: 1, ssid: -1, address: 0 }, /ssid -1/],
  ["address", { sid: 1, address: 2 ** 60 }, /address/],
  ["address", { sid: 1, address: 1n << 65n }, /address/],
  ["write", { sid: 1, address: 0, write: "yes" }, /write/],
  ["priv without a PASID", { sid: 1, address: 0, priv: true }, /exec and priv/],
];
for (const [what, req, message] of BAD_REQUESTS) {
  Deno.test(`ats.translate refuses a bad ${what} with a HostError and changes nothing`, () => {
    const b = fullAts();
    const leaf = b.tables.leaf(0x6000).join();
    assert.throws(
      () => b.smmu.ats.translate(req as AtsRequest),
      (e) => e instanceof HostError && message.test(e.message),
    );
    assert.equal(b.tables.leaf(0x6000).join(), leaf);
    assert.equal(b.smmu.stats.translation.translations, 0);
  });
}

Deno.test("ats.translated refuses a bad address; ATS calls need IDR0.ATS", () => {
  const b = fullAts();
  assert.throws(() => b.smmu.ats.translated({ sid: 1, address: -1 }), /address -1/);
  assert.throws(() => b.smmu.ats.translated({ sid: 1, address: 0, write: 1 as never }), /write/);
  assert.equal(b.driver.events().length, 0);
  const plain = new Smmu({ memory: new SparseMemory(), features: { ats: false } });
  assert.throws(() => plain.ats.translate({ sid: 0, address: 0 }), /does not advertise ATS/);
  assert.throws(() => plain.ats.translated({ sid: 0, address: 0 }), /does not advertise ATS/);
});

Deno.test("6.3.9.6: with SMMUEN 0 CMD_ATC_INV is ignored (the endpoint hears nothing, the CMD_SYNC completes)", () => {
  const b = fullAts();
  b.driver.enable(b.driver.read(REG.CR0) & ~1);
  b.invalidations.length = 0;
  b.atcHooks.push(() => false); // an endpoint that would fail it
  assert.ok(b.driver.atcInvalidate(1, -1, 0, 52), "CMD_SYNC consumed: no CERROR_ATC_INV_SYNC");
  assert.deepEqual(b.invalidations, [], "CMD_ATC_INV and CMD_PRI_RESP commands are ignored");
});
