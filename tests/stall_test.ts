/**
 * The stall model (src/device/stall.ts) against IHI 0070 3.12 and 3.12.2 (stalling, STAG, retry as newly arrived), 4.7.1
 * CMD_RESUME, 4.7.2 CMD_STALL_TERM, 6.3.6 STALL_MAX, 6.3.9.6 SMMUEN, 7.2.1 and 7.4 (stall records and the event
 * queue), 7.3.13 (Stall and STAG in the record).
 */
import assert from "node:assert/strict";
import {
  CMD_RESUME,
  CMDQ_CONS_ERR,
  EVENT_TYPE,
  EVENTQ_PROD,
  EVT_F_TRANSLATION,
  OPCODE,
  REG,
  STE,
  STE_CONFIG,
} from "../gen/mod.ts";
import type { DmaResult, TranslationResult } from "../mod.ts";
import { command } from "../src/guest/driver.ts";
import { sva } from "./helpers/sva.ts";
import { inputOf } from "./helpers/guest_bench.ts";

const PAGE = 0x1000;
const DATA = 0x8000_0000;
const rec = (e: Uint32Array) => ({
  type: EVT_F_TRANSLATION.Type.get(e),
  sid: EVT_F_TRANSLATION.StreamID.get(e),
  stall: EVT_F_TRANSLATION.Stall.get(e),
  stag: EVT_F_TRANSLATION.STAG.get(e),
  addr: EVT_F_TRANSLATION.InputAddr_LO.get(e),
  rnw: EVT_F_TRANSLATION.RnW.get(e),
});

/** Stream 1 stalls at stage 1 (CD.S = 1); page 0x1000 is mapped. */
function stalling(features = {}) {
  const b = sva({ features: { ats: true, pri: true, ...features } });
  const s = b.stage1(1, { cd: { S: 1, R: 0 } });
  s.tables.map(0x1000, DATA + 0x1000);
  return { ...b, ...s };
}

Deno.test("3.12.2: a stalling fault records Stall = 1 and a STAG, and the transaction waits", () => {
  const b = stalling();
  const r = b.smmu.translate(1, 0x2040, { write: true });
  assert.ok(!r.ok && r.stall);
  assert.equal(r.fault, "F_TRANSLATION");
  // "The SMMU always records the details of the access into the Event queue" (CD.R is 0 here).
  assert.equal(r.event, true);
  const [e] = b.driver.events();
  // "When an event record is generated for a stalled transaction, a Stall Tag (STAG) is supplied".
  assert.deepEqual(rec(e), {
    type: EVENT_TYPE.F_TRANSLATION,
    sid: 1,
    stall: 1,
    stag: r.stall.stag,
    addr: 0x2040,
    rnw: 0,
  });
  assert.deepEqual([r.stall.state, r.stall.recorded, r.stall.write], ["stalled", true, true]);
  assert.deepEqual(b.smmu.stalls(), [r.stall]);
});

Deno.test("the stall round trip: a DMA stalls, the guest maps the page, CMD_RESUME retries, the copy completes", () => {
  const b = stalling();
  const view = b.smmu.dmaView(1);
  b.memory.write(DATA + 0x5000, Uint8Array.of(0xa, 0xb, 0xc, 0xd));
  b.memory.write(DATA + 0x6000, Uint8Array.of(0xe, 0xf));
  b.memory.write(DATA + 0x1ffe, Uint8Array.of(1, 2));
  const buf = new Uint8Array(2 + PAGE + 2);
  // Bytes 0-1 from the mapped page 0x1000; 0x2000 and 0x3000 unmapped.
  const first = view.read(0x1ffe, buf);
  assert.ok(!first.ok && first.stall);
  assert.equal(first.done, 2);
  assert.equal(first.iova, 0x2000);
  const stall = first.stall;
  const ended: DmaResult[] = [];
  stall.onEnd = (result) => void ended.push(result);
  // The guest's fault handler (iommu_report_device_fault → iopf): read the record, map the page, resume.
  let [e] = b.driver.events();
  assert.deepEqual([rec(e).stall, rec(e).addr, rec(e).rnw], [1, 0x2000, 1]);
  b.tables.map(0x2000, DATA + 0x5000);
  // "If retry is chosen, the transaction is handled as though it had just arrived at the SMMU" (IHI 0070 3.12.2).
  assert.ok(b.driver.resume(1, rec(e).stag, true));
  // The copy went on to the next page and stalled again: a new record, a new STAG, the same transaction.
  assert.equal(ended.length, 0);
  [e] = b.driver.events();
  assert.deepEqual([rec(e).stall, rec(e).addr, rec(e).stag], [1, 0x3000, stall.stag]);
  assert.equal(stall.iova, 0x3000);
  b.tables.map(0x3000, DATA + 0x6000);
  b.driver.resume(1, stall.stag, true);
  assert.deepEqual(ended, [{ ok: true }]);
  assert.deepEqual([stall.state, stall.stag], ["completed", -1]);
  assert.deepEqual([...buf.subarray(0, 2), ...buf.subarray(PAGE + 2)], [1, 2, 0xe, 0xf]);
  assert.deepEqual([...buf.subarray(2, 6)], [0xa, 0xb, 0xc, 0xd]);
  assert.deepEqual(b.smmu.stalls(), []);
});

Deno.test("4.7.1: CMD_RESUME(Terminate) aborts to the client; a STAG of another StreamID does nothing", () => {
  const b = stalling();
  b.stage1(2, { cd: { S: 1 } });
  const a = b.smmu.translate(1, 0x5000);
  const c = b.smmu.translate(2, 0x5000);
  assert.ok(!a.ok && a.stall && !c.ok && c.stall);
  const ends: TranslationResult[] = [];
  a.stall.onEnd = (r) => void ends.push(r);
  // "If ... the transaction does not match the given StreamID, this command has no effect on any transaction".
  b.driver.resume(2, a.stall.stag, false);
  assert.equal(a.stall.state, "stalled");
  // "Transaction is terminated in the manner given by the Abort parameter ... If SMMU_IDR0.TERM_MODEL == 1, the Ab
  // parameter is IGNORED: transaction is terminated with abort."
  b.driver.issue(command(OPCODE.RESUME, (w) => {
    CMD_RESUME.StreamID.set(w, 1);
    CMD_RESUME.STAG.set(w, a.stall!.stag);
  })); // Ac 0, Ab 0
  assert.deepEqual(ends, [{ ok: false, fault: "F_TRANSLATION", event: true }]);
  assert.equal(a.stall.state, "terminated");
  assert.equal(c.stall.state, "stalled");
  // "The STAG value of a stall event record matched by CMD_RESUME is returned to the set of values that the SMMU
  // might use in future stall event records."
  const again = b.smmu.translate(1, 0x6000);
  assert.ok(!again.ok && again.stall);
  assert.equal(b.smmu.stalls().length, 2);
});

Deno.test("4.7.2: CMD_STALL_TERM terminates every stalled transaction of its StreamID only", () => {
  const b = stalling();
  b.stage1(2, { cd: { S: 1 } });
  const ones = [0x5000, 0x6000].map((a) => b.smmu.translate(1, a));
  const two = b.smmu.translate(2, 0x5000);
  // The recommended sequence: STE.Config abort, CMD_CFGI_STE, CMD_SYNC, then CMD_STALL_TERM.
  b.driver.writeSte(1, STE_CONFIG.ABORT);
  b.driver.invalidateSte(1);
  assert.ok(b.driver.stallTerm(1));
  assert.deepEqual(ones.map((r) => !r.ok && r.stall?.state), ["terminated", "terminated"]);
  assert.equal(!two.ok && two.stall?.state, "stalled");
});

Deno.test("6.3.9.6: clearing SMMUEN terminates every stalled transaction with an abort", () => {
  const b = stalling();
  const r = b.smmu.translate(1, 0x5000);
  let ended: TranslationResult | null = null;
  if (!r.ok && r.stall) r.stall.onEnd = (x) => void (ended = x);
  b.driver.enable(b.driver.read(REG.CR0) & ~1);
  assert.deepEqual(ended, { ok: false, fault: "F_TRANSLATION", event: true });
  assert.deepEqual(b.smmu.stalls(), []);
});

/** Stream 3: stage 2 only, stalling (STE.S2S = 1), with an empty stage-2 table. */
function stage2Stalling() {
  const b = sva();
  b.driver.writeSte(3, STE_CONFIG.S2_TRANS, (ste) => {
    for (const [f, v] of [[STE.S2AA64, 1], [STE.S2T0SZ, 16], [STE.S2SL0, 2], [STE.S2PS, 5], [STE.S2S, 1]] as const) {
      f.set(ste, v);
    }
    STE.S2TTB.setAddress(ste, b.alloc.alloc(4096, 4096));
  });
  b.driver.invalidateSte(3);
  return b;
}

Deno.test("3.12: a stage-2 fault stalls with STE.S2S (S2 = 1 in the record)", () => {
  const b = stage2Stalling();
  const r = b.smmu.translate(3, 0x7000);
  assert.ok(!r.ok && r.stall);
  const [e] = b.driver.events();
  assert.equal(EVT_F_TRANSLATION.S2.get(e), 1);
  assert.equal(EVT_F_TRANSLATION.Stall.get(e), 1);
});

Deno.test("3.12: a walk abort, or an F_ADDR_SIZE where stage 1 is bypassed, terminates in a stalling stream", () => {
  // "All other faults (including F_WALK_EABT and F_TLB_CONFLICT) and configuration errors terminate the transaction".
  const b = stalling();
  b.stage1(4, { cd: { S: 1, TTB0: 2 ** 41 } }); // tables beyond the memory (1 TiB)
  const r = b.smmu.translate(4, 0x1000);
  assert.ok(!r.ok && !r.stall);
  assert.equal(r.fault, "F_WALK_EABT");
  assert.equal(EVT_F_TRANSLATION.Stall.get(b.driver.events()[0]), 0);
  // "An F_ADDR_SIZE can also arise from a transaction that bypassed stage 1 but that has an out-of-range IPA ... In
  // this case the transaction is always terminated with an abort."
  const c = stage2Stalling();
  const t = c.smmu.translate(3, 2 ** 49);
  assert.ok(!t.ok && !t.stall);
  assert.equal(t.fault, "F_ADDR_SIZE");
});

Deno.test("terminate-only: CMD_RESUME and CMD_STALL_TERM are CERROR_ILL, CD.S is ILLEGAL (C_BAD_CD)", () => {
  const b = stalling({ stalls: "terminate-only" });
  assert.equal(b.smmu.translate(1, 0x1000).ok, false);
  assert.equal(EVT_F_TRANSLATION.Type.get(b.driver.events()[0]), EVENT_TYPE.C_BAD_CD);
  for (const op of [OPCODE.RESUME, OPCODE.STALL_TERM]) {
    b.driver.issue(command(op));
    assert.equal(b.driver.consError(), CMDQ_CONS_ERR.CERROR_ILL);
    b.driver.ackErrors();
    b.driver.write(REG.CMDQ_CONS, b.driver.read(REG.CMDQ_PROD));
  }
});

Deno.test("6.3.6 STALL_MAX: beyond it a stalling fault terminates, recorded with Stall = 0", () => {
  const b = stalling({ stallMax: 2 });
  const held = [0x5000, 0x6000].map((a) => b.smmu.translate(1, a));
  const third = b.smmu.translate(1, 0x7000);
  assert.ok(held.every((r) => !r.ok && r.stall));
  assert.ok(!third.ok && !third.stall);
  assert.deepEqual(b.driver.events().map((e) => rec(e).stall), [1, 1, 0]);
});

Deno.test("7.2.1: an unrecorded stall is retried when the queue is writable; stall records never overflow (7.4)", () => {
  const b = stalling();
  const d = b.driver;
  // Fill the 32-entry event queue with terminate faults (stream 5 faults without stalling).
  b.stage1(5);
  for (let i = 0; i < 32; i++) b.smmu.translate(5, 0x10_0000 + i * PAGE);
  const prodBefore = d.read(REG.EVENTQ_PROD);
  const a = b.smmu.translate(1, 0x5000);
  const c = b.smmu.translate(1, 0x6000);
  assert.ok(!a.ok && a.stall && !c.ok && c.stall);
  assert.deepEqual([a.stall.recorded, c.stall.recorded], [false, false]);
  // "stall fault records do not cause an overflow condition".
  assert.equal(d.read(REG.EVENTQ_PROD), prodBefore);
  assert.equal(EVENTQ_PROD.OVFLG.get(new Uint32Array([prodBefore])), 0);
  // The guest maps 0x6000 meanwhile, then consumes the queue: both are retried as newly arrived. 0x6000 goes
  // through with no record; 0x5000 stalls again and is recorded now.
  b.tables.map(0x6000, DATA + 0x6000);
  let cEnd: TranslationResult | null = null;
  c.stall.onEnd = (r) => void (cEnd = r);
  assert.equal(d.events().length, 32);
  assert.deepEqual(cEnd, { ok: true, pa: DATA + 0x6000 });
  assert.deepEqual([a.stall.state, a.stall.recorded], ["stalled", true]);
  const [e] = d.events();
  assert.deepEqual([rec(e).stall, rec(e).addr, rec(e).stag], [1, 0x5000, a.stall.stag]);
});

Deno.test("a callback may call the device: onEnd translates and resumes another stall", () => {
  const b = stalling();
  const a = b.smmu.translate(1, 0x5000);
  const c = b.smmu.translate(1, 0x6000);
  assert.ok(!a.ok && a.stall && !c.ok && c.stall);
  const log: string[] = [];
  a.stall.onEnd = () => {
    log.push("a");
    assert.equal(b.smmu.translate(1, 0x1000).ok, true);
    b.driver.resume(1, c.stall!.stag, false); // from the callback: a nested device call
    b.smmu.save(); // deferred like an interrupt sink: the device is between accesses, so save works
    log.push("a done");
  };
  c.stall.onEnd = () => void log.push("c");
  b.driver.resume(1, a.stall.stag, false);
  assert.deepEqual(log, ["a", "a done", "c"]);
});

// ---------------------------------------------------------------- saved state

Deno.test("save/restore migrates stalled transactions: the guest's STAGs resume them on the new device", () => {
  const b = stalling();
  const r = b.smmu.translate(1, 0x7ff0_5008, { priv: true });
  assert.ok(!r.ok && r.stall);
  const [e] = b.driver.events();
  const blob = b.smmu.save();
  // The destination: the same guest memory, a new device restored from the blob.
  const c = sva({ memory: b.memory });
  c.smmu.restore(blob);
  const [held] = c.smmu.stalls() as import("../mod.ts").Stall<TranslationResult>[];
  assert.deepEqual(
    [held.sid, held.ssid, held.iova, held.stag, held.write, held.priv, held.recorded, held.state],
    [1, -1, 0x7ff0_5008, rec(e).stag, false, true, true, "stalled"],
  );
  let ended: TranslationResult | null = null;
  held.onEnd = (x) => void (ended = x);
  b.tables.map(0x7ff0_5000, DATA + 0x5000); // the guest's handler, on the destination (same memory and queues)
  c.driver.resume(1, rec(e).stag, true);
  assert.deepEqual(ended, { ok: true, pa: DATA + 0x5008 });
  // And the source's own transaction is untouched by the destination's work.
  assert.equal(r.stall.state, "stalled");
});

// [what, SubstreamID (-1: none), write, exec, priv]
const MIGRATED: [string, number, boolean, boolean, boolean][] = [
  ["a PASID instruction fetch", 1, false, true, false],
  ["a PASID privileged write", 1, true, false, true],
  ["a fetch without a PASID", -1, false, true, true],
];
for (const [what, ssid, write, exec, priv] of MIGRATED) {
  Deno.test(`save/restore keeps a stalled transaction's attributes, and its retry carries them: ${what}`, () => {
    // IHI 0070 3.12.2: a retried transaction is "processed as though it were newly arrived", with its own StreamID,
    // SubstreamID and attributes; faulting again, it stalls again with a record whose SSV, SubstreamID, RnW, InD and
    // PnU are the transaction's (7.3.13).
    const b = sva({ features: { ats: true, pri: true } });
    b.stage1(1, { cd: { S: 1, R: 0 }, cdMax: 1 });
    const r = b.smmu.translate(1, 0x9008, { write, exec, priv, ...(ssid >= 0 ? { ssid } : {}) });
    assert.ok(!r.ok && r.stall);
    const [first] = b.driver.events();
    const c = sva({ memory: b.memory });
    c.smmu.restore(b.smmu.save());
    const [held] = c.smmu.stalls();
    assert.deepEqual([held.sid, held.ssid, held.write, held.exec, held.priv], [1, ssid, write, exec, priv]);
    c.driver.resume(1, held.stag, true); // retried with the page still unmapped: it stalls again
    const [again] = c.driver.events();
    const F = EVT_F_TRANSLATION;
    const fields: { get(w: Uint32Array): number }[] = [F.SSV, F.SubstreamID, F.RnW, F.InD, F.PnU, F.Stall];
    const attrs = (e: Uint32Array) => fields.map((f) => f.get(e));
    assert.deepEqual(attrs(first), [
      ssid >= 0 ? 1 : 0,
      Math.max(ssid, 0),
      write ? 0 : 1,
      exec ? 1 : 0,
      priv ? 1 : 0,
      1,
    ]);
    assert.deepEqual(attrs(again), attrs(first));
    assert.equal(inputOf(again), 0x9008);
  });
}

Deno.test("an unrecorded stall is saved as such and retried once the restored queue is writable", () => {
  const b = stalling();
  const d = b.driver;
  d.enable(d.read(REG.CR0) & ~(1 << 2)); // EVENTQEN 0: the record cannot be written
  const r = b.smmu.translate(1, 0x5000);
  assert.ok(!r.ok && r.stall && !r.stall.recorded);
  const c = sva({ memory: b.memory });
  c.smmu.restore(b.smmu.save());
  assert.equal(c.smmu.stalls()[0].recorded, false);
  c.driver.enable(c.driver.read(REG.CR0) | 1 << 2); // the guest enables the queue: the stall retries and records
  const [e] = c.driver.events();
  assert.deepEqual([rec(e).stall, rec(e).addr], [1, 0x5000]);
  assert.equal(c.smmu.stalls()[0].recorded, true);
});

Deno.test("restore refuses saved stalls save() could not have produced, naming the field", async () => {
  const { SavedState } = await import("../gen/proto/smmuv3/v1/saved_state.ts");
  const { STALL_STATE } = await import("../gen/mod.ts");
  const b = stalling({ stallMax: 4 });
  b.smmu.translate(1, 0x5000);
  b.smmu.translate(1, 0x6000);
  const good = SavedState.decode(b.smmu.save());
  const edit = (i: number, f: (w: Uint32Array) => void) => {
    const stalls = good.stalls.map((x) => x.slice());
    const w = new Uint32Array(stalls[i].buffer.slice(0));
    f(w);
    stalls[i] = new Uint8Array(w.buffer);
    return stalls;
  };
  const cases: [string, Partial<typeof good>, RegExp][] = [
    ["a duplicate STAG", { stalls: edit(1, (w) => STALL_STATE.STAG.set(w, STALL_STATE.STAG.get(w) ^ 1)) }, /STAG/],
    ["a STAG beyond STALL_MAX", { stalls: edit(0, (w) => STALL_STATE.STAG.set(w, 4)) }, /STALLS\[0\]\.STAG/],
    [
      "a write instruction fetch",
      { stalls: edit(0, (w) => (STALL_STATE.RnW.set(w, 0), STALL_STATE.InD.set(w, 1))) },
      /InD/,
    ],
    ["unrecorded with a writable queue", { stalls: edit(0, (w) => STALL_STATE.Recorded.set(w, 0)) }, /Recorded/],
    ["SubstreamID without SSV", { stalls: edit(0, (w) => STALL_STATE.SubstreamID.set(w, 3)) }, /SubstreamID/],
    // IHI 0070 6.3.6 IDR5.STALL_MAX: at most that many transactions are ever held (4 here).
    ["more held than STALL_MAX", { stalls: [...good.stalls, ...good.stalls, good.stalls[0]] }, /STALL_MAX 4/],
    // IHI 0070 6.3.2 IDR1.SIDSIZE (16 here) and SSIDSIZE (8): the SMMU takes no transaction with wider IDs.
    ["a StreamID beyond SIDSIZE", { stalls: edit(0, (w) => STALL_STATE.StreamID.set(w, 2 ** 16)) }, /StreamID/],
    [
      "a SubstreamID beyond SSIDSIZE",
      { stalls: edit(0, (w) => (STALL_STATE.SSV.set(w, 1), STALL_STATE.SubstreamID.set(w, 2 ** 8))) },
      /SubstreamID.*SSIDSIZE/,
    ],
    ["a reserved bit", { stalls: edit(0, (w) => (w[7] = 1)) }, /reserved/],
    ["a short record", { stalls: [good.stalls[0].slice(0, 16)] }, /bytes/],
    ["stalls with SMMUEN 0", { cr0: good.cr0! & ~1 }, /SMMUEN/],
  ];
  for (const [what, change, message] of cases) {
    const c = sva({ memory: b.memory, features: { ats: true, pri: true, stallMax: 4 } });
    const before = c.smmu.save();
    assert.throws(() => c.smmu.restore(SavedState.encode({ ...good, ...change }).finish()), message, what);
    assert.deepEqual(c.smmu.save(), before, `${what}: nothing changed`);
  }
  const plain = sva({ memory: b.memory, features: { ats: true, pri: true, stalls: "terminate-only" } });
  assert.throws(() => plain.smmu.restore(SavedState.encode(good).finish()), /id_registers|STALL/);
});

Deno.test("Stall.onEnd takes a function or null (a HostError otherwise, nothing changed)", async () => {
  const { HostError } = await import("../mod.ts");
  const b = stalling();
  const r = b.smmu.translate(1, 0x5000);
  assert.ok(!r.ok && r.stall);
  assert.throws(() => (r.stall!.onEnd = 5 as never), HostError);
  assert.equal(r.stall.onEnd, null);
});

Deno.test("4.7.3: CMD_RESUME completes as it is consumed; a CMD_SYNC alone affects no recorded stalled transaction", () => {
  const b = stalling();
  const r = b.smmu.translate(1, 0x5000);
  assert.ok(!r.ok && r.stall);
  // "A CMD_SYNC [is not required] to affect any recorded stalled transaction": the stall stays as it is.
  assert.ok(b.driver.sync());
  assert.equal(r.stall.state, "stalled");
  // "Stall resume/termination: CMD_RESUME, CMD_STALL_TERM — Nothing. The CMD_RESUME and CMD_STALL_TERM commands
  // complete by the time they are consumed": with no CMD_SYNC after it, the PROD write that consumed it has ended it.
  b.tables.map(0x5000, DATA + 0x5000);
  b.driver.issue(command(OPCODE.RESUME, (w) => {
    CMD_RESUME.StreamID.set(w, 1);
    CMD_RESUME.STAG.set(w, r.stall!.stag);
    CMD_RESUME.Ac.set(w, 1);
  }));
  assert.deepEqual([r.stall.state, r.stall.result], ["completed", { ok: true, pa: DATA + 0x5000 }]);
});
