/**
 * Reserved encodings in the STE and the stream table registers (audit of issue 12, item 3): where IHI 0070 G.b says a
 * reserved value "behaves as" another, the device follows the generated *_EFFECTIVE table; where it says ILLEGAL, the
 * STE is invalid (C_BAD_STE). Each expectation quotes the field description it comes from.
 */
import assert from "node:assert/strict";
import {
  EVENT_TYPE,
  L1STD,
  REG,
  STE,
  STE_CONFIG,
  STE_S1DSS,
  STE_S1FMT,
  STRTAB_BASE,
  STRTAB_BASE_CFG,
  STRTAB_BASE_CFG_FMT,
} from "../gen/mod.ts";
import { guest } from "../mod.ts";
import { bench, cd, onlyEvent, PAGE, typeOf } from "./helpers/guest_bench.ts";

Deno.test("audit item 3: STE.Config 0b001-0b011 behave as 0b000: abort, no event (IHI 0070 5.2 Config)", () => {
  // IHI 0070 5.2 Config: "0b000 | No | Report abort to device, no event recorded." "0b0xx | No | Reserved (behaves
  // as 0b000)". 7.3.7: "If STE.V == 1 and STE.Config == 0b000, incoming traffic is terminated without recording an
  // event."
  for (const config of [1, 2, 3]) {
    const b = bench();
    b.driver.writeSte(1, config);
    b.driver.invalidateSte(1);
    assert.deepEqual(b.smmu.translate(1, 0x1000, {}), { ok: false, fault: "ABORT", event: false }, `Config ${config}`);
    assert.equal(b.driver.events().length, 0, `Config ${config}: no event`);
  }
});

Deno.test("audit item 3: STE.S1Fmt 0b11 behaves as 0b00, a linear CD table (IHI 0070 5.2 S1Fmt)", () => {
  // IHI 0070 5.2 S1Fmt: "0b00 | Two or more Context descriptors in a linear table indexed by
  // SubstreamID[STE.S1CDMax - 1:0]." ... "0b11 | Reserved (behaves as 0b00)".
  const b = bench();
  const table = guest.cdTable(b.memory, b.alloc, 2);
  const pt = new guest.PageTable(b.memory, b.alloc, 12, 48, 0);
  pt.map(0x1000, 0x8000_0000);
  cd(b, pt.root, {}, table.cd(3));
  b.driver.writeSte(1, STE_CONFIG.S1_TRANS, (w) => {
    STE.S1ContextPtr.setAddress(w, table.ptr);
    STE.S1CDMax.set(w, 2);
    STE.S1Fmt.set(w, 3);
  });
  b.driver.invalidateSte(1);
  assert.deepEqual(b.smmu.translate(1, 0x1010, { ssid: 3 }), { ok: true, pa: 0x8000_0010 });
  assert.equal(b.driver.events().length, 0);
  assert.equal(STE_S1FMT.LINEAR, 0);
});

Deno.test("audit item 3: STE.S1DSS 0b11 behaves as 0b00, terminate with F_STREAM_DISABLED (IHI 0070 5.2 S1DSS)", () => {
  // IHI 0070 5.2 S1DSS: "0b00 | Terminate. An abort is reported to the device and the F_STREAM_DISABLED event is
  // recorded." ... "0b11 | Reserved (behaves as 0b00)". Under 0b00 a transaction with a SubstreamID uses its CD.
  const b = bench();
  const table = guest.cdTable(b.memory, b.alloc, 2);
  const pt = new guest.PageTable(b.memory, b.alloc, 12, 48, 0);
  pt.map(0x1000, 0x8000_0000);
  for (const ssid of [0, 1]) cd(b, pt.root, {}, table.cd(ssid));
  b.driver.writeSte(1, STE_CONFIG.S1_TRANS, (w) => {
    STE.S1ContextPtr.setAddress(w, table.ptr);
    STE.S1CDMax.set(w, 2);
    STE.S1DSS.set(w, 3);
  });
  b.driver.invalidateSte(1);
  assert.deepEqual(b.smmu.translate(1, 0x1000, {}), { ok: false, fault: "F_STREAM_DISABLED", event: true });
  assert.equal(typeOf(onlyEvent(b)), EVENT_TYPE.F_STREAM_DISABLED);
  for (const ssid of [0, 1]) assert.deepEqual(b.smmu.translate(1, 0x1000, { ssid }), { ok: true, pa: 0x8000_0000 });
  assert.equal(STE_S1DSS.TERMINATE, 0);
});

Deno.test("audit item 3: STE.STRW 0bx1 stays ILLEGAL: C_BAD_STE (IHI 0070 5.2 STRW)", () => {
  // IHI 0070 5.2 STRW, Non-secure Stream table: "0bx1 | X | Reserved, ILLEGAL". 5.2: "Use of an ILLEGAL STE behaves
  // as described for STE.V == 0", that is "terminated with an abort ... and a C_BAD_STE event is recorded".
  for (const strw of [1, 3]) {
    const b = bench();
    const pt = new guest.PageTable(b.memory, b.alloc, 12, 48, 0);
    const at = cd(b, pt.root);
    b.driver.writeSte(1, STE_CONFIG.S1_TRANS, (w) => {
      STE.S1ContextPtr.setAddress(w, at);
      STE.STRW.set(w, strw);
    });
    b.driver.invalidateSte(1);
    assert.deepEqual(b.smmu.translate(1, 0x1000, {}), { ok: false, fault: "C_BAD_STE", event: true }, `STRW ${strw}`);
  }
});

Deno.test("audit item 3: a reserved STRTAB_BASE_CFG.SPLIT behaves as 6 (IHI 0070 6.3.25 SPLIT)", () => {
  // IHI 0070 6.3.25 SPLIT: "0b00110 | 6 bits - 4 KB leaf tables. 0b01000 | 8 bits ... 0b01010 | 10 bits ... Other
  // values are reserved, behave as 6 (0b0110)." "The upper-level L1STD is located using StreamID[LOG2SIZE - 1:SPLIT]".
  // A table laid out for SPLIT 6: L1STD 0 (StreamIDs 0-63) invalid, L1STD 1 (64-127) holds a bypass STE 0x40.
  for (const split of [0, 5, 7, 9, 11, 31]) {
    const b = bench();
    b.driver.write(REG.CR0, 0x0c); // SMMUEN off (STRTAB_* are guarded by it), queues on
    const l1 = b.alloc.alloc(8 * 4, 64);
    const l2 = b.alloc.alloc(64 * 64, 4096);
    guest.writeStruct(b.memory, l1 + 8, L1STD as unknown as guest.Fields, 2, { Span: 7, L2Ptr: l2 });
    guest.steAt(b.memory, l2, { V: 1, Config: STE_CONFIG.BYPASS });
    const base = new Uint32Array(2);
    STRTAB_BASE.ADDR.setAddress(base, l1);
    b.driver.write64(REG.STRTAB_BASE, base[0], base[1]);
    const cfg = new Uint32Array(1);
    STRTAB_BASE_CFG.FMT.set(cfg, STRTAB_BASE_CFG_FMT.TWO_LEVEL);
    STRTAB_BASE_CFG.SPLIT.set(cfg, split);
    STRTAB_BASE_CFG.LOG2SIZE.set(cfg, 8);
    b.driver.write(REG.STRTAB_BASE_CFG, cfg[0]);
    b.driver.enable(0x0d);
    b.driver.invalidateAll();
    assert.deepEqual(b.smmu.translate(0x40, PAGE, {}), { ok: true, pa: PAGE }, `SPLIT ${split}`);
    assert.equal(b.driver.events().length, 0, `SPLIT ${split}`);
  }
});
