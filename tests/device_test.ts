import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import { CR0, EVENT_TYPE, EVT_C_BAD_STE, GBPA, OPCODE, REG, REGISTERS, STE_CONFIG } from "../gen/mod.ts";
import type { Field } from "../gen/mod.ts";
import { ACCESS, HostError, Smmu, type SmmuFeatures, SparseMemory } from "../mod.ts";
import { command, Driver } from "../src/guest/driver.ts";

function device(features: SmmuFeatures = {}) {
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory, features });
  const rd = (off: number, size: 4 | 8 = 4) => smmu.mmioRead(off, size);
  const wr = (off: number, v: bigint, size: 4 | 8 = 4) => smmu.mmioWrite(off, size, v);
  return { smmu, memory, rd, wr };
}
const ONES32 = 0xffff_ffffn;
const ONES64 = 0xffff_ffff_ffff_ffffn;
const cr0 = (...fields: Field[]) => {
  const w = new Uint32Array(1);
  for (const f of fields) f.set(w, 1);
  return BigInt(w[0]);
};

Deno.test("every register reads its reset value out of reset (IHI 0070 6.3)", () => {
  const { rd } = device();
  for (const r of REGISTERS) {
    if (r.state === "id") continue;
    const want = r.access === "RAZ/WI" ? 0n : BigInt(r.reset[0]) + (BigInt(r.reset[1]) << 32n);
    assert.equal(rd(r.offset, r.width === 64 ? 8 : 4), want, r.name);
  }
  assert.equal(rd(REG.GBPA), 0x1000n, "GBPA: SHCFG = use incoming");
});

// [register, width, value written, value read back] under the default features (MSI, no PRI/ATS/ATOS/Hyp, OAS 48).
const WRITES: [string, 4 | 8, bigint, bigint][] = [
  ["CR0", 4, ONES32, cr0(CR0.SMMUEN, CR0.EVENTQEN, CR0.CMDQEN)], // PRIQEN, ATSCHK, VMW: RES0 without PRI/ATS/VMW
  ["CR1", 4, ONES32, 0xfffn],
  ["CR2", 4, ONES32, 0x6n], // E2H needs Hyp, REC_CFG_ATS needs ATSRECERR
  ["GBPA", 4, ONES32, 0x1f3f1fn], // Update set: every field taken, Update reads 0
  ["GBPA", 4, 0x0010_0000n, 0x1000n], // Update clear: ignored
  ["AGBPA", 4, ONES32, 0n],
  ["IRQ_CTRL", 4, ONES32, 0x5n], // PRIQ_IRQEN needs PRI
  ["GERRORN", 4, ONES32, 0x1b5n], // no PRIQ_* (no PRI), no CMDQP_ERR (no ECMDQ)
  ["GERROR_IRQ_CFG0", 8, ONES64, 0x0000_ffff_ffff_fffcn], // ADDR[47:2]: OAS 48
  ["GERROR_IRQ_CFG1", 4, ONES32, ONES32],
  ["GERROR_IRQ_CFG2", 4, ONES32, 0x3fn],
  ["STRTAB_BASE", 8, ONES64, 0x4000_ffff_ffff_ffc0n], // RA, ADDR[47:6]
  ["STRTAB_BASE_CFG", 4, ONES32, 0x7d0n], // LOG2SIZE → SIDSIZE 16, FMT 3 (reserved) → linear, SPLIT kept
  // 2-level: a reserved SPLIT behaves as 6 (IHI 0070 6.3.25: "Other values are reserved, behave as 6")
  ["STRTAB_BASE_CFG", 4, 0x1_07d0n, 0x1_0190n], // SPLIT 31 → 6
  ["STRTAB_BASE_CFG", 4, 0x1_01c8n, 0x1_0188n], // SPLIT 7 → 6, LOG2SIZE 8
  ["STRTAB_BASE_CFG", 4, 0x1_0248n, 0x1_0188n], // SPLIT 9 → 6
  ["CMDQ_BASE", 8, ONES64, 0x4000_ffff_ffff_fff3n], // RA, ADDR[47:5], LOG2SIZE → CMDQS 19
  ["CMDQ_PROD", 4, ONES32, 0x1n], // LOG2SIZE 0: index bits none, wrap bit 0
  ["CMDQ_CONS", 4, ONES32, 0x1n], // ERR is read-only
  ["EVENTQ_BASE", 8, ONES64, 0x4000_ffff_ffff_fff3n],
  ["EVENTQ_PROD", 4, ONES32, 0x8000_0001n], // OVFLG and the wrap bit
  ["EVENTQ_CONS", 4, ONES32, 0x8000_0001n],
  ["EVENTQ_IRQ_CFG0", 8, ONES64, 0x0000_ffff_ffff_fffcn],
  ["PRIQ_BASE", 8, ONES64, 0n], // no PRI: RES0
  ["PRIQ_PROD", 4, ONES32, 0n],
  ["GATOS_CTRL", 4, ONES32, 0n], // no ATOS: RES0
  ["GATOS_ADDR", 8, ONES64, 0n],
  ["IDR0", 4, ONES32, -1n], // -1: unchanged (read-only)
  ["CR0ACK", 4, ONES32, 0n],
  ["GERROR", 4, ONES32, 0n],
  ["STATUSR", 4, ONES32, 0n],
  ["PIDR0", 4, ONES32, 0x83n],
];
for (const [name, size, value, want] of WRITES) {
  Deno.test(`${name}: writing 0x${value.toString(16)} stores 0x${want.toString(16)}`, () => {
    const { rd, wr } = device({ ats: false, pri: false }); // the table's values are those of an SMMU without them
    const off = REG[name as keyof typeof REG];
    const before = rd(off, size);
    wr(off, value, size);
    assert.equal(rd(off, size), want === -1n ? before : want);
  });
}

Deno.test("without MSI the IRQ_CFG registers are RES0; with PRI the PRI queue registers exist", () => {
  const a = device({ msi: false });
  a.wr(REG.EVENTQ_IRQ_CFG1, ONES32);
  assert.equal(a.rd(REG.EVENTQ_IRQ_CFG1), 0n);
  const b = device({ pri: true });
  b.wr(REG.PRIQ_BASE, 0x4000_0000_0000_0004n, 8);
  b.wr(REG.PRIQ_PROD, 0x8000_001fn);
  assert.equal(b.rd(REG.PRIQ_BASE, 8), 0x4000_0000_0000_0004n);
  assert.equal(b.rd(REG.PRIQ_PROD), 0x8000_001fn);
  assert.equal(b.rd(REG.PRIQ_PROD_P0), 0x8000_001fn, "page-0 alias");
});

Deno.test("32-bit halves of 64-bit registers read and write independently (IHI 0070 6.2)", () => {
  const { rd, wr } = device();
  wr(REG.STRTAB_BASE, 0x4100_0000n);
  wr(REG.STRTAB_BASE + 4, 0x4000_0000n);
  assert.equal(rd(REG.STRTAB_BASE, 8), 0x4000_0000_4100_0000n);
  assert.equal(rd(REG.STRTAB_BASE + 4), 0x4000_0000n);
  wr(REG.STRTAB_BASE, 0x4200_0000n);
  assert.equal(rd(REG.STRTAB_BASE, 8), 0x4000_0000_4200_0000n, "the high half is kept");
});

Deno.test("wrong-width and misaligned guest accesses are RAZ/WI", () => {
  const { rd, wr } = device();
  wr(REG.CR1, 0x5n);
  assert.equal(rd(REG.CR1, 8), 0n, "64-bit read of a 32-bit register");
  wr(REG.CR1, 0xfn, 8);
  assert.equal(rd(REG.CR1), 0x5n, "64-bit write of a 32-bit register is ignored");
  wr(REG.STRTAB_BASE, 0x4100_0000n, 8);
  assert.equal(rd(REG.STRTAB_BASE + 4, 8), 0n, "64-bit read at the high half");
  wr(REG.STRTAB_BASE + 4, 0x1234n, 8);
  assert.equal(rd(REG.STRTAB_BASE, 8), 0x4100_0000n, "64-bit write at the high half is ignored");
  assert.equal(rd(REG.CR1 + 2), 0n, "misaligned read");
  wr(REG.CR1 + 1, 0xffn);
  assert.equal(rd(REG.CR1), 0x5n, "misaligned write is ignored");
  for (const off of [0x30, 0x1000, 0xfffc, 0x10000, 0x1fffc]) assert.equal(rd(off), 0n, `no register at ${off}`);
});

Deno.test("host misuse of mmioRead/mmioWrite throws HostError and changes nothing", () => {
  const { smmu, rd } = device();
  assert.throws(() => smmu.mmioRead(0x20, 2 as never), HostError);
  assert.throws(() => smmu.mmioRead(0x20000, 4), HostError);
  assert.throws(() => smmu.mmioRead(-4, 4), HostError);
  assert.throws(() => smmu.mmioRead(1.5, 4), HostError);
  assert.throws(() => smmu.mmioWrite(REG.CR1, 4, 0x1_0000_0000n), HostError);
  assert.throws(() => smmu.mmioWrite(REG.CR1, 4, -1n), HostError);
  assert.throws(() => smmu.mmioWrite(REG.CR1, 16 as never, 1n), HostError);
  assert.throws(() => smmu.mmioWrite(REG.CR1, 4, 5 as never), HostError);
  assert.equal(rd(REG.CR1), 0n);
});

Deno.test("registers are read-only while what they configure is enabled (IHI 0070 6.3.11, 6.3.12, 6.3.24-6.3.29)", () => {
  const { smmu, memory, rd, wr } = device();
  const d = new Driver(smmu, memory);
  d.probe();
  d.reset({ irqs: 0x5 });
  const locked: [number, 4 | 8][] = [
    [REG.STRTAB_BASE, 8],
    [REG.STRTAB_BASE_CFG, 4],
    [REG.CR2, 4],
    [REG.CR1, 4],
    [REG.CMDQ_BASE, 8],
    [REG.EVENTQ_BASE, 8],
    [REG.EVENTQ_PROD, 4],
    [REG.GERROR_IRQ_CFG0, 8],
    [REG.EVENTQ_IRQ_CFG1, 4],
  ];
  for (const [off, size] of locked) {
    const before = rd(off, size);
    wr(off, ONES64 >> (size === 4 ? 32n : 0n), size);
    assert.equal(rd(off, size), before, `offset 0x${off.toString(16)}`);
  }
  const lockedValues = locked.map(([off, size]) => rd(off, size));
  d.enable(0);
  d.write(REG.IRQ_CTRL, 0);
  locked.forEach(([off, size], i) => {
    wr(off, ONES64 >> (size === 4 ? 32n : 0n), size);
    assert.notEqual(rd(off, size), lockedValues[i], `writable again: 0x${off.toString(16)}`);
  });
});

Deno.test("CR0 changes are acknowledged in CR0ACK; ATSCHK cannot change while SMMUEN stays 1", () => {
  const { rd, wr } = device({ ats: true });
  fc.assert(fc.property(fc.integer({ min: 0, max: 0x1f }), (v) => {
    wr(REG.CR0, BigInt(v & ~0x2)); // no PRI: PRIQEN RES0
    assert.equal(rd(REG.CR0ACK), rd(REG.CR0));
  }));
  wr(REG.CR0, 0n);
  wr(REG.CR0, cr0(CR0.SMMUEN));
  wr(REG.CR0, cr0(CR0.SMMUEN, CR0.ATSCHK));
  assert.equal(rd(REG.CR0), cr0(CR0.SMMUEN));
  wr(REG.CR0, cr0(CR0.ATSCHK));
  assert.equal(rd(REG.CR0), cr0(CR0.ATSCHK), "taken in the write that disables");
});

Deno.test("IRQ_CTRL is acknowledged in IRQ_CTRLACK", () => {
  const { rd, wr } = device({ pri: true });
  for (const v of [0x7n, 0x2n, 0x0n, 0x5n]) {
    wr(REG.IRQ_CTRL, v);
    assert.equal(rd(REG.IRQ_CTRLACK), v);
  }
});

Deno.test("GBPA: new values only with Update; Update reads 0 once taken", () => {
  const { smmu, memory, rd } = device();
  const d = new Driver(smmu, memory);
  const w = new Uint32Array(1);
  GBPA.ABORT.set(w, 1);
  d.updateGbpa(w[0]);
  assert.equal(rd(REG.GBPA), BigInt(w[0]));
  d.write(REG.GBPA, 0);
  assert.equal(rd(REG.GBPA), BigInt(w[0]), "a write without Update is ignored");
});

Deno.test("a queue's new LOG2SIZE re-masks PROD and CONS to its index and wrap bits", () => {
  const { rd, wr } = device();
  wr(REG.EVENTQ_BASE, 0x4210_0005n, 8);
  wr(REG.EVENTQ_PROD, 0x8000_003fn);
  wr(REG.EVENTQ_CONS, 0x8000_0025n);
  assert.deepEqual([rd(REG.EVENTQ_PROD), rd(REG.EVENTQ_CONS)], [0x8000_003fn, 0x8000_0025n]);
  wr(REG.EVENTQ_BASE, 0x4210_0002n, 8);
  assert.deepEqual([rd(REG.EVENTQ_PROD), rd(REG.EVENTQ_CONS)], [0x8000_0007n, 0x8000_0005n]);
  assert.deepEqual([rd(REG.EVENTQ_PROD_P0), rd(REG.EVENTQ_CONS_P0)], [0x8000_0007n, 0x8000_0005n], "aliases");
});

Deno.test("page-0 PROD/CONS aliases write through to page 1", () => {
  const { rd, wr } = device();
  wr(REG.EVENTQ_BASE, 0x4210_0005n, 8);
  wr(REG.EVENTQ_CONS_P0, 0x3n);
  assert.equal(rd(REG.EVENTQ_CONS), 0x3n);
  wr(REG.EVENTQ_CONS, 0x4n);
  assert.equal(rd(REG.EVENTQ_CONS_P0), 0x4n);
});

Deno.test("reset returns every register to its reset value, keeps the ID registers, and re-enabling works", () => {
  const { smmu, memory, rd } = device();
  const d = new Driver(smmu, memory);
  d.probe();
  const ids = [0x0, 0x4, 0xc, 0x14, 0x18, 0x1c, 0xfe0].map((o) => rd(o));
  d.reset({ irqs: 0x5 });
  d.write(REG.GERRORN, 1);
  smmu.reset();
  for (const r of REGISTERS) {
    if (r.state === "id") continue;
    const want = r.access === "RAZ/WI" ? 0n : BigInt(r.reset[0]) + (BigInt(r.reset[1]) << 32n);
    assert.equal(rd(r.offset, r.width === 64 ? 8 : 4), want, r.name);
  }
  assert.deepEqual([0x0, 0x4, 0xc, 0x14, 0x18, 0x1c, 0xfe0].map((o) => rd(o)), ids);
  d.reset();
  assert.equal(rd(REG.CR0ACK), cr0(CR0.SMMUEN, CR0.EVENTQEN, CR0.CMDQEN));
  assert.ok(d.sync(), "the command queue runs after reset");
});

Deno.test("observers hear of SMMUEN toggles and stream table moves", () => {
  const { smmu, wr } = device();
  let changes = 0;
  const stop = smmu.observe({ globalChanged: () => changes++ });
  wr(REG.STRTAB_BASE, 0x4100_0000n, 8);
  wr(REG.CR0, 1n);
  wr(REG.CR0, 1n);
  wr(REG.CR0, 0n);
  assert.equal(changes, 3);
  stop();
  wr(REG.CR0, 1n);
  assert.equal(changes, 3, "unsubscribed");
});

Deno.test("a Linux-like driver: bypass and abort STEs, a C_BAD_STE event for an invalid STE, events consumed", () => {
  const { smmu, memory } = device();
  const d = new Driver(smmu, memory);
  d.probe();
  d.writeSte(1, STE_CONFIG.BYPASS);
  d.writeSte(2, STE_CONFIG.ABORT);
  d.reset();
  assert.deepEqual(smmu.translate(1, 0x1234_5000, { write: true }), { ok: true, pa: 0x1234_5000 });
  assert.deepEqual(smmu.translate(2, 0x1000), { ok: false, fault: "ABORT", event: false });
  const bad = smmu.translate(3, 0x2000);
  assert.deepEqual(bad, { ok: false, fault: "C_BAD_STE", event: true });
  const events = d.events();
  assert.equal(events.length, 1);
  assert.equal(EVT_C_BAD_STE.Type.get(events[0]), EVENT_TYPE.C_BAD_STE);
  assert.equal(EVT_C_BAD_STE.StreamID.get(events[0]), 3);
  assert.equal(d.events().length, 0, "CONS caught up");
});

Deno.test("save and restore carry the programmed device; derived registers are recomputed", () => {
  const { smmu, memory, rd } = device();
  const d = new Driver(smmu, memory);
  d.probe();
  d.writeSte(1, STE_CONFIG.BYPASS);
  d.reset({ irqs: 0x5 });
  const again = new Smmu({ memory, features: {} });
  again.restore(smmu.save());
  for (const r of REGISTERS) {
    if (r.access === "RAZ/WI") continue;
    assert.equal(again.mmioRead(r.offset, r.width === 64 ? 8 : 4), rd(r.offset, r.width === 64 ? 8 : 4), r.name);
  }
  assert.deepEqual(again.translate(1, 0x5000), { ok: true, pa: 0x5000 });
});

Deno.test("mmioPeek reads what mmioRead reads, at every register, half and misaligned offset, 4 and 8 bytes", () => {
  const { smmu, memory, rd } = device();
  const driver = new Driver(smmu, memory);
  driver.probe();
  driver.reset({ irqs: 0x5 });
  for (const r of REGISTERS) {
    for (const size of [4, 8] as const) {
      for (const at of [r.offset, r.offset + 4, r.offset + 2]) {
        if (at >= 0x20000) continue;
        assert.equal(smmu.mmioPeek(at, size), rd(at, size), `${r.name} +${at - r.offset} (${size} bytes)`);
      }
    }
  }
  assert.throws(() => smmu.mmioPeek(0x20000, 4), HostError);
});

Deno.test("a CMDQ_CONS read lets pending commands run; a peek, or a wrong-width or misaligned read, does not", () => {
  const budget = 2; // the budget leaves commands pending after one PROD write
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory, commandBudget: budget });
  const driver = new Driver(smmu, memory);
  driver.probe();
  driver.reset();
  const cons = () => Number(smmu.mmioPeek(REG.CMDQ_CONS, 4));
  const prod = Number(smmu.mmioPeek(REG.CMDQ_PROD, 4));
  const size = 2 ** driver.cmdqLog2;
  const sync = command(OPCODE.SYNC);
  for (let i = 0; i < 6; i++) {
    for (let k = 0; k < 4; k++) memory.write32(driver.layout.cmdq + ((prod + i) % size) * 16 + 4 * k, sync[k]);
  }
  smmu.mmioWrite(REG.CMDQ_PROD, 4, BigInt(prod + 6));
  assert.equal(cons(), prod + budget, "the PROD write ran a budget's worth");
  smmu.mmioPeek(REG.CMDQ_CONS, 4);
  smmu.mmioRead(REG.CMDQ_CONS, 8); // a 64-bit access to a 32-bit register: reads zero, no side effect
  smmu.mmioRead(REG.CMDQ_CONS + 2, 4); // misaligned: reads zero, no side effect
  assert.equal(cons(), prod + budget, "nothing more ran");
  assert.equal(smmu.mmioRead(REG.CMDQ_CONS, 4), BigInt(prod + 2 * budget), "a real read let the queue run on");
});

Deno.test("translateAddress answers as translate does (PA or -1 with lastFault), and refuses bad host arguments", () => {
  // The same transaction through both entry points: the PA, or the fault translate reports (IHI 0070 3.12).
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory });
  const driver = new Driver(smmu, memory);
  driver.probe();
  driver.reset();
  driver.writeSte(3, STE_CONFIG.BYPASS);
  driver.writeSte(4, STE_CONFIG.ABORT);
  driver.invalidateAll();
  assert.equal(smmu.translateAddress(3, 0x1234, ACCESS.WRITE), 0x1234);
  assert.deepEqual(smmu.translate(3, 0x1234, { write: true }), { ok: true, pa: 0x1234 });
  assert.equal(smmu.translateAddress(4, 0x1000), -1);
  assert.deepEqual(smmu.lastFault, smmu.translate(4, 0x1000));
  assert.equal(smmu.translateAddress(300, 0x1000), -1, "a StreamID beyond the stream table");
  // Not recorded: CR2.RECINVSID is 0 after this reset (IHI 0070 6.3.12).
  assert.deepEqual(smmu.lastFault, { ok: false, fault: "C_BAD_STREAMID", event: false });
  const bad: [string, () => number][] = [
    ["StreamID", () => smmu.translateAddress(-1, 0)],
    ["StreamID", () => smmu.translateAddress(2 ** 32, 0)],
    ["IOVA", () => smmu.translateAddress(3, 0.5)],
    ["IOVA", () => smmu.translateAddress(3, Number.NaN)],
    ["IOVA", () => smmu.translateAddress(3, 2 ** 60)],
    ["access flags", () => smmu.translateAddress(3, 0, 8)],
    ["SubstreamID", () => smmu.translateAddress(3, 0, 0, 2 ** 20)],
    ["SubstreamID", () => smmu.translateAddress(3, 0, 0, -2)],
  ];
  for (const [what, call] of bad) assert.throws(call, (e) => e instanceof HostError && e.message.includes(what), what);
});
