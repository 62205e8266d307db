import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import { GERROR, GERROR_IRQ_CFG0, GERROR_IRQ_CFG1, IRQ_CTRLACK, PRIQ_IRQ_CFG0, REG } from "../gen/mod.ts";
import type { Field } from "../gen/mod.ts";
import { RegisterFile, word } from "../src/registers/regfile.ts";
import { idRegistersFor } from "../src/registers/features.ts";
import { EVENTQ_IRQ, Interrupts, PRIQ_IRQ } from "../src/device/irq.ts";
import { SparseMemory } from "../src/core/memory.ts";

function harness(memory = new SparseMemory(), msi = true) {
  const regs = new RegisterFile();
  const ids = idRegistersFor({ msi, pri: true });
  regs.words[word(REG.IDR0)] = ids.IDR0;
  const calls: string[] = [];
  const msis: [number, number][] = [];
  const irq = new Interrupts(regs, memory, {
    gerror: () => calls.push("gerror"),
    eventq: () => calls.push("eventq"),
    priq: () => calls.push("priq"),
  }, (a, d) => msis.push([a, d]));
  const w = regs.words;
  const gerror = () => w[word(REG.GERROR)];
  const ack = () => (w[word(REG.GERRORN)] = gerror());
  const enable = (f: Field) => f.set(w, 1, word(REG.IRQ_CTRLACK));
  return { regs, w, irq, calls, msis, gerror, ack, enable, memory };
}

const ERRORS = [
  GERROR.CMDQ_ERR,
  GERROR.EVENTQ_ABT_ERR,
  GERROR.PRIQ_ABT_ERR,
  GERROR.MSI_CMDQ_ABT_ERR,
  GERROR.MSI_EVENTQ_ABT_ERR,
  GERROR.MSI_PRIQ_ABT_ERR,
  GERROR.MSI_GERROR_ABT_ERR,
  GERROR.SFM_ERR,
];

Deno.test("GERROR toggle protocol: an error toggles its bit once, stays active until GERRORN matches (IHI 0070 6.3.19)", () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: ERRORS.length - 1 }), fc.boolean())), (ops) => {
    const h = harness();
    const model = new Set<number>();
    for (const [i, doAck] of ops) {
      const f = ERRORS[i];
      h.irq.raise(f);
      model.add(i);
      if (doAck) {
        h.ack();
        model.clear();
      }
      for (let k = 0; k < ERRORS.length; k++) assert.equal(h.irq.errorActive(ERRORS[k]), model.has(k), ERRORS[k].name);
    }
  }));
});

Deno.test("raising an active error again does not toggle it back", () => {
  const h = harness();
  h.irq.raise(GERROR.CMDQ_ERR);
  h.irq.raise(GERROR.CMDQ_ERR);
  assert.equal(GERROR.CMDQ_ERR.get(h.w, word(REG.GERROR)), 1);
  h.ack();
  h.irq.raise(GERROR.CMDQ_ERR);
  assert.equal(GERROR.CMDQ_ERR.get(h.w, word(REG.GERROR)), 0, "toggled back to 0: active again (GERRORN is 1)");
  assert.ok(h.irq.errorActive(GERROR.CMDQ_ERR));
});

Deno.test("the GERROR interrupt is gated by IRQ_CTRL.GERROR_IRQEN and signalled per new error", () => {
  const h = harness();
  h.irq.raise(GERROR.CMDQ_ERR);
  assert.deepEqual(h.calls, []);
  h.enable(IRQ_CTRLACK.GERROR_IRQEN);
  h.irq.raise(GERROR.EVENTQ_ABT_ERR);
  h.irq.raise(GERROR.EVENTQ_ABT_ERR);
  assert.deepEqual(h.calls, ["gerror"], "one edge per activation");
});

Deno.test("GERROR MSI: a 32-bit write of CFG1.DATA to CFG0.ADDR, reported to the host", () => {
  const h = harness();
  h.enable(IRQ_CTRLACK.GERROR_IRQEN);
  GERROR_IRQ_CFG0.ADDR.setAddress(h.w, 0x5000_0040, word(REG.GERROR_IRQ_CFG0));
  GERROR_IRQ_CFG1.DATA.set(h.w, 0xdead_beef, word(REG.GERROR_IRQ_CFG1));
  h.irq.raise(GERROR.CMDQ_ERR);
  assert.deepEqual(h.msis, [[0x5000_0040, 0xdead_beef]]);
  assert.equal(h.memory.read32(0x5000_0040), 0xdead_beef);
  assert.deepEqual(h.calls, ["gerror"], "IHI 0070 3.18.2: the wired output pulses beside the MSI");
});

Deno.test("an unwritable GERROR MSI address raises MSI_GERROR_ABT_ERR without signalling again", () => {
  const h = harness(new SparseMemory({ holes: [[0x6000_0000, 0x6000_1000]] }));
  h.enable(IRQ_CTRLACK.GERROR_IRQEN);
  GERROR_IRQ_CFG0.ADDR.setAddress(h.w, 0x6000_0000, word(REG.GERROR_IRQ_CFG0));
  h.irq.raise(GERROR.CMDQ_ERR);
  assert.ok(h.irq.errorActive(GERROR.CMDQ_ERR));
  assert.ok(h.irq.errorActive(GERROR.MSI_GERROR_ABT_ERR));
  assert.deepEqual(h.msis, []);
});

Deno.test("queue interrupts: gated per source; an aborted PRI MSI raises MSI_PRIQ_ABT_ERR", () => {
  const h = harness(new SparseMemory({ holes: [[0x6000_0000, 0x6000_1000]] }));
  h.irq.signal(EVENTQ_IRQ);
  h.irq.signal(PRIQ_IRQ);
  assert.deepEqual(h.calls, []);
  h.enable(IRQ_CTRLACK.PRIQ_IRQEN);
  h.irq.signal(PRIQ_IRQ);
  assert.deepEqual(h.calls, ["priq"]);
  PRIQ_IRQ_CFG0.ADDR.setAddress(h.w, 0x6000_0000, word(REG.PRIQ_IRQ_CFG0));
  h.irq.signal(PRIQ_IRQ);
  assert.ok(h.irq.errorActive(GERROR.MSI_PRIQ_ABT_ERR));
});

Deno.test("without MSI support the CFG0 address is ignored and the wired line is used", () => {
  const h = harness(new SparseMemory(), false);
  h.enable(IRQ_CTRLACK.EVENTQ_IRQEN);
  GERROR_IRQ_CFG0.ADDR.setAddress(h.w, 0x5000_0000, word(REG.EVENTQ_IRQ_CFG0));
  h.irq.signal(EVENTQ_IRQ);
  assert.deepEqual(h.calls, ["eventq"]);
  assert.deepEqual(h.msis, []);
});
