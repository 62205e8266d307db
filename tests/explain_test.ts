/** Smmu.explain and Smmu.cacheContents: a transaction's configuration, walk and cached answer, for tools. */
import assert from "node:assert/strict";
import { ACCESS, guest, Smmu, SparseMemory, spec } from "../mod.ts";

/** The README's stage-1 device (StreamID 8, 4 KiB granule, 48-bit VA), plus a nested one (StreamID 9). */
function setup() {
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory });
  const driver = new guest.Driver(smmu, memory);
  driver.probe();
  driver.reset({ cr2: guest.LINUX_CR2 });
  const alloc = new guest.Allocator(0x5000_0000);
  const tables = new guest.PageTable(memory, alloc, 12, 48, 0);
  tables.map(0x1000, 0x8000_0000);
  const cd = alloc.alloc(64, 64);
  guest.cdAt(memory, cd, {
    ...{ V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, TG0: spec.CD_TG0.GRAN_4K, IPS: spec.CD_IPS.BITS_48 },
    ...{ TTB0: tables.root, ASID: 1 },
  });
  driver.writeSte(8, spec.STE_CONFIG.S1_TRANS, (ste) => spec.STE.S1ContextPtr.setAddress(ste, cd));
  driver.invalidateSte(8);
  return { memory, smmu, driver, alloc, tables, cd };
}

Deno.test("explain: a stage-1 walk reads the STE, the CD, then one descriptor per level", () => {
  const { smmu, driver, tables, cd } = setup();
  const e = smmu.explain(8, 0x1010, { write: true });
  assert.deepEqual(e.result, { ok: true, pa: 0x8000_0010 });
  // IHI 0070 3.3.1: with a linear stream table the STE of StreamID n is at STRTAB_BASE.ADDR + 64n; 5.2 S1ContextPtr
  // gives the CD's address when STE.S1CDMax is 0.
  assert.deepEqual(e.config.map((r) => [r.structure, r.addr, r.cached, r.words.length]), [
    ["STE", driver.steAddress(8), false, 16],
    ["CD", cd, false, 16],
  ]);
  // A 48-bit input with a 4 KiB granule starts at level 0 (DDI 0487 D8.2.6); each step names its walk's input.
  assert.deepEqual(e.steps.map((s) => [s.stage, s.level, s.decision, s.inputAddr, s.granuleShift]), [
    [1, 0, "table", 0x1010, 12],
    [1, 1, "table", 0x1010, 12],
    [1, 2, "table", 0x1010, 12],
    [1, 3, "page", 0x1010, 12],
  ]);
  assert.equal(e.steps[0].tableAddr, tables.root);
  assert.equal(e.tlb, null);
  assert.equal(e.refused, "");
});

Deno.test("explain: after a transaction the TLB answers and the configuration comes from the caches", () => {
  const { smmu, driver, cd } = setup();
  assert.deepEqual(smmu.translate(8, 0x1010, { write: true }), { ok: true, pa: 0x8000_0010 });
  const e = smmu.explain(8, 0x1ffc, {});
  assert.deepEqual(e.result, { ok: true, pa: 0x8000_0ffc });
  assert.equal(e.steps.length, 0, "no walk: a TLB hit");
  // The page is read/write at both privileges (AP = 0b01) and executable; DDI 0487 D8.4.1: memory writable at EL0
  // is never executable at EL1, so the one access refused is a privileged instruction fetch.
  const allow = 0xff & ~(1 << (ACCESS.PRIV | ACCESS.EXEC));
  assert.deepEqual(e.tlb, { iova: 0x1000, size: 4096, pa: 0x8000_0000, ipa: -1, allow, global: true });
  assert.deepEqual(e.config.map((r) => [r.structure, r.addr, r.cached]), [
    ["STE", driver.steAddress(8), true],
    ["CD", cd, true],
  ]);
  const c = smmu.cacheContents();
  assert.deepEqual(c.streams, [{ sid: 8, steAddr: driver.steAddress(8) }]);
  assert.deepEqual(c.contexts.map((x) => [x.sid, x.ssid, x.kind, x.asid, x.cdAddr, x.entries.length]), [
    [8, -1, "translate", 1, cd, 1],
  ]);
  // IHI 0070 4.4.2 CMD_TLBI_NH_ALL (with CMD_SYNC): every stage-1 entry of the VMID is gone; the context stays.
  driver.issue(guest.command(spec.CMD_TLBI_NH_ALL_LAYOUT.code!));
  driver.sync();
  assert.equal(smmu.cacheContents().contexts[0].entries.length, 0);
});

Deno.test("explain: a refused STE says why, and reads nothing beyond it", () => {
  const { smmu, driver } = setup();
  driver.writeSte(8, spec.STE_CONFIG.S1_TRANS, (ste) => spec.STE.V.set(ste, 0));
  driver.invalidateSte(8);
  const e = smmu.explain(8, 0x1000, {});
  // IHI 0070 5.2: an STE with V = 0 is invalid, and a transaction through it raises C_BAD_STE.
  assert.deepEqual(e.result, { ok: false, fault: "C_BAD_STE", event: true });
  assert.deepEqual(e.config.map((r) => r.structure), ["STE"]);
  assert.match(e.refused, /STE\.V/);
  assert.equal(e.steps.length, 0);
});

Deno.test("explain: nested, each stage-1 table address is walked at stage 2 just before its descriptor is read", () => {
  const { memory, smmu, driver } = setup();
  // Stage-1 tables and the CD live at IPAs that stage 2 maps to PA = IPA + OFF with 2 MiB blocks.
  const OFF = 0x2000_0000;
  const s2 = new guest.PageTable(memory, new guest.Allocator(0x3000_0000), 12, 40, 1);
  for (let ipa = 0x4000_0000; ipa < 0x4040_0000; ipa += 0x20_0000) s2.map(ipa, ipa + OFF, 2, {}, 2);
  s2.map(0x4800_0000, 0x7000_0000, 2, {}, 2);
  const ipas = new guest.Allocator(0x4000_0000);
  const s1 = new guest.PageTable(memory, ipas, 12, 48, 0, (a) => a + OFF);
  s1.map(0x2000, 0x4800_0000);
  const cd = ipas.alloc(64, 64);
  guest.cdAt(memory, cd + OFF, {
    ...{ V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, TG0: spec.CD_TG0.GRAN_4K, IPS: spec.CD_IPS.BITS_48 },
    ...{ TTB0: s1.root, ASID: 2 },
  });
  driver.writeSte(9, spec.STE_CONFIG.NESTED, (ste) => {
    spec.STE.S1ContextPtr.setAddress(ste, cd);
    spec.STE.S2AA64.set(ste, 1);
    spec.STE.S2T0SZ.set(ste, 24);
    spec.STE.S2SL0.set(ste, 1);
    spec.STE.S2PS.set(ste, 5);
    spec.STE.S2R.set(ste, 1);
    spec.STE.S2TTB.setAddress(ste, s2.root);
  });
  driver.invalidateSte(9);
  const e = smmu.explain(9, 0x2010, {});
  assert.deepEqual(e.result, { ok: true, pa: 0x7000_0010 });
  // IHI 0070 3.3.2: with stage 2 enabled, S1ContextPtr is an IPA; the CD is fetched at its stage-2 translation.
  const cdRead = e.config.find((r) => r.structure === "CD")!;
  assert.equal(cdRead.addr, cd + OFF);
  // A 40-bit IPA with S2SL0 = 1 and 4 KiB granule starts at level 1; 2 MiB blocks end at level 2.
  const s2Walk = (ipa: number) => [[2, 1, "table", ipa], [2, 2, "block", ipa]];
  const cdWalk = e.steps.slice(0, cdRead.after).map((s) => [s.stage, s.level, s.decision, s.inputAddr]);
  assert.deepEqual(cdWalk, s2Walk(cd));
  // Then, per stage-1 level, the stage-2 walk of the descriptor's IPA and the descriptor read at its PA; last, the
  // stage-2 walk of the output IPA (the two-dimensional walk of a nested translation).
  const rest = e.steps.slice(cdRead.after).map((s) => [s.stage, s.level, s.decision, s.inputAddr]);
  const expected: unknown[] = [];
  let table = s1.root;
  for (let level = 0; level <= 3; level++) {
    const descIpa = table + 8 * (Math.floor(0x2010 / 2 ** (12 + 9 * (3 - level))) % 512);
    expected.push(...s2Walk(descIpa), [1, level, level === 3 ? "page" : "table", 0x2010]);
    const step = e.steps.find((s) => s.stage === 1 && s.level === level)!;
    assert.equal(step.descAddr, descIpa + OFF, `level ${level} descriptor read at its PA`);
    table = step.descLo - (step.descLo & 0xfff);
  }
  expected.push(...s2Walk(0x4800_0010));
  assert.deepEqual(rest, expected);
});
