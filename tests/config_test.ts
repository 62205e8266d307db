/** Configuration lookup: stream tables, STE and CD validity, CD tables and SubstreamIDs, each with its event. */
import assert from "node:assert/strict";
import { EVENT_TYPE, STE_CONFIG } from "../gen/mod.ts";
import { cdAt, cdTable, PageTable, steAt } from "../src/guest/tables.ts";
import { linearStreamTable, makeEnv, s1Stream, twoLevelStreamTable } from "./helpers/engine_env.ts";
import type { Values } from "../src/guest/tables.ts";
import { CR2, REG } from "../gen/mod.ts";
import { word } from "../src/registers/regfile.ts";

function stage1(over: { ste?: Values; cd?: Values } = {}, ids = {}) {
  const env = makeEnv(ids);
  const ste = linearStreamTable(env.regs, env.alloc, 6);
  const pt = s1Stream(env, ste(5), over);
  pt.map(0x1000, 0x2000);
  return { ...env, ste };
}

Deno.test("STE validity: each ILLEGAL field gives C_BAD_STE, recorded on every attempt", () => {
  // Reserved Config, S1Fmt and S1DSS encodings behave as others, not ILLEGAL: tests/reserved_encodings_test.ts.
  const cases: [string, Values, object?][] = [
    ["V = 0", { V: 0 }],
    ["stage 1 not implemented", {}, { s1p: 0 }],
    ["S1CDMax beyond SSIDSIZE", { S1CDMax: 9 }, { ssidsize: 8 }],
    ["2-level CD without CD2L", { S1CDMax: 8, S1Fmt: 1 }, { cd2l: 0 }],
    ["reserved STRW", { STRW: 1 }],
    ["STRW EL2 without Hyp", { STRW: 2 }, { hyp: 0 }],
    // IHI 0070 5.2 S1STALLD: "if stage 1 is enabled and SMMU_(*_)IDR0.STALL_MODEL is not 0b00, it is ILLEGAL to set
    // this field to 1 because the Stall model is not supported or not configurable."
    ["S1STALLD without the stall model", { S1STALLD: 1 }, { stallModel: 1 }],
    ["S1STALLD with forced stalls", { S1STALLD: 1 }, { stallModel: 2 }],
    ["S1ContextPtr beyond OAS", { S1ContextPtr: 2 ** 45 }, { oas: 2 }],
    // IHI 0070 5.2 S2VMID: with stage 2 implemented, NS-EL1 stage-1 translations are VMID-tagged too, and "when
    // SMMU_IDR0.VMID16 == 0, it is ILLEGAL for bits STE.S2VMID[15:8] to be non-zero unless this field is IGNORED".
    ["S2VMID[15:8] non-zero with 8-bit VMIDs, NS-EL1 stage 1", { S2VMID: 0x100 }, { vmid16: 0 }],
  ];
  for (const [name, ste, ids] of cases) {
    const env = stage1({ ste }, ids);
    assert.equal(env.t.translate(5, -1, 0x1000, 0), -1, name);
    assert.equal(env.t.translate(5, -1, 0x1000, 0), -1, name);
    assert.deepEqual(env.events.map((e) => e.type), [EVENT_TYPE.C_BAD_STE, EVENT_TYPE.C_BAD_STE], name);
    assert.equal(env.events[0].sid, 5);
  }
  // IHI 0070 5.2 S2VMID is IGNORED "when any of the following are true: stage 2 is not implemented ...; a Non-secure
  // STE StreamWorld is not NS-EL1": then its upper bits are not checked.
  const ignored: [string, Values, object][] = [
    ["stage 2 not implemented", {}, { vmid16: 0, s2p: 0 }],
    ["StreamWorld EL2", { STRW: 2 }, { vmid16: 0 }],
  ];
  for (const [name, ste, ids] of ignored) {
    const env = stage1({ ste: { S2VMID: 0x100, ...ste } }, ids);
    assert.equal(env.t.translate(5, -1, 0x1000, 0), 0x2000, `S2VMID 0x100 IGNORED: ${name}`);
  }
});

Deno.test("STE stage-2 validity: granule, S2T0SZ/S2SL0, S2TTB, HTTU, VMID, AArch32 tables", () => {
  const good = { V: 1, Config: STE_CONFIG.S2_TRANS, S2AA64: 1, S2TG: 0, S2T0SZ: 24, S2SL0: 1, S2PS: 5, S2R: 1 };
  const cases: [string, Values, object?][] = [
    ["S2AA64 = 0", { S2AA64: 0 }],
    ["reserved S2TG", { S2TG: 3 }],
    ["S2T0SZ too small", { S2T0SZ: 10 }],
    ["S2SL0 needs more than 16 concatenated tables", { S2T0SZ: 16, S2SL0: 1 }],
    ["S2SL0 reserved", { S2SL0: 3 }],
    ["S2TTB beyond S2PS", { S2PS: 0, S2TTBAddr: 2 ** 33 }],
    ["S2HA without HTTU", { S2HA: 1 }, { httu: 0 }],
    ["S2HD without dirty HTTU", { S2HA: 1, S2HD: 1 }, { httu: 1 }],
    ["stage 2 not implemented", {}, { s2p: 0 }],
    // IHI 0070 5.2 S2ENDI: "If Stage 2 translation is enabled (STE.Config == 0b11x), it is ILLEGAL for this field to
    // select an unimplemented endianness (as indicated by SMMU_IDR0.TTENDIAN)." Here TTENDIAN is 0b10 (little only).
    ["S2ENDI big-endian with little-endian-only walks", { S2ENDI: 1 }],
    // IHI 0070 5.2 S2S: stalling is ILLEGAL where SMMU_IDR0.STALL_MODEL is 0b01 (terminate only), and not stalling
    // where it is 0b10 (stall forced).
    ["S2S 1 with terminate-only stalls", { S2S: 1 }, { stallModel: 1 }],
    ["S2S 0 with forced stalls", { S2S: 0 }, { stallModel: 2 }],
    // IHI 0070 5.2 S2VMID: "when SMMU_IDR0.VMID16 == 0, it is ILLEGAL for bits STE.S2VMID[15:8] to be non-zero".
    ["S2VMID[15:8] non-zero with 8-bit VMIDs", { S2VMID: 0x100 }, { vmid16: 0 }],
  ];
  for (const [name, over, ids] of cases) {
    const env = makeEnv(ids);
    const ste = linearStreamTable(env.regs, env.alloc, 4);
    const v: Values = { ...good, ...over };
    if ("S2TTBAddr" in v) {
      v.S2TTB = v.S2TTBAddr;
      delete v.S2TTBAddr;
    }
    steAt(env.mem, ste(1), v);
    assert.equal(env.t.translate(1, -1, 0x1000, 0), -1, name);
    assert.equal(env.events[0]?.type, EVENT_TYPE.C_BAD_STE, name);
  }
});

Deno.test("ENDI, S2ENDI and S1STALLD are not checked where IHI 0070 5.2/5.4 make them IGNORED", () => {
  // [what, STE fields, CD fields, ID registers, the first walk's result (-1: a fault), the event type]
  const rows: [string, Values, Values, object, number, number | null][] = [
    // IHI 0070 5.4 ENDI: "If the effective values of both CD.EPD0 and CD.EPD1 are 1, this field is IGNORED." With
    // EPD0 "A TLB miss on an address that is translated using TTB0 causes a Translation fault": F_TRANSLATION.
    ["ENDI 1 with EPD0 and EPD1 1", {}, { ENDI: 1, EPD0: 1, EPD1: 1 }, {}, -1, EVENT_TYPE.F_TRANSLATION],
    ["ENDI 1 with EPD0 0 (control)", {}, { ENDI: 1, EPD1: 1 }, {}, -1, EVENT_TYPE.C_BAD_CD],
    // IHI 0070 5.2 S2ENDI: ILLEGAL only "If Stage 2 translation is enabled (STE.Config == 0b11x)".
    ["S2ENDI 1 on a stage-1-only STE", { S2ENDI: 1 }, {}, {}, 0x2000, null],
    // IHI 0070 5.2 S1STALLD: "If stage 1 is not enabled (STE.Config == 0b1x0), this field is IGNORED."
    ["S1STALLD 1 on a stage-2-only STE, terminate-only", { S1STALLD: 1 }, {}, { stallModel: 1 }, 0x2000, null],
  ];
  for (const [what, ste, cd, ids, pa, event] of rows) {
    const s2only = what.includes("stage-2-only");
    const env = s2only ? makeEnv(ids) : stage1({ ste, cd }, ids);
    if (s2only) {
      const pt = new PageTable(env.mem, env.alloc, 12, 40, 1);
      pt.map(0x1000, 0x2000, 3, {}, 2);
      const at = linearStreamTable(env.regs, env.alloc, 6)(5);
      steAt(env.mem, at, {
        ...{ V: 1, Config: STE_CONFIG.S2_TRANS, S2AA64: 1, S2TG: 0, S2T0SZ: 24, S2SL0: 1, S2PS: 5, S2R: 1 },
        ...{ S2TTB: pt.root, ...ste },
      });
    }
    assert.equal(env.t.translate(5, -1, 0x1000, 0), pa, what);
    assert.equal(env.events[0]?.type ?? null, event, what);
  }
});

Deno.test("CD validity: each ILLEGAL field gives C_BAD_CD", () => {
  const cases: [string, Values, object?, Values?][] = [
    ["V = 0", { V: 0 }],
    ["AArch32 tables", { AA64: 0 }],
    ["reserved TG0", { TG0: 3 }],
    ["T0SZ too large without STT", { T0SZ: 40 }, { stt: 0 }],
    ["T0SZ too small", { T0SZ: 15 }],
    ["TTB0 beyond IPS", { IPS: 0, TTB0: 2 ** 33 }],
    ["HA without HTTU", { HA: 1 }, { httu: 0 }],
    ["HD without dirty HTTU", { HA: 1, HD: 1 }, { httu: 1 }],
    ["A = 0 with TERM_MODEL", { A: 0 }],
    ["S = 1 with terminate-only stalls", { S: 1 }],
    // IHI 0070 5.4 S: with SMMU_IDR0.STALL_MODEL 0b10 (stall forced) a CD with S = 0 is ILLEGAL.
    ["S = 0 with forced stalls", { S: 0 }, { stallModel: 2 }],
    ["TG1 reserved when TTB1 walks", { EPD1: 0, TG1: 0, T1SZ: 16 }],
    // IHI 0070 5.4 ENDI: "If SMMU_IDR0.TTENDIAN == 0b10, it is ILLEGAL to set this field to 1." (TTENDIAN 0b10 here.)
    ["ENDI big-endian with little-endian-only walks", { ENDI: 1 }],
    // IHI 0070 5.5: "A CD (Stage 1 translation enabled) is considered ILLEGAL if one of the following applies: -
    // SMMU_(S_)IDR0.STALL_MODEL == 0b00 and STE.S1STALLD == 1 and CD.S == 1."
    ["S = 1 under STE.S1STALLD", { S: 1 }, { stallModel: 0 }, { S1STALLD: 1 }],
    // IHI 0070 5.4 ASID: "when an implementation supports only 8-bit ASIDs (SMMU_IDR0.ASID16 == 0), it is ILLEGAL for
    // ASID[15:8] to be non-zero" (for a StreamWorld whose ASID is not IGNORED: NS-EL1 here).
    ["ASID[15:8] non-zero with 8-bit ASIDs", { ASID: 0x100 }, { asid16: 0 }],
  ];
  for (const [name, cd, ids, ste] of cases) {
    const env = stage1({ cd, ste }, ids);
    assert.equal(env.t.translate(5, -1, 0x1000, 0), -1, name);
    assert.equal(env.events[0]?.type, EVENT_TYPE.C_BAD_CD, name);
  }
  // The controls: the same S = 1 is legal without S1STALLD, and the same S1STALLD with S = 0.
  for (const [cd, ste] of [[{ S: 1 }, {}], [{}, { S1STALLD: 1 }]]) {
    const env = stage1({ cd, ste }, { stallModel: 0 });
    assert.equal(env.t.translate(5, -1, 0x1000, 0), 0x2000, JSON.stringify({ cd, ste }));
  }
  // IHI 0070 5.4 ASID: "This field is IGNORED if StreamWorld == any-EL2 or EL3": an EL2 stream (STRW 0b10, CR2.E2H 0)
  // translates whatever its CD's ASID holds, 8-bit ASIDs or not; with 16-bit ASIDs the value is legal for NS-EL1.
  for (const [what, ste, ids] of [["EL2, 8-bit ASIDs", { STRW: 2 }, { asid16: 0 }], ["NS-EL1, 16-bit ASIDs", {}, {}]]) {
    const env = stage1({ cd: { ASID: 0x100 }, ste: ste as Values }, ids);
    assert.equal(env.t.translate(5, -1, 0x1000, 0), 0x2000, `ASID 0x100, ${what}`);
  }
  const fine = stage1({ cd: { TG0: 3, EPD0: 1, EPD1: 0, TG1: 2, T1SZ: 16 } });
  assert.equal(fine.t.translate(5, -1, -0x1000, 0), -1, "EPD0 ignores TG0; TTB1 unmapped");
  assert.equal(fine.events[0].type, EVENT_TYPE.F_TRANSLATION);
});

Deno.test("StreamID range: linear LOG2SIZE, SIDSIZE, and CR2.RECINVSID suppressing C_BAD_STREAMID", () => {
  const env = stage1();
  assert.equal(env.t.translate(64, -1, 0x1000, 0), -1);
  assert.deepEqual(env.events.map((e) => [e.type, e.sid]), [[EVENT_TYPE.C_BAD_STREAMID, 64]]);
  CR2.RECINVSID.set(env.regs.words, 0, word(REG.CR2));
  env.t.flushAll();
  assert.equal(env.t.translate(64, -1, 0x1000, 0), -1);
  assert.equal(env.events.length, 1, "not recorded with RECINVSID = 0");
  assert.equal(env.t.translate(5, -1, 0x1000, 0), 0x2000);
});

Deno.test("2-level stream table: Span, L2Ptr, invalid L1 descriptors and fetch aborts", () => {
  const env = makeEnv();
  const ste = twoLevelStreamTable(env.regs, env.mem, env.alloc, 16, 8);
  const pt = s1Stream(env, ste(0x1234));
  pt.map(0x1000, 0x3000);
  assert.equal(env.t.translate(0x1234, -1, 0x1000, 0), 0x3000);
  assert.equal(env.t.translate(0x2234, -1, 0x1000, 0), -1, "L1STD Span 0");
  assert.equal(env.events.at(-1)!.type, EVENT_TYPE.C_BAD_STREAMID);
  // L1 descriptor 0x12 with Span 2: one STE pair, so L2 index 0x34 lies beyond 2^(Span-1).
  const l1Addr = env.regs.get(REG.STRTAB_BASE) + 0x12 * 8;
  env.mem.write32(l1Addr, (env.mem.read32(l1Addr) & ~0x1f) | 2);
  env.t.invalidate({ kind: "ste", sid: 0x1234, leaf: false });
  assert.equal(env.t.translate(0x1234, -1, 0x1000, 0), -1);
  assert.equal(env.events.at(-1)!.type, EVENT_TYPE.C_BAD_STREAMID);
  env.mem.write32(l1Addr, (env.mem.read32(l1Addr) & ~0x1f) | 9);
  assert.equal(env.t.translate(0x12ff, -1, 0x1000, 0), -1, "zero STE inside the span");
  assert.equal(env.events.at(-1)!.type, EVENT_TYPE.C_BAD_STE);
});

Deno.test("fetch aborts: F_STE_FETCH and F_CD_FETCH carry the fetch address", () => {
  const env = stage1();
  steAt(env.mem, env.ste(6), { V: 1, Config: 5, S1ContextPtr: 0x1_0000_0040 });
  assert.equal(env.t.translate(6, -1, 0x1000, 0), -1);
  assert.deepEqual([env.events[0].type, env.events[0].fetchAddr], [EVENT_TYPE.F_CD_FETCH, 0x1_0000_0040]);
  const env2 = makeEnv();
  linearStreamTable(env2.regs, env2.alloc, 4);
  env2.regs.words[word(REG.STRTAB_BASE) + 1] = 1; // STRTAB_BASE.ADDR = 0x1_0000_0000 (the hole)
  env2.regs.words[word(REG.STRTAB_BASE)] = 0;
  env2.t.flushAll();
  assert.equal(env2.t.translate(2, -1, 0x1000, 0), -1);
  assert.deepEqual([env2.events[0].type, env2.events[0].fetchAddr], [EVENT_TYPE.F_STE_FETCH, 0x1_0000_0080]);
});

Deno.test("STE.Config abort records nothing; bypass passes the address through", () => {
  const env = stage1({ ste: { Config: STE_CONFIG.ABORT } });
  assert.equal(env.t.translate(5, -1, 0x1000, 0), -1);
  assert.equal(env.t.fault.type, 0);
  assert.equal(env.events.length, 0);
  steAt(env.mem, env.ste(7), { V: 1, Config: STE_CONFIG.BYPASS });
  assert.equal(env.t.translate(7, -1, 0x1234_5678, 1), 0x1234_5678);
  assert.equal(env.t.translate(7, 3, 0x1000, 0), -1, "a SubstreamID without stage 1");
  assert.equal(env.events[0].type, EVENT_TYPE.C_BAD_SUBSTREAMID);
});

Deno.test("substreams: linear and 2-level CD tables, S1CDMax, S1DSS and L1CD.V", () => {
  for (const [fmt, split] of [[0, 0], [1, 6], [2, 10]]) {
    const env = makeEnv();
    const ste = linearStreamTable(env.regs, env.alloc, 4);
    const base = s1Stream(env, ste(1)); // builds one table; reuse its CD fields for each SSID
    base.map(0x1000, 0x7000);
    const cds = cdTable(env.mem, env.alloc, 12, split);
    for (const ssid of [0, 5, 1000, 4095]) {
      cdAt(env.mem, cds.cd(ssid), {
        V: 1,
        AA64: 1,
        A: 1,
        R: 1,
        T0SZ: 16,
        IPS: 5,
        EPD1: 1,
        TTB0: base.root,
        ASID: ssid,
      });
    }
    steAt(env.mem, ste(1), { V: 1, Config: 5, S1ContextPtr: cds.ptr, S1CDMax: 12, S1Fmt: fmt, S1DSS: 1 });
    for (const ssid of [0, 5, 1000, 4095]) assert.equal(env.t.translate(1, ssid, 0x1000, 0), 0x7000, `fmt ${fmt}`);
    assert.equal(env.t.translate(1, 4096, 0x1000, 0), -1, "SSID beyond S1CDMax");
    assert.equal(env.events.at(-1)!.type, EVENT_TYPE.C_BAD_SUBSTREAMID);
    assert.equal(env.events.at(-1)!.ssid, 4096);
    assert.equal(env.t.translate(1, -1, 0x4321, 0), 0x4321, "S1DSS bypass");
    if (split !== 0) {
      assert.equal(env.t.translate(1, 2 ** split * 2, 0x1000, 0), -1, "L1CD.V = 0");
      assert.equal(env.events.at(-1)!.type, EVENT_TYPE.C_BAD_SUBSTREAMID);
    } else {
      assert.equal(env.t.translate(1, 7, 0x1000, 0), -1, "CD.V = 0");
      assert.deepEqual([env.events.at(-1)!.type, env.events.at(-1)!.ssv, env.events.at(-1)!.ssid], [
        EVENT_TYPE.C_BAD_CD,
        true,
        7,
      ]);
    }
  }
  const env = makeEnv();
  const ste = linearStreamTable(env.regs, env.alloc, 4);
  s1Stream(env, ste(2), { ste: { S1CDMax: 4, S1DSS: 0 } });
  assert.equal(env.t.translate(2, -1, 0x1000, 0), -1, "S1DSS terminate");
  assert.deepEqual([env.events[0].type, env.events[0].sid], [EVENT_TYPE.F_STREAM_DISABLED, 2]);
  s1Stream(env, ste(3), { ste: { S1CDMax: 4, S1DSS: 2 } }).map(0x1000, 0x9000);
  assert.equal(env.t.translate(3, -1, 0x1000, 0), 0x9000, "S1DSS SSID0");
  assert.equal(env.t.translate(3, 0, 0x1000, 0), -1, "SSID 0 with S1DSS SSID0");
  // IHI 0070 5.2 S1DSS 0b10: "Transactions that include a substream and select Substream 0 are terminated ... and the
  // F_STREAM_DISABLED event is recorded."
  assert.equal(env.events.at(-1)!.type, EVENT_TYPE.F_STREAM_DISABLED);
  s1Stream(env, ste(4)).map(0x1000, 0x9000);
  assert.equal(env.t.translate(4, 0, 0x1000, 0), -1, "SSID with S1CDMax 0");
  assert.equal(env.events.at(-1)!.type, EVENT_TYPE.C_BAD_SUBSTREAMID);
});

Deno.test("streamConfig: decoded and immutable, or the fault that explains why not", () => {
  const env = stage1();
  const c = env.t.streamConfig(5);
  assert.ok("config" in c && c.config === STE_CONFIG.S1_TRANS && c.s1 !== null);
  assert.ok(Object.isFrozen(c));
  const bad = env.t.streamConfig(9);
  assert.ok("fault" in bad && bad.fault.type === EVENT_TYPE.C_BAD_STE && bad.reason.length > 0);
  assert.equal(env.events.length, 0, "no events from streamConfig");
});
