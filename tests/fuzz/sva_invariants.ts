/**
 * The oracle's invariants of the paths shared virtual addressing uses (src/device/stall.ts, src/device/priq.ts,
 * src/translation/ats.ts), over a {@link StepView} like the others (tests/fuzz/invariants.ts):
 * - stalls: the transactions held have distinct STAGs below IDR5.STALL_MAX, no more of them than that; one whose
 *   record is not written only while the event queue cannot take it (IHI 0070 7.2.1); a held transaction ends or
 *   stalls again only for a cause in the step (a CMD_RESUME of its StreamID and STAG, a CMD_STALL_TERM of its StreamID,
 *   SMMUEN cleared, a reset, the event queue becoming writable for an unrecorded one: 3.12.2, 4.7.1, 4.7.2, 6.3.9.6);
 *   a stalled transaction's record says Stall = 1 with its STAG, another's Stall = 0;
 * - page requests (chapter 8): one queued is the record at PRIQ_PROD with the request's fields, PROD one on, written
 *   only into an enabled queue with room and no overflow or abort active; one not queued leaves PROD; OVFLG toggles only
 *   for a request that found the queue full; an automatic response for exactly the requests answered, Response Failure
 *   while the queue is disabled or aborted, and to the last request of a group in overflow;
 * - ATS (3.9.1): a Translation Request records no fault but F_BAD_ATS_TREQ; its completion's range is a naturally
 *   aligned power of two, the STU when nothing is granted; what it grants an ordinary transaction of the stream gets, at
 *   the same address (full ATS); a Translated transaction records only F_TRANSL_FORBIDDEN or stage-2 faults, and passes
 *   unchanged without ATSCHK.
 * @module
 */
import {
  CMD_RESUME,
  CMD_STALL_TERM,
  CR0,
  CR0ACK,
  EVENT_TYPE,
  EVENTQ_CONS,
  EVENTQ_PROD,
  EVT_F_TRANSLATION,
  GERROR,
  IDR1,
  IDR5,
  IRQ_CTRL,
  OPCODE,
  PRG_RESPONSE_CODE,
  PRI_RECORD,
  PRIQ_CONS,
  PRIQ_IRQ_CFG2,
  PRIQ_PROD,
  STE_EATS,
} from "../../gen/mod.ts";
import type { Stall, StreamConfig } from "../../mod.ts";
import { distance, ring, slotAddr } from "./device_state.ts";
import type { Regs } from "./device_state.ts";
import { EVENT_NAMES, type StepView } from "./invariants.ts";

const u = (v: number) => Uint32Array.of(v);
const on = (f: { get(w: Uint32Array): number }, v: number) => f.get(u(v)) === 1;
const active = (r: Regs, lsb: number) => (((r.gerror ^ r.gerrorn) >>> lsb) & 1) === 1;

/** The stalled transactions held around a step: what the oracle saw before it. */
export interface HeldBefore {
  /** Each held transaction and its STAG then. */
  readonly stags: ReadonlyMap<Stall, number>;
  /** Whether its record was written then. */
  readonly recorded: ReadonlyMap<Stall, boolean>;
  /** Its input address then (a stalled copy continues from there). */
  readonly iovas: ReadonlyMap<Stall, number>;
}

export function heldNow(stalls: readonly Stall[]): HeldBefore {
  return {
    stags: new Map(stalls.map((s) => [s, s.stag])),
    recorded: new Map(stalls.map((s) => [s, s.recorded])),
    iovas: new Map(stalls.map((s) => [s, s.iova])),
  };
}

/**
 * A step that is no DMA writes DMA data only for stalled copies it retried: each piece, in order, where the next
 * address of one of them translates (probed after the step; a copy continues from the address it stalled at).
 */
function checkRetriedCopies(v: StepView, before: HeldBefore): void {
  const { runner, fail, step } = v;
  if (step.op === "dma" || v.nested.length > 0 || v.copies.length === 0) return;
  // Any held before may have been retried (one that stalled again may hold the very STAG it had).
  const next = new Map<Stall, number>();
  for (const s of before.stags.keys()) next.set(s, before.iovas.get(s)!);
  for (const w of v.copies) {
    const s = [...next.keys()].find((s) => {
      const ssid = s.ssid < 0 ? undefined : s.ssid;
      const r = runner.smmu.probe(s.sid, next.get(s)!, { ssid, write: s.write, exec: s.exec, priv: s.priv });
      return r.ok && r.pa === w.addr;
    });
    if (s === undefined) {
      return fail(`a ${w.len}-byte DMA write at 0x${w.addr.toString(16)}, no retried stall's next piece`);
    }
    next.set(s, next.get(s)! + w.len);
    v.coverage.add("stall: retried copy wrote its data");
  }
}

/** Whether the event queue of `r` is writable (IHI 0070 7.2.1): enabled, not full, no EVENTQ_ABT_ERR. */
function eventQueueWritable(r: Regs): boolean {
  if (!on(CR0ACK.EVENTQEN, r.cr0ack) || active(r, GERROR.EVENTQ_ABT_ERR.lsb)) return false;
  const q = ring(r.eventqBase, 32);
  const used = distance(q, EVENTQ_CONS.RD.get(u(r.eventqCons)), EVENTQ_PROD.WR.get(u(r.eventqProd)));
  return used < 2 ** q.log2;
}

/** The stall model's invariants for one step (see the module's list). */
export function checkStalls(v: StepView): void {
  const { runner, fail, step, held: before } = v;
  const held = runner.smmu.stalls();
  const max = IDR5.STALL_MAX.get(u(runner.smmu.idRegisters.IDR5));
  const stags = new Set<number>();
  for (const s of held) {
    if (s.state !== "stalled" || s.stag < 0 || s.stag >= max) fail(`a held stall in state ${s.state}, STAG ${s.stag}`);
    if (stags.has(s.stag)) fail(`STAG ${s.stag} held twice`);
    stags.add(s.stag);
  }
  if (held.length > 0) v.coverage.add("stall: held");
  if (held.some((s) => !s.recorded)) {
    v.coverage.add("stall: unrecorded, waiting for the event queue");
    if (eventQueueWritable(v.after)) fail("a stall's record unwritten while the event queue is writable");
  }
  // A DMA that stalled: its record (when written) says Stall = 1 and the STAG; any other record of a DMA says 0.
  const outcome = v.outcome;
  const stall = outcome.op === "translate" && !outcome.result.ok
    ? outcome.result.stall
    : outcome.op === "copy" && !outcome.result.ok
    ? outcome.result.stall
    : undefined;
  if (step.op === "dma" && v.nested.length === 0 && v.written > 0) {
    const rec = ownRecord(v);
    const type = EVT_F_TRANSLATION.Type.get(rec);
    const layout = TRANSLATION_RECORDS.has(type);
    const [stallBit, stag] = [EVT_F_TRANSLATION.Stall.get(rec), EVT_F_TRANSLATION.STAG.get(rec)];
    if (stall !== undefined && (!layout || stallBit !== 1 || stag !== stall.stag)) {
      fail(`a stalled transaction's ${EVENT_NAMES[type]} record has Stall ${stallBit}, STAG ${stag} (${stall.stag})`);
    }
    if (stall === undefined && layout && stallBit !== 0) fail(`a terminated ${EVENT_NAMES[type]} recorded Stall = 1`);
  }
  if (stall !== undefined) {
    v.coverage.add(`stall: ${outcome.op === "copy" ? "DMA copy" : "transaction"} stalled`);
    const mine = stall as unknown as Stall;
    if (!held.includes(mine) && stall.state === "stalled") fail("a stalled transaction the SMMU does not hold");
  }
  checkRetriedCopies(v, before);
  // What ended or stalled again in the step had a cause there.
  if (v.nested.length > 0 || step.op === "reset" || step.op === "save_restore") return;
  const causes = stallCauses(v);
  for (const [s, stag] of before.stags) {
    if (held.includes(s) && s.stag === stag) continue; // still held as it was (or retried and stalled again there)
    v.coverage.add(s.state === "stalled" ? "stall: retried, stalled again" : `stall: ${s.state}`);
    const why = causes.all || causes.streams.has(s.sid) || causes.resumed.has(`${s.sid}/${stag}`) ||
      (before.recorded.get(s) === false && step.op !== "dma");
    if (!why) fail(`stall STAG ${stag} of StreamID ${s.sid} ended (${s.state}) without a cause in the step`);
  }
}

/** F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION: the records with Stall and STAG. */
const TRANSLATION_RECORDS: ReadonlySet<number> = new Set([
  EVENT_TYPE.F_TRANSLATION,
  EVENT_TYPE.F_ADDR_SIZE,
  EVENT_TYPE.F_ACCESS,
  EVENT_TYPE.F_PERMISSION,
]);

/** The step's first event record (as the device wrote it). */
function ownRecord(v: StepView): Uint32Array {
  const at = slotAddr(v.evq, v.evqFrom);
  const ws = v.mem.writes;
  const first = ws.findIndex((w, k) => w.addr === at && ws[k + 7]?.addr === at + 28);
  return Uint32Array.from({ length: 8 }, (_, k) => ws[first + k]?.value ?? 0);
}

/** What in a step may end stalls: CMD_RESUME (StreamID/STAG), CMD_STALL_TERM (StreamID), SMMUEN cleared. */
function stallCauses(v: StepView): { resumed: Set<string>; streams: Set<number>; all: boolean } {
  const resumed = new Set<string>(), streams = new Set<number>();
  for (const c of v.ran) {
    const op = CMD_RESUME.Opcode.get(c);
    if (op === OPCODE.RESUME) resumed.add(`${CMD_RESUME.StreamID.get(c)}/${CMD_RESUME.STAG.get(c)}`);
    if (op === OPCODE.STALL_TERM) streams.add(CMD_STALL_TERM.StreamID.get(c));
  }
  const all = on(CR0.SMMUEN, v.before.cr0ack) && !on(CR0.SMMUEN, v.after.cr0ack);
  return { resumed, streams, all };
}

/** The PRI queue's invariants for a `pri_request` step (see the module's list). */
export function checkPageRequests(v: StepView, responsesBefore: number): void {
  const { step, outcome, before, after, fail, runner } = v;
  if (step.op !== "pri_request" || outcome.op !== "pri_request") return;
  const result = outcome.result;
  v.coverage.add(`page request: ${result}`);
  const q = ring(before.priqBase, 16);
  const size = 2 ** q.log2;
  const prod0 = PRIQ_PROD.WR.get(u(before.priqProd)), prod1 = PRIQ_PROD.WR.get(u(after.priqProd));
  const used = distance(q, PRIQ_CONS.RD.get(u(before.priqCons)), prod0);
  const enabled = on(CR0ACK.PRIQEN, before.cr0ack) && on(CR0ACK.SMMUEN, before.cr0ack);
  const aborted = active(before, GERROR.PRIQ_ABT_ERR.lsb);
  const overflow = PRIQ_PROD.OVFLG.get(u(before.priqProd)) !== PRIQ_CONS.OVACKFLG.get(u(before.priqCons));
  const full = used >= size;
  const abortedNow = !aborted && active(after, GERROR.PRIQ_ABT_ERR.lsb);
  const writable = enabled && !aborted && !overflow && !full;
  if (result === "queued") {
    if (!writable) {
      fail(`queued into a PRI queue that cannot take it (${JSON.stringify({ enabled, aborted, overflow, full })})`);
    }
    if (distance(q, prod0, prod1) !== 1) fail(`a page request queued, PRIQ_PROD moved ${distance(q, prod0, prod1)}`);
    const at = slotAddr(q, prod0);
    const rec = Uint32Array.from(
      { length: 4 },
      (_, k) => v.mem.writes.findLast((w) => w.addr === at + 4 * k)?.value ?? 0,
    );
    const ssid = step.ssid === undefined ? -1 : Number(step.ssid);
    const want: [string, number][] = [
      ["StreamID", Number(step.sid)],
      ["PRGIndex", Number(step.group)],
      ["Address", Number(BigInt.asUintN(64, step.address) >> 12n)],
      ["R", step.read ? 1 : 0],
      ["W", step.write ? 1 : 0],
      ["Last", step.last ? 1 : 0],
    ];
    // "This value is also 0 when Substreams are not supported"; a PASID wider than the SubstreamID is truncated.
    const ssidBits = IDR1.SSIDSIZE.get(u(runner.smmu.idRegisters.IDR1));
    want.push(["SSV", ssid >= 0 && ssidBits > 0 ? 1 : 0]);
    if (ssid >= 0 && ssidBits > 0) want.push(["SubstreamID", ssid % 2 ** ssidBits]);
    for (const [name, value] of want) {
      const got = (PRI_RECORD as unknown as Record<string, { get(w: Uint32Array): number }>)[name].get(rec);
      if (got !== value) fail(`the PRI record's ${name} is ${got}, the request's ${value}`);
    }
  } else {
    if (prod1 !== prod0 && v.nested.length === 0) fail(`a request ${result}, PRIQ_PROD moved`);
    // (A callback inside the step may have acknowledged the abort the request met.)
    if (writable && !abortedNow && v.nested.length === 0) fail(`a request ${result} by a PRI queue that could take it`);
  }
  const toggled = PRIQ_PROD.OVFLG.get(u(before.priqProd)) !== PRIQ_PROD.OVFLG.get(u(after.priqProd));
  if (toggled && !(enabled && !aborted && !overflow && full)) fail("PRIQ_PROD.OVFLG toggled without an overflow");
  if (toggled) v.coverage.add("page request: overflow (OVFLG)");
  // Automatic responses: exactly for the requests answered (when the runner has endpoint hooks to hear them).
  const fresh = runner.responses.slice(responsesBefore);
  if (runner.hasEndpoints) {
    const auto = fresh.filter((r) => r.auto);
    if (auto.length !== (result === "responded" ? 1 : 0)) {
      fail(`${auto.length} automatic responses to a request ${result}`);
    }
    const r = auto[0];
    if (r !== undefined && v.nested.length === 0) {
      if (r.sid !== Number(step.sid) || r.prgIndex !== Number(step.group)) fail("an automatic response to another");
      const failure = !enabled || aborted || abortedNow;
      if (failure && (r.code !== PRG_RESPONSE_CODE.RESPONSE_FAILURE || r.ssid !== -1)) {
        fail(`an automatic response while the queue cannot be written: code ${r.code}, PASID ${r.ssid}`);
      }
      if (!failure && !step.last) fail("an automatic response in overflow to a request that is not its group's last");
      v.coverage.add(`page request: auto-response ${r.code === 0 ? "Success" : "Response Failure"}`);
    }
  }
  const lo = on(PRIQ_IRQ_CFG2.LO, before.priqIrqCfg2);
  if (result === "queued" && v.pulses.priq === 0 && on(IRQ_CTRL.PRIQ_IRQEN, after.irqCtrlAck)) {
    if (lo ? step.last : used === 0) fail("a page request queued and no PRI queue interrupt");
  }
}

/** Interrupts of the PRI queue: only for a page request step that queued (or, with LO, a last one in overflow). */
export function checkPriqInterrupts(v: StepView): void {
  const { pulses, step, outcome, fail } = v;
  if (pulses.priq === 0) return;
  if (step.op !== "pri_request" || outcome.op !== "pri_request") fail(`${pulses.priq} PRI queue interrupts`);
  if (pulses.priq > 1) fail(`${pulses.priq} PRI queue interrupts for one request`);
  v.coverage.add("page request: PRI queue interrupt");
}

/** ATS invariants for an `ats_translate` or `ats_translated` step (see the module's list). */
export function checkAts(v: StepView): void {
  const { step, outcome, fail, runner } = v;
  const types = v.nested.length > 0 ? [] : recordTypes(v); // callbacks' DMAs add records of their own
  if (step.op === "ats_translate" && outcome.op === "ats_translate") {
    const c = outcome.completion;
    v.coverage.add(`ats: ${c.status}${c.status === "success" && !c.read && !c.write ? " (no access)" : ""}`);
    const other = types.find((t) => t !== EVENT_TYPE.F_BAD_ATS_TREQ);
    if (other !== undefined) fail(`an ATS Translation Request recorded ${EVENT_NAMES[other] ?? other}`);
    // IHI 0070 13.7: "an ATS TR that generates a response with R == 1 || W == 1 || Exe == 1 also sets the AF flag";
    // one granting nothing updates no descriptor (one stage: nested, walks of stage-1 tables update stage 2's).
    const granted = c.status === "success" && (c.read || c.write || c.exec);
    const stream = runner.smmu.streamConfig(Number(step.sid));
    const oneStage = !("fault" in stream) &&
      ((stream as StreamConfig).s1 === null || (stream as StreamConfig).s2 === null);
    if (!granted && v.nested.length === 0 && oneStage) {
      if (v.flagUpdates > 0) fail(`an ATS completion granting nothing made ${v.flagUpdates} descriptor flag updates`);
    }
    if (c.status !== "success") return;
    const stu = runner.smmu.ats.stu;
    const pow2 = Number.isInteger(Math.log2(c.size));
    if (!pow2 || c.size < stu || c.address % c.size !== 0) {
      fail(`a completion of 0x${c.address.toString(16)} size ${c.size}`);
    }
    if (!c.read && !c.write && !c.exec && c.size !== stu) fail(`nothing granted, size ${c.size}, not the STU`);
    // Full ATS: what is granted, an ordinary transaction of the stream gets at the same address.
    const config = runner.smmu.streamConfig(Number(step.sid));
    // (Only where the caches can hold nothing stale: the request walks the tables as they are, a transaction may hit.)
    if (v.nested.length > 0 || !v.coherent || "fault" in config || (config as StreamConfig).eats !== STE_EATS.FULL) {
      return;
    }
    const ssid = step.ssid === undefined ? undefined : Number(step.ssid);
    const priv = ssid !== undefined && step.priv === true;
    const address = step.address < 2n ** 53n ? Number(step.address) : BigInt.asIntN(64, step.address);
    const offset = Number(BigInt.asUintN(64, BigInt(address)) % BigInt(c.size));
    for (const [granted, write] of [[c.read, false], [c.write, true]] as const) {
      if (!granted) continue;
      const r = runner.smmu.probe(Number(step.sid), address, { ssid, priv, write });
      if (!r.ok || (c.size <= 2 ** 52 && r.pa !== c.address + offset)) {
        fail(
          `ATS granted ${write ? "W" : "R"} at 0x${(c.address + offset).toString(16)}, a transaction gets ${
            r.ok ? `0x${r.pa.toString(16)}` : r.fault
          }`,
        );
      }
      v.coverage.add(`ats: ${write ? "W" : "R"} granted, checked against a transaction`);
    }
  }
  if (step.op === "ats_translated" && outcome.op === "ats_translated") {
    const r = outcome.result;
    v.coverage.add(`ats translated: ${r.ok ? "passed" : r.fault}`);
    const allowed = new Set<number>([EVENT_TYPE.F_TRANSL_FORBIDDEN, ...TRANSLATION_RECORDS, EVENT_TYPE.F_WALK_EABT]);
    const other = types.find((t) => !allowed.has(t));
    if (other !== undefined) fail(`a Translated transaction recorded ${EVENT_NAMES[other] ?? other}`);
    const checked = on(CR0.ATSCHK, v.before.cr0ack);
    if (r.ok && !checked && r.pa !== Number(step.address)) fail("a Translated transaction changed without ATSCHK");
  }
}

/** The types of the event records the step wrote. */
function recordTypes(v: StepView): number[] {
  const out: number[] = [];
  for (let k = 0; k < v.evqRecords; k++) {
    const at = slotAddr(v.evq, v.evqFrom + k);
    // The record as the device wrote it (eight words in a row): an MSI may land on it afterwards.
    const ws = v.mem.writes;
    const first = ws.findIndex((w, j) => w.addr === at && ws[j + 7]?.addr === at + 28);
    if (first >= 0) out.push(ws[first].value & 0xff);
  }
  return out;
}
