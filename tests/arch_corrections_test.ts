/**
 * Architecture corrections (issue 12): one test per item, each expectation taken from the IHI 0070 text it quotes.
 * Every test drives the device through the public API as a guest would (registers, tables in guest memory, commands)
 * and reads the event records from the event queue.
 */
import assert from "node:assert/strict";
import {
  CD_IPS,
  CMD_ATC_INV,
  CMD_CFGI_CD,
  CMD_SYNC,
  CMD_SYNC_CS,
  CMD_TLBI_NH_VA,
  CMD_TLBI_TG,
  CMDQ_CONS_ERR,
  EVENT_TYPE,
  EVT_CLASS,
  EVT_F_TRANSLATION,
  EVT_F_UUT,
  EVT_F_WALK_EABT,
  IDR0,
  IDR3,
  IRQ_CTRL,
  OPCODE,
  REG,
  STE,
  STE_CONFIG,
  STE_S1DSS,
  STE_S2TG,
  TT_AP,
  TT_S2AP,
  TT_S2XN,
} from "../gen/mod.ts";
import { guest, Smmu, SparseMemory } from "../mod.ts";
import type { EndpointHooks, SmmuFeatures } from "../mod.ts";
import { type Bench, bench, cd, onlyEvent, PAGE, stage2 } from "./helpers/guest_bench.ts";

const DATA = 0x8000_0000; // where DMA data lands (identity-mapped at stage 2)

/** The fields of a translation-related record (F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION share a layout). */
function fields(e: Uint32Array) {
  const f = EVT_F_TRANSLATION;
  return {
    type: EVT_F_UUT.Type.get(e),
    s2: f.S2.get(e),
    class: f.CLASS.get(e),
    ttrnw: f.TTRnW.get(e),
    rnw: f.RnW.get(e),
    ipa: f.IPA.getAddress(e),
    input: f.InputAddr_LO.get(e) + f.InputAddr_HI.get(e) * 2 ** 32,
  };
}

/**
 * A nested stream: stage-1 tables, CD and data in IPA space, stage 2 mapping every page the stage-1 allocator handed
 * out (and the data page) to the same PA, read/write. Returns the stage-1 tables and stage 2 to change.
 */
function nested(b: Bench, sid: number, cdExtra: guest.Values, steExtra: Record<string, number> = {}) {
  const s1 = new guest.PageTable(b.memory, b.alloc, 12, 48, 0);
  const cdAddr = cd(b, s1.root, cdExtra);
  const s2 = new guest.PageTable(b.memory, new guest.Allocator(0x6000_0000), 12, 40, 1);
  const finish = () => {
    for (let p = 0x5000_0000; p < b.alloc.next; p += PAGE) s2.map(p, p, 3, {}, 2);
    s2.map(DATA, DATA, 2, {}, 2); // a 2 MiB block of data
    b.driver.writeSte(sid, STE_CONFIG.NESTED, (ste) => {
      STE.S1ContextPtr.setAddress(ste, cdAddr);
      stage2(ste, s2.root, steExtra);
    });
    b.driver.invalidateSte(sid);
  };
  return { s1, s2, finish };
}

const pageOf = (a: number) => a - (a % PAGE);

// ------------------------------------------------------------------------------------------------------ item 1

Deno.test("issue 12 item 1: a nested hardware update is a stage-1 table write, checked by stage 2 (IHI 0070 3.13.5)", () => {
  // IHI 0070 3.13.5: "Because a stage 1 descriptor hardware update is a write, the stage 2 mapping for its IPA must
  // allow writes for the update to succeed." 7.3.16 F_PERMISSION: "TTRnW indicates the read/write property that actually caused the fault: 0
  // Translation table descriptor Write caused S2 Permission fault ... Note: For example, an input read might end up
  // causing a translation table walk write permissions fault at stage 2, when HTTU updates a stage 1 Access flag."
  // "Note: When CLASS == TT, the IPA field indicates the stage 1 translation table entry address."
  const cases: {
    what: string;
    level: number;
    leaf: guest.Values;
    cd: guest.Values;
    write: boolean;
    s2: guest.Values;
  }[] = [
    {
      what: "AF of a page, stage 2 read-only",
      level: 3,
      leaf: { AF: 0 },
      cd: { HA: 1 },
      write: false,
      s2: { S2AP: TT_S2AP.RO },
    },
    {
      what: "AF of a 2 MiB block, stage 2 read-only",
      level: 2,
      leaf: { AF: 0 },
      cd: { HA: 1 },
      write: false,
      s2: { S2AP: TT_S2AP.RO },
    },
    {
      what: "dirty state (DBM) of a page, stage 2 read-only",
      level: 3,
      leaf: { AP: TT_AP.RO_ANY, DBM: 1 },
      cd: { HA: 1, HD: 1 },
      write: true,
      s2: { S2AP: TT_S2AP.RO },
    },
    {
      what: "AF of a page for a write, stage 2 read-only",
      level: 3,
      leaf: { AF: 0 },
      cd: { HA: 1 },
      write: true,
      s2: { S2AP: TT_S2AP.RO },
    },
  ];
  for (const c of cases) {
    const b = bench();
    const { s1, s2, finish } = nested(b, 1, c.cd);
    const iova = c.level === 3 ? 0x1000 : 0x20_0000;
    const desc = s1.map(iova, DATA, c.level, c.leaf);
    finish();
    s2.map(pageOf(desc), pageOf(desc), 3, c.s2, 2); // the page of the leaf's table, as stage 2 now maps it
    b.driver.invalidateAll();
    const before = [b.memory.read32(desc), b.memory.read32(desc + 4)];
    const r = b.smmu.translate(1, iova + 0x10, { write: c.write });
    assert.deepEqual(r, { ok: false, fault: "F_PERMISSION", event: true }, c.what);
    const e = fields(onlyEvent(b));
    assert.deepEqual(
      { s2: e.s2, class: e.class, ttrnw: e.ttrnw, ipa: e.ipa, input: e.input, rnw: e.rnw },
      { s2: 1, class: EVT_CLASS.TT, ttrnw: 0, ipa: pageOf(desc), input: iova + 0x10, rnw: c.write ? 0 : 1 },
      c.what,
    );
    assert.deepEqual([b.memory.read32(desc), b.memory.read32(desc + 4)], before, `${c.what}: memory unchanged`);
  }
});

Deno.test("issue 12 item 1: a stage-2 writable table page takes the update; a writable-clean one becomes dirty first", () => {
  // The same stage-1 Access flag update where stage 2 permits the write: the update happens (IHI 0070 3.13.2). With
  // STE.S2HD and a DBM stage-2 descriptor, the update is a write through stage 2 (3.13.5: "one access might result in
  // several descriptor updates") that marks it writable-dirty first (3.13.3.1: "atomically sets ... S2AP[1] == 1").
  for (const s2Dirty of [false, true]) {
    const b = bench();
    const { s1, s2, finish } = nested(b, 1, { HA: 1 }, s2Dirty ? { S2HA: 1, S2HD: 1 } : {});
    const desc = s1.map(0x1000, DATA, 3, { AF: 0 });
    finish();
    const s2Desc = s2.map(pageOf(desc), pageOf(desc), 3, s2Dirty ? { S2AP: TT_S2AP.RO, DBM: 1 } : {}, 2);
    b.driver.invalidateAll();
    assert.deepEqual(b.smmu.translate(1, 0x1010, {}), { ok: true, pa: DATA + 0x10 });
    assert.equal(guest.s1Leaf(s1.leaf(0x1000)).af, 1, "AF set by the walk");
    if (s2Dirty) assert.equal(b.memory.read32(s2Desc) >>> 6 & 3, TT_S2AP.RW, "stage 2 marked dirty (writable)");
    assert.equal(b.driver.events().length, 0);
  }
});

// ------------------------------------------------------------------------------------------------------ item 2

Deno.test("issue 12 item 2: a stage-2 fault on a stage-1 table read records TTRnW = 1 (IHI 0070 7.3.13-7.3.16)", () => {
  // IHI 0070 7.3.13: "If walking stage 1 translation table, CLASS == TT, IPA is the stage 1 translation table
  // descriptor address"; 7.3.16: "1 Translation table descriptor Read caused S2 Permission fault". The other
  // translation-related records refer to F_TRANSLATION's definition of these fields.
  const cases: [string, (s2: guest.PageTable, page: number) => void, string][] = [
    ["leaf table page unmapped at stage 2", (s2, p) => s2.raw(p, 3, 0), "F_TRANSLATION"],
    ["leaf table page no access at stage 2", (s2, p) => s2.map(p, p, 3, { S2AP: TT_S2AP.NONE }, 2), "F_PERMISSION"],
    ["leaf table page with AF = 0 at stage 2", (s2, p) => s2.map(p, p, 3, { AF: 0 }, 2), "F_ACCESS"],
  ];
  for (const [what, change, fault] of cases) {
    const b = bench();
    const { s1, s2, finish } = nested(b, 1, {});
    const desc = s1.map(0x1000, DATA, 3);
    finish();
    change(s2, pageOf(desc));
    b.driver.invalidateAll();
    assert.deepEqual(b.smmu.translate(1, 0x1010, { write: true }), { ok: false, fault, event: true }, what);
    const e = fields(onlyEvent(b));
    assert.deepEqual(
      { s2: e.s2, class: e.class, ttrnw: e.ttrnw, ipa: e.ipa, rnw: e.rnw },
      { s2: 1, class: EVT_CLASS.TT, ttrnw: 1, ipa: pageOf(desc), rnw: 0 },
      what,
    );
  }
});

// ------------------------------------------------------------------------------------------------------ item 3

Deno.test("issue 12 item 3: stage-1 fault records carry S2 = 0 and CLASS = IN; a stage-1 walk abort CLASS = TT", () => {
  // IHI 0070 7.3.13: "If fault occurs at stage 1, S2 == 0 and: CLASS == IN, IPA is UNKNOWN." F_ADDR_SIZE, F_ACCESS and
  // F_PERMISSION "Refer to F_TRANSLATION for the definition of the CLASS, IPA and S2 fields" (7.3.14-7.3.16).
  // 7.3.12 F_WALK_EABT: "A stage 1-only table walk that encounters EABT ... is reported as S2 == 0 (stage 1),
  // CLASS == TT."
  for (const nestedStream of [false, true]) {
    const b = bench();
    let s1: guest.PageTable;
    // CD.IPS = 32 bits: an output at 2^33 is beyond it.
    if (nestedStream) {
      const n = nested(b, 1, { IPS: CD_IPS.BITS_32 });
      s1 = n.s1;
      s1.map(0x2000, DATA, 3, { AF: 0 });
      s1.map(0x3000, DATA, 3, { AP: TT_AP.RO_ANY });
      s1.map(0x4000, 2 ** 33, 3);
      n.finish();
    } else {
      s1 = new guest.PageTable(b.memory, b.alloc, 12, 48, 0);
      s1.map(0x2000, DATA, 3, { AF: 0 });
      s1.map(0x3000, DATA, 3, { AP: TT_AP.RO_ANY });
      s1.map(0x4000, 2 ** 33, 3);
      const at = cd(b, s1.root, { IPS: CD_IPS.BITS_32 });
      b.driver.writeSte(1, STE_CONFIG.S1_TRANS, (ste) => STE.S1ContextPtr.setAddress(ste, at));
      b.driver.invalidateSte(1);
    }
    const cases: [number, boolean, string][] = [
      [0x9000, false, "F_TRANSLATION"],
      [0x2000, false, "F_ACCESS"],
      [0x3000, true, "F_PERMISSION"],
      [0x4000, false, "F_ADDR_SIZE"],
    ];
    for (const [iova, write, fault] of cases) {
      assert.deepEqual(b.smmu.translate(1, iova, { write }), { ok: false, fault, event: true });
      const e = fields(onlyEvent(b));
      assert.deepEqual([e.s2, e.class], [0, EVT_CLASS.IN], `${fault}, nested ${nestedStream}`);
    }
  }
  const b = bench();
  const at = cd(b, 2 ** 41); // TTB0 where no memory answers: the walk's first read aborts
  b.driver.writeSte(1, STE_CONFIG.S1_TRANS, (ste) => STE.S1ContextPtr.setAddress(ste, at));
  b.driver.invalidateSte(1);
  assert.deepEqual(b.smmu.translate(1, 0x1000, {}), { ok: false, fault: "F_WALK_EABT", event: true });
  const e = onlyEvent(b);
  assert.deepEqual([EVT_F_WALK_EABT.S2.get(e), EVT_F_WALK_EABT.CLASS.get(e)], [0, EVT_CLASS.TT]);
});

// ------------------------------------------------------------------------------------------------------ item 4

Deno.test("issue 12 item 4: an input address beyond the IAS/OAS where stage 1 is bypassed is a recorded F_ADDR_SIZE", () => {
  // IHI 0070 3.4: "When a stream selects an STE with STE.Config == 0b100, transactions bypass all stages of
  // translation. If the input address of a transaction exceeds the size of the OAS, the transaction is terminated
  // with an abort and a stage 1 Address Size fault (F_ADDR_SIZE) is recorded." "If bypassing stage 1 (because
  // STE.Config == 0b1x0, STE.S1DSS == 0b01 or if unimplemented) ... If the input address of a transaction exceeds the
  // size of the IAS, a stage 1 Address Size fault occurs ... Otherwise, the address might still lie outside the range
  // that stage 2 will accept. In this case, the stage 2 check 1 ... causes a stage 2 Translation fault."
  // 7.3.14: "If caused by stage 1 translation bypass ..., CLASS == IN and S2 == 0." IAS = OAS (VMSAv8-64 only).
  const oas = 2 ** 44;
  const b = bench({ oas: 44 });
  b.driver.writeSte(1, STE_CONFIG.BYPASS);
  // S1DSS bypass without stage 2: a stage-1 STE whose transactions without a SubstreamID skip stage 1.
  const at = cd(b, new guest.PageTable(b.memory, b.alloc, 12, 48, 0).root);
  b.driver.writeSte(2, STE_CONFIG.S1_TRANS, (ste) => {
    STE.S1ContextPtr.setAddress(ste, at);
    STE.S1CDMax.set(ste, 1);
    STE.S1DSS.set(ste, STE_S1DSS.BYPASS);
  });
  const s2 = new guest.PageTable(b.memory, new guest.Allocator(0x6000_0000), 12, 40, 1);
  s2.map(0x1000, DATA, 3, {}, 2);
  b.driver.writeSte(3, STE_CONFIG.S2_TRANS, (ste) => stage2(ste, s2.root));
  b.driver.invalidateAll();
  for (const [sid, iova] of [[1, oas], [1, -0x1000], [2, oas + 0x1234], [3, oas], [3, 2 ** 50]]) {
    assert.deepEqual(b.smmu.translate(sid, iova, {}), { ok: false, fault: "F_ADDR_SIZE", event: true }, `${sid}`);
    const e = fields(onlyEvent(b));
    assert.deepEqual([e.s2, e.class, e.input], [0, EVT_CLASS.IN, iova < 0 ? 2 ** 64 + iova : iova], `${sid} ${iova}`);
  }
  assert.deepEqual(b.smmu.translate(1, oas - PAGE, {}), { ok: true, pa: oas - PAGE });
  // Within the IAS but beyond S2T0SZ (40 bits): stage 2's own range check, a stage-2 F_TRANSLATION of the input.
  assert.deepEqual(b.smmu.translate(3, 2 ** 40, {}), { ok: false, fault: "F_TRANSLATION", event: true });
  const e = fields(onlyEvent(b));
  assert.deepEqual([e.s2, e.class, e.ipa], [1, EVT_CLASS.IN, 2 ** 40]);
  // With SMMUEN = 0 the same address aborts with no event (IHI 0070 3.4).
  b.driver.write(REG.CR0, 0xc);
  assert.deepEqual(b.smmu.translate(7, oas, {}), { ok: false, fault: "ABORT", event: false });
});

// ------------------------------------------------------------------------------------------------------ item 5

Deno.test("issue 12 item 5: S2T0SZ, S2SL0 and S2TTB outside their bounds make the STE ILLEGAL (IHI 0070 5.2)", () => {
  // IHI 0070 5.2 S2T0SZ: "In architectures after SMMUv3.0: If STE.S2TG selects a 4KB or 16KB granule ..., the minimum
  // valid value for this field is MAX(16, 64-IAS). Otherwise, the minimum valid value for this field is MAX(12,
  // 64-IAS)." "If SMMU_IDR3.STT == 0, the maximum valid value is 39. If SMMU_IDR3.STT == 1, the maximum valid value is
  // 48 ... 47, when STE.S2TG selects a 64KB granule." "In implementations of SMMUv3.1 and later, an STE is treated as
  // ILLEGAL if it contains a STE.S2T0SZ value out of range". S2SL0: "it is ILLEGAL for the configuration of
  // STE.{S2SL0_2, S2SL0} to be inconsistent with STE.S2T0SZ and STE.S2TG" (as the A-profile VTCR_EL2.SL0: a 4 KiB
  // level-3 start needs FEAT_TTST, a 4 KiB level-0 start a 44-bit PA). S2TTB: "ILLEGAL for the address in this field
  // to be outside of a 48-bit range when ... STE.S2TG selects a granule smaller than 64KB".
  const cases: [string, SmmuFeatures, Record<string, number>, boolean][] = [
    ["S2T0SZ 19 with a 44-bit IAS", { oas: 44 }, { S2T0SZ: 19, S2SL0: 1 }, false],
    ["S2T0SZ 20 with a 44-bit IAS", { oas: 44 }, { S2T0SZ: 20, S2SL0: 2 }, true],
    ["S2T0SZ 23 with a 40-bit IAS", { oas: 40 }, { S2T0SZ: 23, S2SL0: 1 }, false],
    ["S2T0SZ 24 with a 40-bit IAS", { oas: 40 }, { S2T0SZ: 24, S2SL0: 1 }, true],
    ["64 KiB S2T0SZ 12 with a 52-bit IAS", { oas: 52 }, { S2TG: STE_S2TG.GRAN_64K, S2T0SZ: 12, S2SL0: 2 }, true],
    ["64 KiB S2T0SZ 13 with a 48-bit IAS", { oas: 48 }, { S2TG: STE_S2TG.GRAN_64K, S2T0SZ: 13, S2SL0: 2 }, false],
    ["S2T0SZ 40 without STT", { smallTables: false }, { S2T0SZ: 40, S2SL0: 0 }, false],
    ["S2T0SZ 48 with STT, 4 KiB level-3 start", {}, { S2T0SZ: 48, S2SL0: 3 }, true],
    ["4 KiB level-3 start without STT", { smallTables: false }, { S2T0SZ: 39, S2SL0: 3 }, false],
    ["4 KiB level-0 start with a 40-bit PA", { oas: 40 }, { S2T0SZ: 24, S2SL0: 2 }, false],
    ["4 KiB level-0 start with a 44-bit PA", { oas: 44 }, { S2T0SZ: 24, S2SL0: 2 }, true],
    ["S2TTB at 2^48 with 4 KiB and 52-bit S2PS", { oas: 52 }, { S2PS: 6, S2TTB: 2 ** 48 }, false],
  ];
  for (const [what, features, over, valid] of cases) {
    const b = bench(features);
    b.driver.writeSte(1, STE_CONFIG.S2_TRANS, (ste) => {
      stage2(ste, 0x6000_0000);
      for (const [k, v] of Object.entries(over)) {
        if (k === "S2TTB") STE.S2TTB.setAddress(ste, v);
        else (STE as unknown as guest.Fields)[k].set(ste, v);
      }
    });
    b.driver.invalidateSte(1);
    const r = b.smmu.translate(1, 0x1000, {});
    // A valid STE walks its (empty) tables: a stage-2 F_TRANSLATION; an ILLEGAL one is C_BAD_STE.
    assert.deepEqual(r, { ok: false, fault: valid ? "F_TRANSLATION" : "C_BAD_STE", event: true }, what);
  }
});

// ------------------------------------------------------------------------------------------------------ item 6

Deno.test("issue 12 item 6: with S1DSS = substream 0, SubstreamID 0 is terminated with F_STREAM_DISABLED", () => {
  // IHI 0070 5.2 S1DSS 0b10: "Transactions that include a substream and select Substream 0 are terminated. An abort
  // is reported to the device and the F_STREAM_DISABLED event is recorded."
  const b = bench();
  const s1 = new guest.PageTable(b.memory, b.alloc, 12, 48, 0);
  s1.map(0x1000, DATA, 3);
  const table = guest.cdTable(b.memory, b.alloc, 2);
  for (const ssid of [0, 1]) {
    guest.cdAt(b.memory, table.cd(ssid), {
      V: 1,
      AA64: 1,
      A: 1,
      R: 1,
      EPD1: 1,
      T0SZ: 16,
      IPS: 5,
      TTB0: s1.root,
      ASID: 1 + ssid,
    });
  }
  b.driver.writeSte(1, STE_CONFIG.S1_TRANS, (ste) => {
    STE.S1ContextPtr.setAddress(ste, table.ptr);
    STE.S1CDMax.set(ste, 2);
    STE.S1DSS.set(ste, STE_S1DSS.SSID0);
  });
  b.driver.invalidateSte(1);
  assert.deepEqual(b.smmu.translate(1, 0x1000, {}), { ok: true, pa: DATA }, "no SubstreamID: CD 0");
  assert.deepEqual(b.smmu.translate(1, 0x1000, { ssid: 1 }), { ok: true, pa: DATA });
  assert.deepEqual(b.smmu.translate(1, 0x1000, { ssid: 0 }), { ok: false, fault: "F_STREAM_DISABLED", event: true });
  const e = onlyEvent(b);
  assert.deepEqual([EVT_F_UUT.Type.get(e), EVT_F_UUT.StreamID.get(e)], [EVENT_TYPE.F_STREAM_DISABLED, 1]);
});

// ------------------------------------------------------------------------------------------------------ item 7

Deno.test("issue 12 item 7: command legality: CFGI_CD(_ALL) and EL2 TLBIs need stage 1; reserved range TLBIs", () => {
  // IHI 0070 4.3.3/4.3.4: CMD_CFGI_CD and CMD_CFGI_CD_ALL "raise CERROR_ILL when stage 1 is not implemented"; 4.4.2:
  // the stage-1 TLBIs (CMD_TLBI_NH_*, CMD_TLBI_EL2_*) "On a stage 2-only SMMU, they result in CERROR_ILL". 4.4.1.1:
  // "The parameter combination of NUM == 0, SCALE == 0 and TTL = 0b00 is Reserved. Use of this Reserved combination of
  // parameters causes CERROR_ILL", and with TG = 16KB, TTL = 0b01 is "Reserved, and hardware treats as TTL == 0b00"
  // ("a TLBI configured with TG == 0b10 and TTL == 0b01, raises a CERROR_ILL, since TTL is treated as 0b00").
  const range = (tg: number, ttl: number, num: number) => (w: Uint32Array) => {
    CMD_TLBI_NH_VA.TG.set(w, tg);
    CMD_TLBI_NH_VA.TTL.set(w, ttl);
    CMD_TLBI_NH_VA.NUM.set(w, num);
  };
  const cases: [string, SmmuFeatures, number, ((w: Uint32Array) => void) | undefined, number][] = [
    ["CFGI_CD without stage 1", { stage1: false }, OPCODE.CFGI_CD, (w) => CMD_CFGI_CD.StreamID.set(w, 1), 1],
    ["CFGI_CD_ALL without stage 1", { stage1: false }, OPCODE.CFGI_CD_ALL, undefined, 1],
    ["CFGI_CD with stage 1", {}, OPCODE.CFGI_CD, undefined, 0],
    ["TLBI_EL2_ALL with Hyp but no stage 1", { stage1: false, hyp: true }, OPCODE.TLBI_EL2_ALL, undefined, 1],
    ["TLBI_EL2_ALL with Hyp and stage 1", { hyp: true }, OPCODE.TLBI_EL2_ALL, undefined, 0],
    ["NH_VA, TG 16 KiB, TTL 0b01, NUM 0", {}, OPCODE.TLBI_NH_VA, range(CMD_TLBI_TG.GRAN_16K, 1, 0), 1],
    ["NH_VA, TG 16 KiB, TTL 0b01, NUM 1", {}, OPCODE.TLBI_NH_VA, range(CMD_TLBI_TG.GRAN_16K, 1, 1), 0],
    ["NH_VA, TG 4 KiB, TTL 0b01, NUM 0", {}, OPCODE.TLBI_NH_VA, range(CMD_TLBI_TG.GRAN_4K, 1, 0), 0],
    ["S2_IPA, TG 16 KiB, TTL 0b01, NUM 0", {}, OPCODE.TLBI_S2_IPA, range(CMD_TLBI_TG.GRAN_16K, 1, 0), 1],
    ["S2_IPA, TG 64 KiB, TTL 0b01, NUM 0", {}, OPCODE.TLBI_S2_IPA, range(CMD_TLBI_TG.GRAN_64K, 1, 0), 0],
  ];
  for (const [what, features, op, fill, ill] of cases) {
    const b = bench(features);
    const cons = b.driver.consIndex();
    b.driver.issue(guest.command(op, fill));
    assert.equal(b.driver.consError(), ill ? CMDQ_CONS_ERR.CERROR_ILL : CMDQ_CONS_ERR.CERROR_NONE, what);
    assert.equal(b.driver.consIndex(), ill ? cons : cons + 1, what);
  }
});

// ------------------------------------------------------------------------------------------------------ item 8

Deno.test("issue 12 item 8: wired interrupts are pulsed beside MSIs (IHI 0070 3.18.2, 4.7.3)", () => {
  // IHI 0070 3.18.2: "If enabled, a pulse is asserted on a unique wired interrupt output, if this is implemented. If
  // enabled, an MSI is sent if MSIs are supported and if the MSI configuration of the source enables the sending of
  // an MSI by using an ADDR value that is not zero." 4.7.3 SIG_IRQ: "On implementations that support wired
  // interrupts, an event on a unique wired interrupt output is asserted on this signal, regardless of the value of
  // MSIAddress."
  const wired: string[] = [];
  const msis: number[] = [];
  const b = bench({}, {
    interrupts: { eventq: () => wired.push("eventq"), cmdqSync: () => wired.push("cmdqSync") },
    onMsi: (_, d) => void msis.push(d),
  });
  b.driver.write(REG.IRQ_CTRL, 0);
  b.driver.write64(REG.EVENTQ_IRQ_CFG0, 0x7000_0000, 0);
  b.driver.write(REG.EVENTQ_IRQ_CFG1, 0xe0);
  const on = new Uint32Array(1);
  IRQ_CTRL.EVENTQ_IRQEN.set(on, 1);
  b.driver.write(REG.IRQ_CTRL, on[0]);
  assert.deepEqual(b.smmu.translate(5, 0x1000, {}), { ok: false, fault: "C_BAD_STE", event: true }); // STE 5 is 0
  assert.deepEqual([wired, msis], [["eventq"], [0xe0]], "the event queue: wired and MSI");
  b.driver.sync((w) => {
    CMD_SYNC.CS.set(w, CMD_SYNC_CS.SIG_IRQ);
    CMD_SYNC.MSIAddress.setAddress(w, 0x7000_0100);
    CMD_SYNC.MSIData.set(w, 0x5c);
  });
  assert.deepEqual([wired, msis], [["eventq", "cmdqSync"], [0xe0, 0x5c]], "CMD_SYNC: wired and MSI");
});

// ------------------------------------------------------------------------------------------------------ item 9

Deno.test("issue 12 item 9: a pending CMD_ATC_INV failure survives save and restore", () => {
  // IHI 0070 7.1: a CMD_SYNC following a CMD_ATC_INV that did not complete fails with CERROR_ATC_INV_SYNC; 4.5.1:
  // "Completion is ensured by the completion of a subsequent CMD_SYNC." A migrated device owes that same failure.
  const endpoints: EndpointHooks = { atcInvalidate: () => false };
  const b = bench({ ats: true }, { endpoints });
  b.driver.issue(guest.command(OPCODE.ATC_INV, (w) => CMD_ATC_INV.StreamID.set(w, 3)));
  assert.equal(b.driver.consError(), CMDQ_CONS_ERR.CERROR_NONE);
  const blob = b.smmu.save();
  const again = new Smmu({ memory: b.memory, features: { ats: true }, endpoints });
  again.restore(blob);
  const d = new guest.Driver(again, b.memory);
  d.probe();
  const cons = d.consIndex();
  d.issue(guest.command(OPCODE.SYNC));
  assert.equal(d.consError(), CMDQ_CONS_ERR.CERROR_ATC_INV_SYNC, "the restored device's CMD_SYNC fails");
  assert.equal(d.consIndex(), cons);
  d.ackErrors();
  assert.equal(d.consIndex(), cons + 1, "once: the retried CMD_SYNC completes");
});

// ----------------------------------------------------------------------------------------------------- item 10

Deno.test("issue 12 item 10: XNX, STT and E0PD are advertised by default, accepted as ID values, and work", () => {
  // IHI 0070 6.3.4 (SMMU_IDR3): XNX, STT and E0PD say the SMMU implements the two-bit stage-2 XN, small translation
  // tables (T0SZ up to 48, 5.4) and CD.E0PDx (5.4: "Unprivileged access to any address translated by CD.TTB0 will
  // generate a Translation fault").
  const b = bench();
  const idr3 = new Uint32Array([b.driver.read(REG.IDR3)]);
  assert.deepEqual([IDR3.XNX.get(idr3), IDR3.STT.get(idr3), IDR3.E0PD.get(idr3)], [1, 1, 1]);
  const qemu10 = { IDR0: 0x0d44101b, IDR1: 0x02730010, IDR3: 0x1414, IDR5: 0x74 };
  assert.equal(new Smmu({ memory: new SparseMemory(), idRegisters: qemu10 }).mmioRead(REG.IDR3, 4), 0x1414n);
  // STT: a 16-bit TTB0 range (T0SZ 48) walks from level 3; E0PD0: unprivileged accesses to it fault.
  const s1 = new guest.PageTable(b.memory, b.alloc, 12, 16, 3);
  s1.map(0x1000, DATA, 3);
  const at = cd(b, s1.root, { T0SZ: 48, E0PD0: 1 });
  b.driver.writeSte(1, STE_CONFIG.S1_TRANS, (ste) => STE.S1ContextPtr.setAddress(ste, at));
  b.driver.invalidateSte(1);
  assert.deepEqual(b.smmu.translate(1, 0x1010, { priv: true }), { ok: true, pa: DATA + 0x10 });
  assert.deepEqual(b.smmu.translate(1, 0x1010, {}), { ok: false, fault: "F_TRANSLATION", event: true });
  // XNX: stage-2 XN = 0b01 (execution for unprivileged only) forbids a privileged instruction fetch.
  const s2 = new guest.PageTable(b.memory, new guest.Allocator(0x6000_0000), 12, 40, 1);
  s2.map(0x2000, DATA, 3, { XN: TT_S2XN.PXN }, 2);
  b.driver.writeSte(2, STE_CONFIG.S2_TRANS, (ste) => stage2(ste, s2.root));
  b.driver.invalidateSte(2);
  assert.deepEqual(b.smmu.translate(2, 0x2000, { exec: true }), { ok: true, pa: DATA });
  assert.deepEqual(b.smmu.translate(2, 0x2000, { exec: true, priv: true }), {
    ok: false,
    fault: "F_PERMISSION",
    event: true,
  });
  // Only what is not built stays refused.
  const idr0 = new Uint32Array([b.driver.read(REG.IDR0)]);
  assert.equal(IDR0.ATOS.get(idr0), 0);
  assert.throws(() => new Smmu({ memory: new SparseMemory(), idRegisters: { ...qemu10, IDR3: 0x1414 | 1 << 8 } }));
});

// ------------------------------------------------------------------------------------------ the same classes

Deno.test("issue 12, the same class: STE.S2PTW keeps stage-1 table walks and CD fetches from stage-2 Device memory", () => {
  // IHI 0070 5.2 S2PTW: "For an STE configured for translation at both stages, a stage 1 translation table walk
  // access or CD fetch access made to a stage 2 page with any Device type is terminated and recorded as a stage 2
  // Permission fault if this field is set." Stage-2 MemAttr[3:2] == 0b00 is Device (DDI 0487 D8.5.5).
  const NORMAL = 0xf; // stage-2 MemAttr: Normal, Write-Back cacheable
  for (
    const [what, ptw, devicePage, want] of [
      ["the leaf table page is Device", 1, "table", { s2: 1, class: EVT_CLASS.TT, ttrnw: 1 }],
      ["the CD page is Device", 1, "cd", { s2: 1, class: EVT_CLASS.CD, ttrnw: 0 }],
      ["S2PTW = 0", 0, "table", null],
    ] as const
  ) {
    const b = bench();
    const s1 = new guest.PageTable(b.memory, b.alloc, 12, 48, 0);
    const desc = s1.map(0x1000, DATA, 3);
    const cdAddr = cd(b, s1.root);
    const s2 = new guest.PageTable(b.memory, new guest.Allocator(0x6000_0000), 12, 40, 1);
    for (let p = 0x5000_0000; p < b.alloc.next; p += PAGE) s2.map(p, p, 3, { MemAttr: NORMAL }, 2);
    s2.map(DATA, DATA, 2, { MemAttr: NORMAL }, 2);
    const device = pageOf(devicePage === "cd" ? cdAddr : desc);
    s2.map(device, device, 3, { MemAttr: 0 }, 2);
    b.driver.writeSte(1, STE_CONFIG.NESTED, (ste) => {
      STE.S1ContextPtr.setAddress(ste, cdAddr);
      stage2(ste, s2.root, { S2PTW: ptw });
    });
    b.driver.invalidateSte(1);
    const r = b.smmu.translate(1, 0x1010, {});
    if (want === null) {
      assert.deepEqual(r, { ok: true, pa: DATA + 0x10 }, what);
      continue;
    }
    assert.deepEqual(r, { ok: false, fault: "F_PERMISSION", event: true }, what);
    const e = fields(onlyEvent(b));
    assert.deepEqual({ s2: e.s2, class: e.class, ttrnw: e.ttrnw, ipa: e.ipa }, { ...want, ipa: device }, what);
  }
});

Deno.test("issue 12, the same class: a stage-1-only L1CD.L2Ptr beyond the OAS gives C_BAD_SUBSTREAMID", () => {
  // IHI 0070 3.4.3, CD fetch through L1CD.L2Ptr, stage 1 only: "An implementation of SMMUv3.1 or later generates
  // C_BAD_SUBSTREAMID and terminates the transaction."
  const b = bench({ oas: 40 });
  const l1 = b.alloc.alloc(64, 64);
  b.memory.write32(l1, 1); // L1CD: V = 1, L2Ptr = 2^40 (beyond the 40-bit OAS)
  b.memory.write32(l1 + 4, 2 ** 8);
  b.driver.writeSte(1, STE_CONFIG.S1_TRANS, (ste) => {
    STE.S1ContextPtr.setAddress(ste, l1);
    STE.S1CDMax.set(ste, 6);
    STE.S1Fmt.set(ste, 1); // 2-level, 4 KiB leaf tables
  });
  b.driver.invalidateSte(1);
  assert.deepEqual(b.smmu.translate(1, 0x1000, { ssid: 3 }), { ok: false, fault: "C_BAD_SUBSTREAMID", event: true });
});

Deno.test("issue 12, the same class: C_BAD_SUBSTREAMID of a transaction without a SubstreamID records SubstreamID 0", () => {
  // IHI 0070 7.3.9: "In the case that an incoming transaction without a SubstreamID caused (through use of STE.S1DSS ==
  // 0b10) an erroneous L1CD.L2Ptr to be encountered during fetch of the CD at index 0, the SubstreamID is recorded as
  // 0." The same for an L1CD with V == 0 on the way to CD 0.
  const b = bench();
  const l1 = b.alloc.alloc(64, 64); // an L1CD table of zeros: every L1CD invalid
  b.driver.writeSte(1, STE_CONFIG.S1_TRANS, (ste) => {
    STE.S1ContextPtr.setAddress(ste, l1);
    STE.S1CDMax.set(ste, 8);
    STE.S1Fmt.set(ste, 1);
    STE.S1DSS.set(ste, STE_S1DSS.SSID0);
  });
  b.driver.invalidateSte(1);
  assert.deepEqual(b.smmu.translate(1, 0x1000, {}), { ok: false, fault: "C_BAD_SUBSTREAMID", event: true });
  const e = onlyEvent(b);
  assert.deepEqual([EVT_F_UUT.Type.get(e), e[0] >>> 12], [EVENT_TYPE.C_BAD_SUBSTREAMID, 0]);
});
