/**
 * The event queue in its error states (audit of issue 12, item 2): EVENTQ_ABT_ERR active, overflow and its
 * acknowledgement, a disabled queue, against IHI 0070 7.2.1, 7.2.2, 7.4 and 7.5. The PRI queue's states are covered by
 * tests/priq_test.ts (8.1, 8.2), MSI aborts by tests/events_test.ts and tests/irq_test.ts.
 */
import assert from "node:assert/strict";
import {
  CR0,
  EVENTQ_BASE,
  EVENTQ_CONS,
  EVENTQ_PROD,
  type Field,
  GERROR,
  GERROR_IRQ_CFG0,
  IRQ_CTRLACK,
  REG,
} from "../gen/mod.ts";
import { SparseMemory } from "../mod.ts";
import { EVENTQ_IRQ, Interrupts, PRIQ_IRQ } from "../src/device/irq.ts";
import { idRegistersFor } from "../src/registers/features.ts";
import { RegisterFile, word } from "../src/registers/regfile.ts";
import { type Bench, bench, stage1 } from "./helpers/guest_bench.ts";

const NOWHERE = 2 ** 40; // no memory answers here (SparseMemory({ size: 2 ** 40 }))
const cr0 = (...fs: Field[]) => fs.reduce((v, f) => v | (1 << f.lsb), 0);
const QUEUES_ON = cr0(CR0.SMMUEN, CR0.EVENTQEN, CR0.CMDQEN);
const EVENTQ_OFF = cr0(CR0.SMMUEN, CR0.CMDQEN);

/** Points the (disabled) event queue at `addr` with 2^log2 entries, PROD = CONS = 0, and enables it again. */
function moveEventQueue(b: Bench, addr: number, log2 = b.driver.eventqLog2): void {
  b.driver.enable(EVENTQ_OFF);
  const w = new Uint32Array(2);
  EVENTQ_BASE.ADDR.setAddress(w, addr);
  EVENTQ_BASE.LOG2SIZE.set(w, log2);
  b.driver.write64(REG.EVENTQ_BASE, w[0], w[1]);
  b.driver.write(REG.EVENTQ_PROD, 0);
  b.driver.write(REG.EVENTQ_CONS, 0);
  b.driver.enable(QUEUES_ON);
}

/** A stage-1 stream 1 whose every access faults (nothing mapped) with a recorded F_TRANSLATION. */
function faulting() {
  const b = bench();
  stage1(b, 1);
  const fault = (iova = 0x1000) => b.smmu.translate(1, iova, {});
  return { b, fault };
}

const prod = (b: Bench) => b.driver.read(REG.EVENTQ_PROD);
const abortActive = (b: Bench) =>
  ((b.driver.read(REG.GERROR) ^ b.driver.read(REG.GERRORN)) & (1 << GERROR.EVENTQ_ABT_ERR.lsb)) !== 0;

Deno.test("audit item 2: nothing is written to the event queue while EVENTQ_ABT_ERR is active (IHI 0070 7.2.1, 7.2.2)", () => {
  // IHI 0070 7.2.1: "The Event queue is writable when all of the following are true: ... No unacknowledged
  // GERROR.EVENTQ_ABT_ERR condition exists for the queue. When the queue is not writable, events not associated with
  // stalled faults are silently discarded. In addition, a queue overflow condition is triggered when events are
  // discarded because the queue is unwritable because it is full". 7.2.2: "The SMMU only writes to the Event queue
  // when the queue is both enabled and writable". 7.5: "Delivery into the Event queue stops when an abort is flagged".
  const { b, fault } = faulting();
  const good = b.driver.layout.eventq;
  moveEventQueue(b, NOWHERE);
  fault();
  assert.ok(abortActive(b), "the aborted record write activates EVENTQ_ABT_ERR");
  // The guest repairs the queue but has not acknowledged the error yet.
  moveEventQueue(b, good);
  const before = b.memory.read32(good);
  fault(0x2000);
  fault(0x3000);
  assert.equal(prod(b), 0, "PROD stays: no record delivered");
  assert.equal(b.memory.read32(good), before, "the slot is not written");
  assert.equal(EVENTQ_PROD.OVFLG.get(Uint32Array.of(prod(b))), 0, "discarding for the abort is no overflow");
  // Acknowledged: the queue is writable again.
  b.driver.ackErrors();
  fault(0x4000);
  assert.equal(b.driver.events().length, 1, "the next record is delivered");
});

Deno.test("audit item 2: a stall's record waits while EVENTQ_ABT_ERR is active, written once acknowledged (IHI 0070 7.2.1)", () => {
  // IHI 0070 7.2.1: "Events caused by stalled transactions are not discarded. ... If the transaction is not retried,
  // the original fault event record is recorded into the queue when it becomes writable."
  const b = bench();
  stage1(b, 1, { S: 1, R: 0 });
  const good = b.driver.layout.eventq;
  moveEventQueue(b, NOWHERE);
  b.smmu.translate(1, 0x1000, {}); // its record's write aborts: EVENTQ_ABT_ERR
  assert.ok(abortActive(b));
  moveEventQueue(b, good);
  const r = b.smmu.translate(1, 0x2000, {});
  assert.ok(!r.ok && r.stall !== undefined && !r.stall.recorded, "held, its record not written");
  assert.equal(prod(b), 0);
  b.driver.ackErrors();
  const types = b.driver.events().map((e) => e[0] & 0xff);
  assert.ok(types.length >= 1, "the waiting stall's record is written once the queue is writable");
});

Deno.test("audit item 2: after an overflow the queue delivers again as soon as it has room, acknowledged or not (IHI 0070 7.4)", () => {
  // IHI 0070 7.4: "When an overflow occurs, the SMMU toggles the SMMU_EVENTQ_PROD.OVFLG flag if the overflow condition
  // is not already present." "Note: In terms of delivering events, a queue in an unacknowledged overflow state does
  // not behave any differently to normal queue state. If software were to consume events and free space but leave
  // overflow unacknowledged, new events could be recorded."
  const { b, fault } = faulting();
  moveEventQueue(b, b.driver.layout.eventq, 1); // two slots
  fault(0x1000), fault(0x2000);
  assert.equal(prod(b), 0b10, "full: index 0, wrap 1");
  fault(0x3000), fault(0x4000);
  const ovflg = () => EVENTQ_PROD.OVFLG.get(Uint32Array.of(prod(b)));
  assert.equal(ovflg(), 1, "overflow toggles OVFLG");
  assert.equal(b.smmu.stats.eventsLost, 2);
  // Consume one record, leaving the overflow unacknowledged (OVACKFLG stays 0).
  b.driver.write(REG.EVENTQ_CONS, 1);
  fault(0x5000);
  assert.equal(EVENTQ_PROD.WR.get(Uint32Array.of(prod(b))), 0b11, "the new record went into the freed slot");
  // Full again, still unacknowledged: a second overflow cannot be indicated, OVFLG stays.
  fault(0x6000);
  assert.equal(ovflg(), 1);
  // Acknowledged with a CONS write that frees the queue; the next overflow toggles OVFLG back.
  const cons = new Uint32Array(1);
  EVENTQ_CONS.RD.set(cons, 0b11);
  EVENTQ_CONS.OVACKFLG.set(cons, 1);
  b.driver.write(REG.EVENTQ_CONS, cons[0]);
  fault(0x7000), fault(0x8000), fault(0x9000);
  assert.equal(ovflg(), 0, "a new overflow after the acknowledgement toggles OVFLG again");
});

Deno.test("audit item 2: a disabled event queue discards records without an overflow (IHI 0070 7.4)", () => {
  // IHI 0070 7.4: "When EVENTQEN == 0, events are not delivered and non-stall event records might be discarded but do
  // not cause an overflow condition."
  const { b, fault } = faulting();
  moveEventQueue(b, b.driver.layout.eventq, 0); // one slot
  b.driver.enable(EVENTQ_OFF);
  for (let i = 0; i < 3; i++) fault(0x1000 * (i + 1));
  assert.equal(prod(b), 0, "PROD and OVFLG stay");
  b.driver.enable(QUEUES_ON);
  fault();
  assert.equal(b.driver.events().length, 1);
});

Deno.test("audit item 2: an aborted MSI activates its MSI_*_ABT_ERR, and later MSIs are still sent (IHI 0070 6.3.20, 7.5.1)", () => {
  // IHI 0070 6.3.20 (MSI_CMDQ/EVENTQ/PRIQ/GERROR_ABT_ERR): "... MSI was terminated with abort. Activation of this
  // error does not affect future MSIs." 7.5.1: "A GERROR interrupt is triggered when the SMMU activates an error, with
  // the exception of ... MSI_GERROR_ABT_ERR".
  const HOLE = 0x6000_0000, GOOD = 0x5000_0000;
  const sources = [
    { name: "EVENTQ", src: EVENTQ_IRQ, cfg0: REG.EVENTQ_IRQ_CFG0, err: GERROR.MSI_EVENTQ_ABT_ERR },
    { name: "PRIQ", src: PRIQ_IRQ, cfg0: REG.PRIQ_IRQ_CFG0, err: GERROR.MSI_PRIQ_ABT_ERR },
  ];
  for (const s of sources) {
    const regs = new RegisterFile();
    regs.words[word(REG.IDR0)] = idRegistersFor({ pri: true }).IDR0;
    const msis: number[] = [], calls: string[] = [];
    const irq = new Interrupts(regs, new SparseMemory({ holes: [[HOLE, HOLE + 0x1000]] }), {
      gerror: () => calls.push("gerror"),
    }, (a) => msis.push(a));
    const w = regs.words;
    for (const f of [s.src.enable, IRQ_CTRLACK.GERROR_IRQEN]) f.set(w, 1, word(REG.IRQ_CTRLACK));
    GERROR_IRQ_CFG0.ADDR.setAddress(w, HOLE, word(s.cfg0));
    irq.signal(s.src);
    assert.ok(irq.errorActive(s.err), `${s.name}: the abort activates its error`);
    assert.deepEqual(calls, ["gerror"], `${s.name}: and the GERROR interrupt`);
    GERROR_IRQ_CFG0.ADDR.setAddress(w, GOOD, word(s.cfg0));
    irq.signal(s.src);
    assert.deepEqual(msis, [GOOD], `${s.name}: the next MSI is sent while the error is active`);
  }
  // The GERROR MSI itself: its abort activates MSI_GERROR_ABT_ERR with no GERROR interrupt for it; the next error's
  // GERROR MSI is still sent.
  const regs = new RegisterFile();
  regs.words[word(REG.IDR0)] = idRegistersFor({}).IDR0;
  const msis: number[] = [];
  const irq = new Interrupts(regs, new SparseMemory({ holes: [[HOLE, HOLE + 0x1000]] }), {}, (a) => msis.push(a));
  IRQ_CTRLACK.GERROR_IRQEN.set(regs.words, 1, word(REG.IRQ_CTRLACK));
  GERROR_IRQ_CFG0.ADDR.setAddress(regs.words, HOLE, word(REG.GERROR_IRQ_CFG0));
  irq.raise(GERROR.CMDQ_ERR);
  assert.ok(irq.errorActive(GERROR.MSI_GERROR_ABT_ERR));
  GERROR_IRQ_CFG0.ADDR.setAddress(regs.words, GOOD, word(REG.GERROR_IRQ_CFG0));
  irq.raise(GERROR.EVENTQ_ABT_ERR);
  assert.deepEqual(msis, [GOOD], "the next GERROR MSI is sent");
});
