// Tests of the generated accessors in gen/: every field of every layout round-trips and touches no other bit, and a
// set of positions checked by hand against the architecture (IHI 0070) and the Linux driver's header.
import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import * as gen from "../gen/mod.ts";
import type { Field, Layout } from "../gen/mod.ts";

const LAYOUTS: Layout[] = Object.entries(gen)
  .filter(([name]) => name.endsWith("_LAYOUT"))
  .map(([, layout]) => layout as Layout);

/** Record of `words` 32-bit words at word offset `o`, as one little-endian integer (the test's independent model). */
function record(w: Uint32Array, o: number, words: number): bigint {
  let v = 0n;
  for (let i = words - 1; i >= 0; i--) v = (v << 32n) | BigInt(w[o + i]);
  return v;
}

const fieldMask = (f: Field) => ((1n << BigInt(f.width)) - 1n) << BigInt(f.lsb);

/** Random background words (padded on both sides of the record) and a word offset into them. */
const arbWords = (layout: Layout) =>
  fc.record({
    o: fc.integer({ min: 0, max: 3 }),
    words: fc.uint32Array({ minLength: layout.words + 6, maxLength: layout.words + 6 }),
  });
const arbValue = (f: Field) => fc.bigInt({ min: 0n, max: (1n << BigInt(f.width)) - 1n }).map(Number);

/** Asserts that `w` equals `before` with only field `f` of the record at `o` replaced by `value`. */
function assertOnlyFieldChanged(layout: Layout, f: Field, before: Uint32Array, w: Uint32Array, o: number, v: number) {
  const want = (record(before, o, layout.words) & ~fieldMask(f)) | (BigInt(v) << BigInt(f.lsb));
  assert.equal(record(w, o, layout.words), want, `${layout.name}.${f.name}: record after set`);
  for (let i = 0; i < w.length; i++) {
    if (i < o || i >= o + layout.words) assert.equal(w[i], before[i], `${layout.name}.${f.name}: word ${i} outside`);
  }
}

Deno.test("the generated layouts include every kind of record", () => {
  const names = new Set(LAYOUTS.map((l) => l.name));
  for (const n of ["STE", "CD", "L1STD", "L1CD", "TT_DESC", "PRI_RECORD", "CR0", "GERROR", "CMD_SYNC"]) {
    assert.ok(names.has(n), n);
  }
  assert.ok(names.has("EVT_F_TRANSLATION"));
  for (const r of gen.REGISTERS) assert.ok(LAYOUTS.includes(r.layout), `${r.name} layout exported`);
  for (const l of [...gen.COMMANDS.values(), ...gen.EVENTS.values()]) assert.ok(LAYOUTS.includes(l), l.name);
});

Deno.test("every layout is well formed: fields in bit order, disjoint, within the record, at most 53 bits", () => {
  for (const layout of LAYOUTS) {
    assert.equal(layout.words * 32, layout.bits, layout.name);
    let covered = 0n;
    let prevLsb = -1;
    for (const f of layout.fields) {
      assert.ok(f.lsb > prevLsb, `${layout.name}.${f.name} after the previous field`);
      prevLsb = f.lsb;
      assert.ok(f.width >= 1 && f.width <= 53, `${layout.name}.${f.name} width ${f.width}`);
      assert.ok(f.lsb + f.width <= layout.bits, `${layout.name}.${f.name} inside the record`);
      assert.equal(covered & fieldMask(f), 0n, `${layout.name}.${f.name} overlaps`);
      covered |= fieldMask(f);
      if (f.shift !== undefined) assert.ok(f.width + f.shift <= 64, `${layout.name}.${f.name} shift`);
    }
    // The reserved masks are exactly the bits no field covers.
    const reserved = layout.reserved.reduce((acc, m, i) => acc | (BigInt(m) << BigInt(32 * i)), 0n);
    assert.equal(reserved, ((1n << BigInt(layout.bits)) - 1n) & ~covered, `${layout.name} reserved`);
  }
});

Deno.test("every field of every layout: set then get returns the value and no other bit changes", () => {
  for (const layout of LAYOUTS) {
    for (const f of layout.fields) {
      fc.assert(
        fc.property(arbWords(layout), arbValue(f), ({ o, words }, v) => {
          const before = words.slice();
          f.set(words, v, o);
          assert.equal(f.get(words, o), v, `${layout.name}.${f.name}.get after set(${v})`);
          assertOnlyFieldChanged(layout, f, before, words, o, v);
        }),
        { numRuns: 25 },
      );
      // The extremes on both backgrounds, where a sign or carry slip would show.
      const max = Number((1n << BigInt(f.width)) - 1n);
      for (const fill of [0, 0xffffffff]) {
        for (const v of [0, max]) {
          const w = new Uint32Array(layout.words + 2).fill(fill);
          const before = w.slice();
          f.set(w, v, 1);
          assert.equal(f.get(w, 1), v, `${layout.name}.${f.name} extreme ${v}`);
          assertOnlyFieldChanged(layout, f, before, w, 1, v);
        }
      }
    }
  }
});

Deno.test("set truncates a value wider than the field to its low bits", () => {
  for (const layout of LAYOUTS) {
    for (const f of layout.fields.filter((f) => f.width < 53)) {
      fc.assert(
        fc.property(arbWords(layout), fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }), ({ o, words }, big) => {
          const before = words.slice();
          const low = Number(big & ((1n << BigInt(f.width)) - 1n));
          f.set(words, Number(big), o);
          assert.equal(f.get(words, o), low, `${layout.name}.${f.name}`);
          assertOnlyFieldChanged(layout, f, before, words, o, low);
        }),
        { numRuns: 10 },
      );
    }
  }
});

type AddressField = Field & {
  shift: number;
  getAddress(w: Uint32Array, o?: number): number;
  setAddress(w: Uint32Array, a: number, o?: number): void;
};

Deno.test("address fields: setAddress/getAddress hold address bits [width+shift-1:shift], low bits dropped", () => {
  const addressFields = LAYOUTS.flatMap((l) => l.fields.filter((f) => f.shift !== undefined).map((f) => [l, f]));
  assert.ok(addressFields.length >= 10, "the spec has address fields");
  for (const [layout, field] of addressFields as [Layout, AddressField][]) {
    assert.equal(typeof field.getAddress, "function", `${layout.name}.${field.name}.getAddress`);
    fc.assert(
      fc.property(arbWords(layout), arbValue(field), fc.nat(), ({ o, words }, v, lowSeed) => {
        const before = words.slice();
        const scale = 2 ** field.shift;
        // A signed address is two's complement: IHI 0070 4.4.2, "The Address parameters of these commands are VAs",
        // whose bits above the VA size repeat bit 63 (set: the upper, TTB1, range).
        const address = (field.signed && v >= 2 ** (field.width - 1) ? v - 2 ** field.width : v) * scale;
        // Unaligned low bits are dropped; add them only while the address stays exact.
        const low = Math.abs(address) + scale - 1 <= Number.MAX_SAFE_INTEGER ? lowSeed % scale : 0;
        field.setAddress(words, address + low, o);
        assert.equal(field.get(words, o), v, `${layout.name}.${field.name}`);
        assert.equal(field.getAddress(words, o), address, `${layout.name}.${field.name}.getAddress`);
        assertOnlyFieldChanged(layout, field, before, words, o, v);
      }),
      { numRuns: 25 },
    );
  }
});

Deno.test("decode names enumerated values and gives other fields as numbers", () => {
  let enumerated = 0;
  for (const layout of LAYOUTS) {
    const w = new Uint32Array(layout.words);
    for (const f of layout.fields.filter((f) => f.enumValues)) {
      enumerated++;
      for (const [value, name] of Object.entries(f.enumValues!)) {
        f.set(w, Number(value));
        assert.equal(gen.decode(layout, w)[f.name], name, `${layout.name}.${f.name} = ${value}`);
      }
      const unnamed = [...Array(Math.min(2 ** f.width, 256)).keys()].find((v) => !(v in f.enumValues!));
      if (unnamed !== undefined) {
        f.set(w, unnamed);
        assert.equal(gen.decode(layout, w)[f.name], unnamed, `${layout.name}.${f.name} unnamed ${unnamed}`);
      }
    }
    w.fill(0xa5a5a5a5);
    const decoded = gen.decode(layout, w);
    assert.deepEqual(Object.keys(decoded), layout.fields.map((f) => f.name));
    for (const f of layout.fields.filter((f) => !f.enumValues)) assert.equal(decoded[f.name], f.get(w), f.name);
  }
  assert.ok(enumerated > 50, `enumerated fields: ${enumerated}`);
});

Deno.test("reservedSet reports exactly the reserved bits that are set", () => {
  for (const layout of LAYOUTS) {
    const w = new Uint32Array(layout.words).fill(0xffffffff);
    assert.deepEqual(gen.reservedSet(layout, w), layout.reserved, layout.name);
    for (const f of layout.fields) f.set(w, 0);
    assert.deepEqual(gen.reservedSet(layout, w), layout.reserved, `${layout.name}, fields cleared`);
    w.fill(0);
    for (const f of layout.fields) f.set(w, Number((1n << BigInt(f.width)) - 1n));
    assert.deepEqual(gen.reservedSet(layout, w), layout.reserved.map(() => 0), `${layout.name}, fields set`);
  }
});

Deno.test("registers: REG offsets match REGISTERS, are aligned and unique, and resets leave reserved bits clear", () => {
  const words = new Set<number>();
  for (const r of gen.REGISTERS) {
    assert.equal((gen.REG as Record<string, number>)[r.name], r.offset, r.name);
    assert.equal(r.offset % (r.width / 8), 0, `${r.name} aligned`);
    assert.ok(r.offset + r.width / 8 <= 0x20000, `${r.name} in the 128 KiB frame`);
    for (let b = r.offset; b < r.offset + r.width / 8; b += 4) {
      assert.ok(!words.has(b), `${r.name} offset 0x${b.toString(16)} used once`);
      words.add(b);
    }
    assert.equal(r.layout.bits, r.width, `${r.name} layout width`);
    assert.equal(r.reset[0] & r.layout.reserved[0], 0, `${r.name} reset low word`);
    if (r.width === 64) assert.equal(r.reset[1] & r.layout.reserved[1], 0, `${r.name} reset high word`);
    else assert.equal(r.reset[1], 0, `${r.name} reset high word of a 32-bit register`);
    if (r.state === "saved") assert.ok(r.proto !== undefined, `${r.name}: a saved register has a proto number`);
  }
});

Deno.test("commands and events: the code tables agree with the layouts' codes and opcode fields", () => {
  for (const [opcode, layout] of gen.COMMANDS) {
    assert.equal(layout.code, opcode, layout.name);
    assert.equal(layout.bits, 128, layout.name);
    assert.equal((gen.OPCODE as Record<string, number>)[layout.name.replace(/^CMD_/, "")], opcode, layout.name);
    const opField = layout.fields.find((f) => f.name === "Opcode");
    assert.ok(opField && opField.lsb === 0 && opField.width === 8, `${layout.name}.Opcode is [7:0]`);
  }
  for (const [type, layout] of gen.EVENTS) {
    assert.equal(layout.code, type, layout.name);
    assert.equal(layout.bits, 256, layout.name);
    assert.equal((gen.EVENT_TYPE as Record<string, number>)[layout.name.replace(/^EVT_/, "")], type, layout.name);
  }
});

// Positions checked by hand, independently of the generator. Linux citations are to
// torvalds/linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h; Linux numbers bits within 64-bit dword n, so its
// bit b of dword n is record bit 64n + b here.
const KNOWN: [Field, number, number, string][] = [
  // [field, msb, lsb, where it is stated]
  [gen.STE.V, 0, 0, "STRTAB_STE_0_V (1UL << 0)"],
  [gen.STE.Config, 3, 1, "STRTAB_STE_0_CFG GENMASK_ULL(3, 1)"],
  [gen.STE.S1Fmt, 5, 4, "STRTAB_STE_0_S1FMT GENMASK_ULL(5, 4)"],
  [gen.STE.S1ContextPtr, 51, 6, "STRTAB_STE_0_S1CTXPTR_MASK GENMASK_ULL(51, 6)"],
  [gen.STE.S1CDMax, 63, 59, "STRTAB_STE_0_S1CDMAX GENMASK_ULL(63, 59)"],
  [gen.STE.S1DSS, 65, 64, "STRTAB_STE_1_S1DSS GENMASK_ULL(1, 0) in dword 1"],
  [gen.STE.EATS, 93, 92, "STRTAB_STE_1_EATS GENMASK_ULL(29, 28) in dword 1"],
  [gen.STE.STRW, 95, 94, "STRTAB_STE_1_STRW GENMASK_ULL(31, 30) in dword 1"],
  [gen.STE.SHCFG, 109, 108, "STRTAB_STE_1_SHCFG GENMASK_ULL(45, 44) in dword 1"],
  [gen.STE.S2VMID, 143, 128, "STRTAB_STE_2_S2VMID GENMASK_ULL(15, 0) in dword 2"],
  [gen.STE.S2T0SZ, 165, 160, "STRTAB_STE_2_VTCR bits [50:32], VTCR_S2T0SZ [5:0]"],
  [gen.STE.S2PS, 178, 176, "STRTAB_STE_2_VTCR_S2PS GENMASK_ULL(18, 16) within VTCR at dword 2 bit 32"],
  [gen.STE.S2AA64, 179, 179, "STRTAB_STE_2_S2AA64 (1UL << 51)"],
  [gen.STE.S2R, 186, 186, "STRTAB_STE_2_S2R (1UL << 58)"],
  [gen.STE.S2TTB, 243, 196, "STRTAB_STE_3_S2TTB_MASK GENMASK_ULL(51, 4) in dword 3"],
  [gen.L1STD.Span, 4, 0, "STRTAB_L1_DESC_SPAN GENMASK_ULL(4, 0)"],
  [gen.L1STD.L2Ptr, 51, 6, "STRTAB_L1_DESC_L2PTR_MASK GENMASK_ULL(51, 6)"],
  [gen.L1CD.V, 0, 0, "CTXDESC_L1_DESC_V (1UL << 0)"],
  [gen.L1CD.L2Ptr, 51, 12, "CTXDESC_L1_DESC_L2PTR_MASK GENMASK_ULL(51, 12)"],
  [gen.CD.T0SZ, 5, 0, "CTXDESC_CD_0_TCR_T0SZ GENMASK_ULL(5, 0)"],
  [gen.CD.EPD1, 30, 30, "CTXDESC_CD_0_TCR_EPD1 (1ULL << 30)"],
  [gen.CD.V, 31, 31, "CTXDESC_CD_0_V (1UL << 31)"],
  [gen.CD.IPS, 34, 32, "CTXDESC_CD_0_TCR_IPS GENMASK_ULL(34, 32)"],
  [gen.CD.AA64, 41, 41, "CTXDESC_CD_0_AA64 (1UL << 41)"],
  [gen.CD.ASID, 63, 48, "CTXDESC_CD_0_ASID GENMASK_ULL(63, 48)"],
  [gen.CD.TTB0, 115, 68, "CTXDESC_CD_1_TTB0_MASK GENMASK_ULL(51, 4) in dword 1"],
  [gen.CMD_CFGI_STE.StreamID, 63, 32, "CMDQ_CFGI_0_SID GENMASK_ULL(63, 32)"],
  [gen.CMD_TLBI_NH_VA.ASID, 63, 48, "CMDQ_TLBI_0_ASID GENMASK_ULL(63, 48)"],
  [gen.CMD_TLBI_NH_VA.Address, 127, 76, "CMDQ_TLBI_1_VA_MASK GENMASK_ULL(63, 12) in dword 1"],
  [gen.CMD_SYNC.CS, 13, 12, "CMDQ_SYNC_0_CS GENMASK_ULL(13, 12)"],
  [gen.CMD_SYNC.MSIData, 63, 32, "CMDQ_SYNC_0_MSIDATA GENMASK_ULL(63, 32)"],
  [gen.CMD_SYNC.MSIAddress, 115, 66, "CMDQ_SYNC_1_MSIADDR_MASK GENMASK_ULL(51, 2) in dword 1"],
  [gen.EVT_F_TRANSLATION.StreamID, 63, 32, "EVTQ_0_SID GENMASK_ULL(63, 32)"],
  [gen.EVT_F_TRANSLATION.STAG, 79, 64, "EVTQ_1_STAG GENMASK_ULL(15, 0) in dword 1"],
  [gen.EVT_F_TRANSLATION.Stall, 95, 95, "EVTQ_1_STALL (1UL << 31) in dword 1"],
  // IHI 0070 7.3.13 (G.b) defines IPA[55:12] at [247:204]; Linux's EVTQ_3_IPA GENMASK_ULL(51, 12) reads its 52-bit
  // part, which starts at the same bit.
  [gen.EVT_F_TRANSLATION.IPA, 247, 204, "IHI 0070 7.3.13 IPA[55:12]; EVTQ_3_IPA GENMASK_ULL(51, 12) in dword 3"],
  [gen.PRI_RECORD.StreamID, 31, 0, "PRIQ_0_SID GENMASK_ULL(31, 0)"],
  [gen.PRI_RECORD.SubstreamID, 51, 32, "PRIQ_0_SSID GENMASK_ULL(51, 32)"],
  [gen.PRI_RECORD.PRGIndex, 72, 64, "PRIQ_1_PRG_IDX GENMASK_ULL(8, 0) in dword 1"],
  [gen.CR0.SMMUEN, 0, 0, "CR0_SMMUEN (1 << 0)"],
  [gen.CR0.CMDQEN, 3, 3, "CR0_CMDQEN (1 << 3)"],
  [gen.GERROR.CMDQ_ERR, 0, 0, "GERROR_CMDQ_ERR (1 << 0)"],
  [gen.GERROR.SFM_ERR, 8, 8, "GERROR_SFM_ERR (1 << 8)"],
  [gen.STRTAB_BASE.ADDR, 51, 6, "STRTAB_BASE_ADDR_MASK GENMASK_ULL(51, 6)"],
  [gen.STRTAB_BASE.RA, 62, 62, "STRTAB_BASE_RA (1UL << 62)"],
  [gen.STRTAB_BASE_CFG.FMT, 17, 16, "STRTAB_BASE_CFG_FMT GENMASK(17, 16)"],
  [gen.STRTAB_BASE_CFG.SPLIT, 10, 6, "STRTAB_BASE_CFG_SPLIT GENMASK(10, 6)"],
  [gen.CMDQ_BASE.ADDR, 51, 5, "Q_BASE_ADDR_MASK GENMASK_ULL(51, 5)"],
  [gen.CMDQ_CONS.ERR, 30, 24, "CMDQ_CONS_ERR GENMASK(30, 24)"],
  [gen.IDR0.ST_LEVEL, 28, 27, "IDR0_ST_LVL GENMASK(28, 27)"],
  [gen.IDR1.SIDSIZE, 5, 0, "IDR1_SIDSIZE GENMASK(5, 0)"],
  [gen.IDR5.OAS, 2, 0, "IDR5_OAS GENMASK(2, 0)"],
];

Deno.test("known field positions match IHI 0070 and the Linux driver's masks", () => {
  for (const [f, msb, lsb, source] of KNOWN) {
    assert.deepEqual([f.lsb + f.width - 1, f.lsb], [msb, lsb], `${f.name}: ${source}`);
    // Set the field to all ones in a zero record: exactly bits [msb:lsb] are set.
    const words = Math.ceil((msb + 1) / 32);
    const w = new Uint32Array(words);
    f.set(w, Number((1n << BigInt(msb - lsb + 1)) - 1n));
    assert.equal(record(w, 0, words), ((1n << BigInt(msb + 1)) - 1n) & ~((1n << BigInt(lsb)) - 1n), f.name);
  }
});

Deno.test("known address fields: the address lands at its architectural bits", () => {
  // STE.S1ContextPtr holds address bits [51:6] in STE bits [51:6] (STRTAB_STE_0_S1CTXPTR_MASK).
  const ste = new Uint32Array(16);
  gen.STE.S1ContextPtr.setAddress(ste, 0x000f_1234_5678_9ac0);
  assert.equal(record(ste, 0, 2), 0x000f_1234_5678_9ac0n);
  assert.equal(gen.STE.S1ContextPtr.getAddress(ste), 0x000f_1234_5678_9ac0);
  // CD.TTB0 holds address bits [51:4] in CD bits [115:68] (CTXDESC_CD_1_TTB0_MASK is [51:4] of dword 1).
  const cd = new Uint32Array(16);
  gen.CD.TTB0.setAddress(cd, 0x000a_bcde_f012_3450);
  assert.equal(record(cd, 0, 4) >> 64n, 0x000a_bcde_f012_3450n);
  assert.equal(gen.CD.TTB0.get(cd), 0x000a_bcde_f012_3450 / 16);
  // CMD_SYNC.MSIAddress holds address bits [51:2] in dword 1 bits [51:2] (CMDQ_SYNC_1_MSIADDR_MASK).
  const sync = new Uint32Array(4);
  gen.CMD_SYNC.MSIAddress.setAddress(sync, 0x0008_0000_0000_0004);
  assert.equal(record(sync, 0, 4) >> 64n, 0x0008_0000_0000_0004n);
});

Deno.test("known register offsets, opcodes, event codes and enum values match the Linux driver", () => {
  assert.equal(gen.REG.IDR0, 0x0); // ARM_SMMU_IDR0 0x0
  assert.equal(gen.REG.CR0, 0x20); // ARM_SMMU_CR0 0x20
  assert.equal(gen.REG.CR0ACK, 0x24); // ARM_SMMU_CR0ACK 0x24
  assert.equal(gen.REG.GBPA, 0x44); // ARM_SMMU_GBPA 0x44
  assert.equal(gen.REG.GERROR, 0x60); // ARM_SMMU_GERROR 0x60
  assert.equal(gen.REG.STRTAB_BASE, 0x80); // ARM_SMMU_STRTAB_BASE 0x80
  assert.equal(gen.REG.CMDQ_PROD, 0x98); // ARM_SMMU_CMDQ_PROD 0x98
  // ARM_SMMU_EVTQ_PROD 0xa8, accessed through smmu->page1 = smmu->base + SZ_64K (arm-smmu-v3.c).
  assert.equal(gen.REG.EVENTQ_PROD, 0x100a8);
  assert.equal(gen.REG.EVENTQ_CONS, 0x100ac); // ARM_SMMU_EVTQ_CONS 0xac on page 1
  assert.equal(gen.OPCODE.CFGI_STE, 0x03); // CMDQ_OP_CFGI_STE 0x3
  assert.equal(gen.OPCODE.TLBI_NH_VA, 0x12); // CMDQ_OP_TLBI_NH_VA 0x12
  assert.equal(gen.OPCODE.ATC_INV, 0x40); // CMDQ_OP_ATC_INV 0x40
  assert.equal(gen.OPCODE.SYNC, 0x46); // CMDQ_OP_CMD_SYNC 0x46
  assert.equal(gen.EVENT_TYPE.F_TRANSLATION, 0x10); // EVT_ID_TRANSLATION_FAULT 0x10
  assert.equal(gen.EVENT_TYPE.F_PERMISSION, 0x13); // EVT_ID_PERMISSION_FAULT 0x13
  assert.equal(gen.STE_CONFIG.ABORT, 0); // STRTAB_STE_0_CFG_ABORT 0
  assert.equal(gen.STE_CONFIG.BYPASS, 4); // STRTAB_STE_0_CFG_BYPASS 4
  assert.equal(gen.STE_CONFIG.S1_TRANS, 5); // STRTAB_STE_0_CFG_S1_TRANS 5
  assert.equal(gen.STE_CONFIG.S2_TRANS, 6); // STRTAB_STE_0_CFG_S2_TRANS 6
  assert.equal(gen.STE_CONFIG_NAMES[5], "S1_TRANS");
});
