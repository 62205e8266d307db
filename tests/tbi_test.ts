// Top Byte Ignore (CD.TBI0/TBI1; DDI 0487 D8.8, IHI 0070 5.4): a tagged address, whose bits [63:56] are not the
// sign extension of bit 55, translates as its untagged form only in a stage-1 range with TBI set; elsewhere it takes
// a translation fault, and the event reports the address with its tag.
import assert from "node:assert/strict";
import { CD_IPS, CD_TG0, EVENT_TYPE, EVT_F_TRANSLATION, REG, STE, STE_CONFIG } from "../gen/mod.ts";
import { guest, Smmu, SparseMemory } from "../mod.ts";

const PAGE_PA = 0x8000_0000;

/** A Linux-style device 8 with one stage-1 page at IOVA 0x1000 (TTB0, 48-bit VA), TBI0 as given. */
function setUp(tbi0: 0 | 1) {
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory });
  const driver = new guest.Driver(smmu, memory);
  driver.probe();
  driver.reset({ cr2: guest.LINUX_CR2 });
  const alloc = new guest.Allocator(0x5000_0000);
  const tables = new guest.PageTable(memory, alloc, 12, 48, 0);
  tables.map(0x1000, PAGE_PA);
  const cd = alloc.alloc(64, 64);
  guest.cdAt(memory, cd, {
    ...{ V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, TG0: CD_TG0.GRAN_4K, IPS: CD_IPS.BITS_48 },
    ...{ TTB0: tables.root, ASID: 1, TBI0: tbi0 },
  });
  driver.writeSte(8, STE_CONFIG.S1_TRANS, (ste) => STE.S1ContextPtr.setAddress(ste, cd));
  driver.invalidateSte(8);
  return { smmu, driver };
}

const TAGGED = 0x5a00_0000_0000_1010n;

Deno.test("with TBI0 a tagged address translates as its untagged form, TLB hit or walk", () => {
  const { smmu } = setUp(1);
  assert.deepEqual(smmu.translate(8, TAGGED, { write: true }), { ok: true, pa: PAGE_PA + 0x10 }, "walk");
  assert.deepEqual(smmu.translate(8, TAGGED, {}), { ok: true, pa: PAGE_PA + 0x10 }, "TLB hit");
  assert.deepEqual(smmu.translate(8, 0x1010n, {}), smmu.translate(8, 0x1010, {}), "an untagged bigint is the number");
});

Deno.test("without TBI0 a tagged address faults, even after the untagged page was cached", () => {
  const { smmu, driver } = setUp(0);
  assert.equal(smmu.translate(8, 0x1010, {}).ok, true); // fills the TLB for the page
  assert.deepEqual(smmu.translate(8, TAGGED, {}), { ok: false, fault: "F_TRANSLATION", event: true });
  const [event] = driver.events();
  assert.equal(EVT_F_TRANSLATION.Type.get(event), EVENT_TYPE.F_TRANSLATION);
  // The record carries the address as the device issued it, tag included.
  assert.equal(EVT_F_TRANSLATION.InputAddr_HI.get(event), Number(TAGGED >> 32n));
  assert.equal(EVT_F_TRANSLATION.InputAddr_LO.get(event), Number(TAGGED & 0xffff_ffffn));
});

Deno.test("without TBI a tagged address faults even when a cached block covers its untagged form", () => {
  // Found by the fuzzer: a cached block (unlike a cached page) answered for a tagged address.
  const { smmu, driver } = setUp(0);
  const alloc = new guest.Allocator(0x6000_0000);
  const tables = new guest.PageTable(driver.memory, alloc, 12, 48, 0);
  tables.map(0x4000_0000, 0x4000_0000, 1); // a 1 GiB block
  const cd = alloc.alloc(64, 64);
  guest.cdAt(driver.memory, cd, {
    ...{ V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, TG0: CD_TG0.GRAN_4K, IPS: CD_IPS.BITS_48 },
    ...{ TTB0: tables.root, ASID: 2 },
  });
  driver.writeSte(10, STE_CONFIG.S1_TRANS, (ste) => STE.S1ContextPtr.setAddress(ste, cd));
  driver.invalidateSte(10);
  assert.deepEqual(smmu.translate(10, 0x4000_1000, {}), { ok: true, pa: 0x4000_1000 }); // caches the block
  const tagged = 0x0100_0000_4000_2000n;
  assert.deepEqual(smmu.translate(10, tagged, {}), { ok: false, fault: "F_TRANSLATION", event: true });
  assert.deepEqual(smmu.probe(10, tagged, {}), { ok: false, fault: "F_TRANSLATION", event: true });
});

Deno.test("a tagged address on a stream without stage 1 faults; bigints outside 64 bits are host errors", () => {
  const { smmu, driver } = setUp(1);
  driver.writeSte(9, STE_CONFIG.BYPASS);
  driver.invalidateSte(9);
  assert.deepEqual(smmu.translate(9, 0x1010n, {}), { ok: true, pa: 0x1010 });
  assert.equal(smmu.translate(9, TAGGED, {}).ok, false, "a bypassed tagged address exceeds the output size");
  assert.throws(() => smmu.translate(8, 1n << 64n, {}), /64-bit/);
  assert.equal(smmu.mmioRead(REG.GERROR, 4), smmu.mmioRead(REG.GERRORN, 4), "no global error");
});
