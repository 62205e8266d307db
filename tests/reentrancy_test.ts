/**
 * Re-entrancy (src/host_calls.ts): host callbacks that call back into the device. The architecture's promises must
 * hold whatever the host does inside a callback: each command is consumed once and CONS only moves forwards
 * (IHI 0070 3.5.1: CONS is the index of the next entry to consume), CMD_SYNC completes after every earlier command
 * (IHI 0070 4.7.3), event records are written in order at EVENTQ_PROD (IHI 0070 7.2), and a transaction's fault is
 * its own. The contract itself: interrupt sinks and onMsi run after the device call that raised them, in order;
 * observers and endpoint hooks run synchronously and may access registers and DMA but not save, restore or reset;
 * memories may not call the device at all.
 */
import assert from "node:assert/strict";
import {
  CD_IPS,
  CD_TG0,
  CMD_CFGI_STE,
  CMD_SYNC,
  CMD_SYNC_CS,
  CMDQ_CONS,
  CMDQ_CONS_ERR,
  EVENT_TYPE,
  EVT_F_TRANSLATION,
  IRQ_CTRL,
  OPCODE,
  REG,
  STE,
  STE_CONFIG,
} from "../gen/mod.ts";
import { type GuestMemory, HostError, type Invalidation, Smmu, type SmmuOptions, SparseMemory } from "../mod.ts";
import { command, Driver } from "../src/guest/driver.ts";
import { Allocator, cdAt, PageTable } from "../src/guest/tables.ts";

const cfgiSte = (sid: number) => command(OPCODE.CFGI_STE, (w) => CMD_CFGI_STE.StreamID.set(w, sid));
/** CMD_SYNC completing on the wired CMD_SYNC interrupt (CS = SIG_IRQ, no MSI address). */
const wiredSync = () => command(OPCODE.SYNC, (w) => CMD_SYNC.CS.set(w, CMD_SYNC_CS.SIG_IRQ));
const ILLEGAL = command(0x7f); // no such opcode: CERROR_ILL

/** A device brought up by the guest driver, with `options` (memory defaults to a SparseMemory). */
function bringUp(options: Partial<SmmuOptions> = {}, irqs = 0) {
  const memory = options.memory ?? new SparseMemory();
  const smmu = new Smmu({ ...options, memory });
  const d = new Driver(smmu, memory);
  d.probe();
  d.reset({ irqs });
  return { smmu, d, memory };
}

/** Writes `cmds` at PROD and publishes them with one PROD write, as a driver batching commands does. */
function publish(d: Driver, cmds: Uint32Array[]): void {
  const size = 2 ** d.cmdqLog2;
  let prod = d.read(REG.CMDQ_PROD) & (2 * size - 1);
  for (const c of cmds) {
    const at = d.layout.cmdq + (prod & (size - 1)) * 16;
    for (let i = 0; i < 4; i++) d.memory.write32(at + 4 * i, c[i]);
    prod = (prod + 1) & (2 * size - 1);
  }
  d.write(REG.CMDQ_PROD, prod);
}

const consOf = (smmu: Smmu) => CMDQ_CONS.RD.get(Uint32Array.of(Number(smmu.mmioPeek(REG.CMDQ_CONS, 4))));
const prodOf = (smmu: Smmu) => Number(smmu.mmioPeek(REG.CMDQ_PROD, 4));
const describe = (s: Invalidation) => ("sid" in s ? `${s.kind} ${s.sid}` : s.kind);

Deno.test("a CMD_SYNC interrupt handler that issues one more command: each command runs once, CONS only moves on", () => {
  const ran: string[] = [];
  const cons: number[] = [];
  let handlerIssued = false;
  const t = bringUp({
    interrupts: {
      cmdqSync: () => {
        cons.push(consOf(t.smmu));
        if (!handlerIssued) {
          handlerIssued = true;
          t.d.issue(cfgiSte(9)); // an MMIO write back into the device, from its own interrupt
        }
      },
    },
  });
  t.smmu.observe({ invalidated: (s) => ran.push(describe(s)), synced: () => ran.push("sync") });
  const before = t.smmu.stats.commands;
  publish(t.d, [cfgiSte(8), wiredSync()]);
  // The guest's CFGI_STE and SYNC ran once each, then the handler's CFGI_STE: three commands, in order.
  assert.deepEqual(ran, ["ste 8", "sync", "ste 9"]);
  assert.equal(t.smmu.stats.commands - before, 3);
  assert.equal(consOf(t.smmu), prodOf(t.smmu), "the queue is empty");
  // The interrupt came when the batch was done (CONS past the SYNC), not in the middle of it.
  assert.deepEqual(cons, [prodOf(t.smmu) - 1]);
});

Deno.test("an observer that issues a command in the middle of a batch: the running batch runs it after the rest, once", () => {
  const ran: string[] = [];
  const consAtSync: number[] = [];
  let issued = false;
  const t = bringUp();
  t.smmu.observe({
    invalidated: (s) => ran.push(describe(s)),
    synced: () => {
      ran.push("sync");
      consAtSync.push(consOf(t.smmu));
      if (!issued) {
        issued = true;
        t.d.issue(cfgiSte(9));
      }
    },
  });
  const start = consOf(t.smmu);
  const before = t.smmu.stats.commands;
  publish(t.d, [cfgiSte(8), command(OPCODE.SYNC), cfgiSte(7)]);
  assert.deepEqual(ran, ["ste 8", "sync", "ste 7", "ste 9"]);
  assert.equal(t.smmu.stats.commands - before, 4);
  // While the CMD_SYNC signals, CONS still points at it (it is complete when CONS moves past it).
  assert.deepEqual(consAtSync, [start + 1]);
  assert.equal(consOf(t.smmu), prodOf(t.smmu));
});

Deno.test("interrupts are delivered when the access's work is done, in the order raised", () => {
  const heard: string[] = [];
  const t = bringUp({
    interrupts: {
      cmdqSync: () => heard.push(`cmdqSync, CONS.ERR ${CMDQ_CONS.ERR.get(Uint32Array.of(t.d.read(REG.CMDQ_CONS)))}`),
      gerror: () => heard.push(`gerror, CONS.ERR ${CMDQ_CONS.ERR.get(Uint32Array.of(t.d.read(REG.CMDQ_CONS)))}`),
    },
  }, IRQ_CTRL.GERROR_IRQEN.get(Uint32Array.of(0xffff_ffff)) << IRQ_CTRL.GERROR_IRQEN.lsb);
  publish(t.d, [wiredSync(), ILLEGAL]);
  // The SYNC completed first, then the illegal command stopped the queue (IHI 0070 4.1.3): both sinks ran after
  // the batch (the command error already visible), in that order.
  const ill = CMDQ_CONS_ERR.CERROR_ILL;
  assert.deepEqual(heard, [`cmdqSync, CONS.ERR ${ill}`, `gerror, CONS.ERR ${ill}`]);
});

/** A stage-1 device at StreamID 8 mapping IOVA 0x1000 (the README's), and nothing at StreamID 9. */
function stage1(options: Partial<SmmuOptions>, irqs: number) {
  const t = bringUp(options, irqs);
  const alloc = new Allocator(0x5000_0000);
  const tables = new PageTable(t.memory, alloc, 12, 48, 0);
  tables.map(0x1000, 0x8000_0000);
  const cd = alloc.alloc(64, 64);
  cdAt(t.memory, cd, {
    ...{ V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, TG0: CD_TG0.GRAN_4K, IPS: CD_IPS.BITS_48 },
    ...{ TTB0: tables.root, ASID: 1 },
  });
  t.d.writeSte(8, STE_CONFIG.S1_TRANS, (ste) => STE.S1ContextPtr.setAddress(ste, cd));
  t.d.invalidateSte(8);
  return t;
}

Deno.test("an event queue handler that does DMA of its own: the faulting transaction's answer and record are its own", () => {
  const records: Uint32Array[] = [];
  let handled = false;
  const t = stage1({
    interrupts: {
      eventq: () => {
        records.push(...t.d.events()); // the guest's handler reads the records...
        if (!handled) {
          handled = true;
          // ...and its driver kicks another device, whose DMA faults too (no STE for StreamID 9).
          const r = t.smmu.dmaView(9).read(0x1000, new Uint8Array(4));
          assert.equal(r.ok, false);
        }
      },
    },
  }, IRQ_CTRL.EVENTQ_IRQEN.get(Uint32Array.of(0xffff_ffff)) << IRQ_CTRL.EVENTQ_IRQEN.lsb);
  const r = t.smmu.translate(8, 0x2000, { write: true });
  assert.deepEqual(r, { ok: false, fault: "F_TRANSLATION", event: true });
  // Records in order (IHI 0070 7.2): the transaction's own first, then the one its handler caused.
  assert.deepEqual(records.map((e) => EVT_F_TRANSLATION.Type.get(e)), [
    EVENT_TYPE.F_TRANSLATION,
    EVENT_TYPE.C_BAD_STE,
  ]);
  assert.equal(EVT_F_TRANSLATION.StreamID.get(records[0]), 8);
  assert.equal(EVT_F_TRANSLATION.InputAddr_LO.get(records[0]), 0x2000);
  assert.equal(EVT_F_TRANSLATION.StreamID.get(records[1]), 9);
});

Deno.test("save, restore and reset are refused in the middle of a command, and allowed from an interrupt sink", () => {
  const refused: string[] = [];
  let fromSink: Uint8Array | null = null;
  const t = bringUp({ interrupts: { cmdqSync: () => (fromSink = t.smmu.save()) } });
  const blob = t.smmu.save();
  t.smmu.observe({
    synced: () => {
      for (
        const [name, call] of [["save", () => t.smmu.save()], ["restore", () => t.smmu.restore(blob)], [
          "reset",
          () => t.smmu.reset(),
        ]] as const
      ) {
        assert.throws(call, (e) => e instanceof HostError && e.message.startsWith(`${name}:`));
        refused.push(name);
      }
    },
  });
  publish(t.d, [wiredSync()]);
  assert.deepEqual(refused, ["save", "restore", "reset"]);
  assert.equal(consOf(t.smmu), prodOf(t.smmu), "the command completed regardless");
  // From the sink, after the batch: the state saved is the one the device has now (CONS past the SYNC).
  assert.ok(fromSink !== null);
  assert.deepEqual(fromSink, t.smmu.save());
});

Deno.test("a GuestMemory that calls back into the device gets a HostError; that access aborts", () => {
  const inner = new SparseMemory();
  const errors: unknown[] = [];
  let armed = false;
  // A memory that, reading the STE of StreamID 8, asks the device something (a bus model gone wrong).
  const memory: GuestMemory = {
    read32(addr) {
      if (armed && addr === 0x4100_0000 + 8 * 64) {
        try {
          t.smmu.mmioRead(REG.CR0, 4);
        } catch (e) {
          errors.push(e);
          throw e;
        }
      }
      return inner.read32(addr);
    },
    write32: (addr, v) => inner.write32(addr, v),
    read: (addr, dst) => inner.read(addr, dst),
    write: (addr, src) => inner.write(addr, src),
  };
  const t = bringUp({ memory });
  const smmu = t.smmu;
  t.d.writeSte(8, STE_CONFIG.BYPASS);
  t.d.invalidateSte(8);
  armed = true;
  // The STE fetch aborted: F_STE_FETCH (IHI 0070 7.3.4), not an exception out of translate.
  assert.deepEqual(smmu.translate(8, 0x1000), { ok: false, fault: "F_STE_FETCH", event: true });
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof HostError && /inside a GuestMemory access/.test(errors[0].message));
});

Deno.test("observers: one that unsubscribes in a notification is never called again and the others still hear it", () => {
  const heard: string[] = [];
  const t = bringUp();
  const stop = t.smmu.observe({
    synced: () => {
      heard.push("a");
      stop();
      stop(); // twice: still only its own registration goes
    },
  });
  t.smmu.observe({
    synced: () => {
      heard.push("b");
      // Subscribed inside a notification: it hears the next ones, from when this call has returned.
      t.smmu.observe({ synced: () => heard.push("c") });
    },
  });
  t.d.sync();
  assert.deepEqual(heard, ["a", "b"]);
  heard.length = 0;
  t.d.sync();
  assert.deepEqual(heard, ["b", "c"]);
});

Deno.test("a callback that throws: the error reaches the host, the command counts as run, later work is not lost", () => {
  const heard: string[] = [];
  let fail = true;
  const t = bringUp({ interrupts: { cmdqSync: () => heard.push("cmdqSync") } });
  t.smmu.observe({
    invalidated: () => {
      if (fail) throw new Error("host mirror broke");
    },
  });
  const start = consOf(t.smmu);
  assert.throws(() => publish(t.d, [cfgiSte(8), wiredSync()]), /host mirror broke/);
  assert.equal(consOf(t.smmu), start + 1, "CONS is past the CFGI_STE: it is not run again");
  fail = false;
  assert.equal(t.d.consIndex(), start + 2, "a CONS read runs the CMD_SYNC");
  assert.deepEqual(heard, ["cmdqSync"]);
});
