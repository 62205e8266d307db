/**
 * The fuzz oracle's invariants, one function each, over a {@link StepView}: what one device step did (its outcome,
 * the registers and counters around it, every memory access it made). tests/fuzz/check.ts gathers the view and runs
 * them in order; each calls `fail` with what broke.
 * @module
 */
import type { Field } from "../../gen/mod.ts";
import {
  CMD_CFGI_STE_RANGE,
  CMD_SYNC,
  CMD_SYNC_CS,
  CMDQ_CONS,
  CMDQ_PROD,
  CR0ACK,
  EVENT_TYPE,
  EVENTQ_CONS,
  EVENTQ_PROD,
  EVENTS,
  EVT_CLASS,
  EVT_F_TRANSLATION,
  EVT_F_UUT,
  GERROR,
  IDR5,
  IDR5_OAS_BITS,
  IRQ_CTRL,
  OPCODE,
  PRIQ_PROD,
  REG,
  reservedSet,
  STE_CONFIG,
  STE_S1DSS,
  TT_PAGE_S1,
  TT_PAGE_S2,
} from "../../gen/mod.ts";
import { ABORT, type Smmu, type SmmuStats, type TranslationResult, type WalkStep } from "../../mod.ts";
import type { InterruptSinks } from "../../src/device/irq.ts";
import type { ScenarioRunner, Step, StepOutcome, Transaction } from "../../src/scenario/scenario.ts";
import { transactionOf } from "../../src/scenario/scenario.ts";
import type { Coverage } from "./coverage.ts";
import {
  describe,
  distance,
  type Regs,
  type Ring,
  ring,
  sameBytes,
  slotAddr,
  type Sync,
  twin,
  type UsedSte,
} from "./device_state.ts";
import { CFGI_ALL_RANGE } from "./layout.ts";
import type { RecordingMemory, Write } from "./recording.ts";
import type { StaleStes } from "./stale_stes.ts";
import type { HeldBefore } from "./sva_invariants.ts";

/** What the oracle remembers between steps. */
export interface Seen {
  /** The registers and counters after the last device step (nothing else changes them between device steps). */
  regs: Regs | null;
  stats: SmmuStats | null;
  /** The last transactions, to probe again after a restore or an invalidation. */
  recent: Transaction[];
  /** Word addresses transactions have read (STEs, CDs, descriptors): what the caches may depend on. */
  readEver: Set<number>;
  /** Whether nothing of that has been written since the caches were last emptied: then a cached answer must be the
   * answer a walk gives now. */
  clean: boolean;
  /** The STEs transactions used, and which of them a cached copy may have outlived. */
  readonly stes: StaleStes;
}

/** Whether a write of `len` bytes at `addr` touches a word a transaction has read. */
export function touchesRead(seen: Seen, addr: number, len: number): boolean {
  for (let a = addr - (addr % 4); a < addr + len; a += 4) if (seen.readEver.has(a)) return true;
  return false;
}

/** One device step as the invariants see it. */
export interface StepView {
  readonly runner: ScenarioRunner;
  readonly mem: RecordingMemory;
  readonly step: Step;
  readonly outcome: StepOutcome;
  readonly fail: (message: string) => never;
  readonly coverage: Coverage;
  readonly seen: Seen;
  /** Registers and counters before and after (the device may be a fresh one after a save_restore). */
  readonly before: Regs;
  readonly after: Regs;
  readonly stats0: SmmuStats;
  readonly stats1: SmmuStats;
  /** The step's work: translations, commands run, event records written and lost, TLB hits, MSIs sent. */
  readonly translations: number;
  readonly commands: number;
  readonly written: number;
  readonly lost: number;
  readonly tlbHits: number;
  readonly msis: number;
  /** Wired interrupts signalled in the step, by kind. */
  readonly pulses: Record<keyof InterruptSinks, number>;
  /** The queues as they were, the first event slot the step could write, and how far EVENTQ_PROD moved. */
  readonly cmdRing: Ring;
  readonly evq: Ring;
  readonly evqFrom: number;
  readonly evqRecords: number;
  /** The commands the step ran, its CMD_SYNCs, and their MSIs. */
  readonly ran: readonly Uint32Array[];
  readonly syncs: readonly Sync[];
  readonly syncMsis: readonly [number, number][];
  /** The byte copies (DMA data) among the step's writes. */
  readonly copies: readonly Write[];
  /** Features: hardware flag updates (IDR0.HTTU), Hyp, MSIs. */
  readonly httu: boolean;
  readonly hyp: boolean;
  readonly msiOn: boolean;
  /** A non-view DMA step's transaction, what probe predicted for it, and a save_restore step's blob. */
  readonly dma: Transaction | null;
  readonly predicted: string | null;
  readonly blob: Uint8Array | null;
  /** Steps host callbacks ran inside this one (`reenter`): their work counts as the step's. Where they make the
   * step's parts impossible to tell apart, the invariants about one call are left to the steps without them. */
  readonly nested: readonly Step[];
  /** Whether the caches can hold nothing stale: nothing a transaction read has been written since they were last
   * emptied, before or during the step (set once the step's writes are known). */
  coherent: boolean;
  /** Hardware flag updates (AF, dirty) the step made (set once its writes are known). */
  flagUpdates: number;
  /** Stalled transactions held before the step, with their STAG, address and whether recorded then: a retried DMA
   * copy writes its data in a step that is no DMA (tests/fuzz/sva_invariants.ts checks where). */
  readonly held: HeldBefore;
  /** A DMA step's STE: the one its transaction used, cached or read (set after the step); a PCIe endpoint's ATS or
   * page request's: its stream's (learnt before the step). */
  ste: UsedSte | null;
}

// ---------------------------------------------------------------------------------------------------- bounds

/** Descriptor levels of the longest walk: 52-bit input with a 4 KiB granule starts at level -1. */
const MAX_LEVELS = 5;
/** Most words one configuration fetch reads: an L1 descriptor (2 words) and a 16-word STE or CD, each of whose
 * addresses may go through a full stage-2 walk (nested CD fetches). */
const STE_WORDS = 2 + 16;
const CD_WORDS = (2 + 2 * MAX_LEVELS) + (16 + 2 * MAX_LEVELS);
/** Most words a stage-1 walk reads in nested mode: each level's table address through a stage-2 walk, then the
 * output address through one more. */
const WALK_WORDS = MAX_LEVELS * (2 + 2 * MAX_LEVELS) + 2 * MAX_LEVELS;
/** Most words one translation may read: its configuration and its walk. */
const TRANSLATION_WORDS = STE_WORDS + CD_WORDS + WALK_WORDS;
/** Words a command occupies. */
const COMMAND_WORDS = 4;

/** Bounded work: memory accesses within what the step's work allows; no more commands than the budget or ring. */
export function checkWork(v: StepView): void {
  const { commands, translations, written, cmdRing, fail } = v;
  const budget = v.runner.commandBudget;
  // Each access runs one batch at most (a callback's register write inside a batch joins it).
  const accesses = 1 + v.nested.filter((s) => s.op === "mmio_write" || s.op === "mmio_read").length;
  if (commands > accesses * Math.min(budget, 2 ** cmdRing.log2)) {
    fail(`${commands} commands in ${accesses} access(es) (budget ${budget}, ring ${2 ** cmdRing.log2})`);
  }
  const allowed = translations * TRANSLATION_WORDS + (commands + 1) * (COMMAND_WORDS + STE_WORDS + CD_WORDS) +
    8 * (written + 1) + 8 * (1 + v.nested.length);
  if (v.mem.words > allowed) fail(`${v.mem.words} memory accesses, more than the ${allowed} this work allows`);
}

// ---------------------------------------------------------------------------------------------------- writes

const bit = (f: { lsb: number }) => 2 ** f.lsb;
/** Low-word bits a hardware flag update may change: AF (set), and AP[2] / S2AP[1] (dirty state, with DBM). */
const AF = bit(TT_PAGE_S1.AF);
const DIRTY_S1 = 2 ** (TT_PAGE_S1.AP.lsb + 1);
const DIRTY_S2 = 2 ** (TT_PAGE_S2.S2AP.lsb + 1);
const DBM_HI = 2 ** (TT_PAGE_S1.DBM.lsb - 32);

/**
 * Every word the step wrote is at an architected place: an event slot from EVENTQ_PROD on, an MSI (an IRQ_CFG0 address
 * with its data, or a CMD_SYNC the step ran), or a flag update of a descriptor it read (HTTU). Returns the flag
 * updates (they leave translations as they were).
 */
export function checkWrites(v: StepView): Set<Write> {
  const { before, after, mem } = v;
  const places = new Set<string>();
  const flagUpdates = new Set<Write>();
  const msis = [...before.msis, ...after.msis, ...v.syncMsis];
  for (const w of mem.writes) {
    if (w.value < 0) continue; // byte copies are DMA data, checked with the translation
    const [ok, what] = explainWrite(w, v, msis);
    if (!ok) v.fail(what);
    places.add(what);
    if (what.endsWith("(HTTU)")) flagUpdates.add(w);
  }
  for (const what of places) v.coverage.add(`write: ${what}`);
  return flagUpdates;
}

/** Where `w` is (ok), or why it is not at an architected place. */
function explainWrite(w: Write, v: StepView, msis: readonly [number, number][]): [ok: boolean, what: string] {
  const where = `0x${w.addr.toString(16)}`;
  // An event record: slots from PROD before, up to the one a failed write stopped in (all of them, when callbacks
  // consumed records and the step wrote more than the ring holds).
  const records = v.nested.length > 0 ? Math.min(Math.max(v.evqRecords, v.written), 2 ** v.evq.log2) : v.evqRecords;
  for (let k = 0; k <= records; k++) {
    const slot = slotAddr(v.evq, v.evqFrom + k);
    if (w.addr >= slot && w.addr < slot + 32) return [true, "event record"];
  }
  if (msis.some(([addr, data]) => addr !== 0 && addr === w.addr && data === w.value)) return [true, "MSI"];
  // A page request's record: the slot at PRIQ_PROD as it was (one record per request step).
  if (v.step.op === "pri_request") {
    const slot = slotAddr(ring(v.before.priqBase, 16), PRIQ_PROD.WR.get(Uint32Array.of(v.before.priqProd)));
    if (w.addr >= slot && w.addr < slot + 16) return [true, "PRI record"];
  }
  // A hardware update of a descriptor this call read: AF set, or the dirty bit of a DBM descriptor (as read).
  if (v.httu && v.mem.reads.has(w.addr) && w.old !== ABORT) {
    const changed = (w.old ^ w.value) >>> 0;
    const dirty = (changed & (DIRTY_S1 | DIRTY_S2)) !== 0;
    const dbm = (v.mem.wordBefore(w.addr + 4) & DBM_HI) !== 0;
    const flagsOnly = (changed & ~(AF | DIRTY_S1 | DIRTY_S2)) === 0 && (w.value & changed & AF) === (changed & AF) &&
      (!dirty || dbm);
    if (flagsOnly) return [true, dirty ? "dirty state (HTTU)" : "Access flag (HTTU)"];
    return [false, `descriptor at ${where} changed 0x${w.old.toString(16)} → 0x${w.value.toString(16)}`];
  }
  return [false, `a write of 0x${(w.value >>> 0).toString(16)} at ${where}: not an event slot, MSI or flag update`];
}

// --------------------------------------------------------------------------------------------------- records

const GERROR_EVENTQ_ABT = 2 ** GERROR.EVENTQ_ABT_ERR.lsb;
const GERROR_MSI_GERROR_ABT = 2 ** GERROR.MSI_GERROR_ABT_ERR.lsb;
export const EVENT_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(EVENT_TYPE).map(([name, code]) => [code, name]),
);

/**
 * Faults become event records: at most one per transaction, of the fault's type, StreamID, input address, direction
 * and SubstreamID. A fault the architecture records goes to an enabled queue (written, or lost for want of room or
 * with EVENTQ_ABT_ERR); one it does not (a silent abort, a fault CD.R or STE.S2R keep quiet) writes nothing.
 */
export function checkRecords(v: StepView): void {
  const { outcome, written, lost, before, after, evq, fail, step } = v;
  // An ATS step records F_BAD_ATS_TREQ or F_TRANSL_FORBIDDEN beside (or instead of) a translation.
  const endpoint = step.op === "ats_translate" || step.op === "ats_translated" ? 1 : 0;
  if (written > v.translations + endpoint) fail(`${written} event records for ${v.translations} transactions`);
  const alone = v.nested.length === 0; // else callbacks' DMAs may add records after the step's own
  if (outcome.op === "translate" && !outcome.result.ok) {
    // A stall's record waits while the queue cannot take it, never lost to a full queue (IHI 0070 7.2.1, 7.4); an
    // aborted write loses it as any other (7.2.2: "including stall fault event records"), and it waits then too.
    const waits = outcome.result.stall !== undefined && !outcome.result.stall.recorded;
    const aborted = waits && lost === 1 && ((after.gerror ^ after.gerrorn) & GERROR_EVENTQ_ABT) !== 0;
    const on = CR0ACK.EVENTQEN.get(Uint32Array.of(before.cr0ack)) === 1 && outcome.result.event && (!waits || aborted);
    if (alone ? written + lost !== (on ? 1 : 0) : written + lost < (on ? 1 : 0)) {
      fail(`${outcome.result.fault} (event: ${outcome.result.event}) gave ${written} records and ${lost} lost`);
    }
    const used = distance(evq, EVENTQ_CONS.RD.get(Uint32Array.of(before.eventqCons)), v.evqFrom);
    if (alone && lost === 1 && used < 2 ** evq.log2 && ((after.gerror ^ after.gerrorn) & GERROR_EVENTQ_ABT) === 0) {
      fail("a record lost in a queue with room, without EVENTQ_ABT_ERR");
    }
  }
  const faulted = outcome.op === "translate" && !outcome.result.ok && outcome.result.event
    ? EVENT_TYPE[outcome.result.fault as keyof typeof EVENT_TYPE]
    : outcome.op === "copy" && !outcome.result.ok && outcome.result.fault.type !== 0
    ? outcome.result.fault.type
    : 0;
  if (faulted === 0 || written === 0 || step.op !== "dma" || (!alone && lost > 0)) return;
  const rec = ownRecord(v);
  const [type, sid] = [EVT_F_UUT.Type.get(rec), EVT_F_UUT.StreamID.get(rec)];
  if (type !== faulted || sid !== Number(step.sid)) {
    fail(
      `the event record says ${EVENT_NAMES[type] ?? type} for StreamID ${sid}, the fault was ` +
        `${EVENT_NAMES[faulted]} for StreamID ${step.sid}`,
    );
  }
  // And of the faulting transaction: its input address (the piece a copy stopped at), direction and SubstreamID.
  const t = transactionOf(step, v.runner.privilegedDma);
  const iova = outcome.op === "copy" && !outcome.result.ok ? outcome.result.iova : t.iova;
  const wrong = recordDisagrees(rec, type, iova, t.access.write === true, t.access.ssid);
  if (wrong !== null) fail(`the ${EVENT_NAMES[type]} record's ${wrong}`);
}

/**
 * The step's own event record: the first it wrote (callbacks that re-enter run after it; without them a step writes
 * one at most), as the device wrote it (an MSI may land on it afterwards): its eight words, in a row.
 */
function ownRecord(v: StepView): Uint32Array {
  const at = slotAddr(v.evq, v.evqFrom);
  const ws = v.mem.writes;
  const first = ws.findIndex((w, k) => w.addr === at && ws[k + 7]?.addr === at + 28);
  return Uint32Array.from({ length: 8 }, (_, k) => ws[first + k]?.value ?? 0);
}

/** Which field of event record `rec` (type `type`) disagrees with the transaction, or null. */
function recordDisagrees(
  rec: Uint32Array,
  type: number,
  iova: number | bigint,
  write: boolean,
  ssid: number | undefined,
): string | null {
  const layout = EVENTS.get(type)!;
  const fields = new Map(layout.fields.map((f) => [f.name, f]));
  // IHI 0070 7.3: "Portions of event records that are not explicitly defined in this section are RES0".
  const res0 = reservedSet(layout, rec);
  if (res0.some((m) => m !== 0)) return `RES0 bits set: ${res0.map((m) => `0x${m.toString(16)}`).join(" ")}`;
  // IHI 0070 7.3.12-7.3.17: "InD == 0 when RnW == 0".
  const ind = fields.get("InD");
  if (ind !== undefined && write && ind.get(rec) !== 0) return "InD 1 for a write";
  const lo = fields.get("InputAddr_LO"), hi = fields.get("InputAddr_HI");
  if (lo !== undefined && hi !== undefined) {
    const want = BigInt.asUintN(64, typeof iova === "bigint" ? iova : BigInt(iova));
    const shift = BigInt(lo.shift ?? 0); // a field of address bits [..:shift]
    const got = (BigInt(hi.get(rec)) << 32n) | (BigInt(lo.get(rec)) << shift);
    if (got !== (want >> shift) << shift) return `InputAddr 0x${got.toString(16)} for 0x${want.toString(16)}`;
  }
  const rnw = fields.get("RnW");
  if (rnw !== undefined && rnw.get(rec) !== (write ? 0 : 1)) {
    return `RnW ${rnw.get(rec)} for a ${write ? "write" : "read"}`;
  }
  const ssv = fields.get("SSV"), sub = fields.get("SubstreamID");
  if (ssv !== undefined && ssv.get(rec) !== (ssid === undefined ? 0 : 1)) return `SSV ${ssv.get(rec)}`;
  if (ssv !== undefined && sub !== undefined && ssid !== undefined && sub.get(rec) !== ssid) {
    return `SubstreamID ${sub.get(rec)} for ${ssid}`;
  }
  return null;
}

// ------------------------------------------------------------------------------------------- walk faults

const TRANSLATION_RELATED: ReadonlySet<number> = new Set([
  EVENT_TYPE.F_TRANSLATION,
  EVENT_TYPE.F_ADDR_SIZE,
  EVENT_TYPE.F_ACCESS,
  EVENT_TYPE.F_PERMISSION,
]);
const S2_WRITABLE = 2 ** (TT_PAGE_S2.S2AP.lsb + 1);
const isLeaf = (s: WalkStep) => s.decision === "page" || s.decision === "block";

/**
 * Where a walk's access arose decides what it may do and how its fault is recorded (IHI 0070 3.4, 3.13, 7.3.12-7.3.16),
 * for a DMA step, against the walk `probe` traces after it (a failed walk changed nothing; an update leaves the walk as
 * it was, its flags set; a fault's walk is compared only while the caches can hold nothing stale):
 * - a hardware update (Access flag, dirty state) of a stage-1 descriptor that stage 2 translated is a stage-1 table
 *   write: stage 2 maps that descriptor writable (S2AP[1], set before the update where stage 2 marks it dirty);
 * - a stage-1 fault records S2 = 0 and CLASS = IN (CLASS = TT for F_WALK_EABT); S2 = 1 only for a stream with stage 2;
 *   CLASS CD and TT only where stage 2 translated for stage 1; TTRnW says whether the failing stage-2 walk was the
 *   write of an update (a descriptor that had just translated the table read now refuses the write) or a read;
 * - where stage 1 is bypassed (STE.Config bypass or stage 2 only, S1DSS bypass), an input address beyond the IAS
 *   (= OAS) is a recorded F_ADDR_SIZE.
 */
export function checkWalkFaults(v: StepView): void {
  const { fail, runner, step } = v;
  if (step.op !== "dma" || v.nested.length > 0) return; // callbacks' DMAs and writes would mix with the step's
  // A DMA copy (a view) is checked by its first piece, whose walk may have made the update.
  const t = v.dma ?? transactionOf(step, runner.privilegedDma);
  // What the transaction read, before the probes below add their own reads to the step's record.
  const readByStep = new Set(v.mem.reads);
  const walk: WalkStep[] = [];
  if (v.flagUpdates > 0) runner.smmu.probe(t.sid, t.iova, t.access, walk);
  for (const w of v.mem.writes) {
    if (w.value < 0 || w.old === ABORT || ((w.old ^ w.value) & ~AF & ~DIRTY_S1) !== 0 || w.old === w.value) continue;
    const k = walk.findIndex((s) => s.stage === 1 && isLeaf(s) && s.descAddr === w.addr);
    if (k < 1 || walk[k - 1].stage !== 2) continue;
    const s2Leaf = walk.slice(0, k).findLast((s) => s.stage === 2 && isLeaf(s))!;
    if ((runner.ram.read32(s2Leaf.descAddr) & S2_WRITABLE) === 0) {
      const [at, s2At] = [w.addr.toString(16), s2Leaf.descAddr.toString(16)];
      fail(`a hardware update wrote the stage-1 descriptor at 0x${at}, read-only at stage 2 (descriptor at 0x${s2At})`);
    }
  }
  const { outcome, dma, ste } = v;
  if (
    dma !== null && outcome.op === "translate" && ste !== null && CR0ACK.SMMUEN.get(Uint32Array.of(v.before.cr0ack))
  ) {
    const s1Bypassed = ste.config === STE_CONFIG.BYPASS || !ste.s1 ||
      (ste.cdMax > 0 && ste.dss === STE_S1DSS.BYPASS && dma.access.ssid === undefined);
    const ias = 2 ** IDR5_OAS_BITS[IDR5.OAS.get(Uint32Array.of(runner.smmu.idRegisters.IDR5))]!;
    const iova = dma.iova;
    const beyond = typeof iova === "bigint" ? iova < 0n || iova >= BigInt(ias) : iova < 0 || iova >= ias;
    if (ste.config !== STE_CONFIG.ABORT && s1Bypassed && beyond && dma.access.ssid === undefined) {
      const r = outcome.result;
      if (r.ok || r.fault !== "F_ADDR_SIZE" || !r.event) {
        fail(`stage 1 bypassed, input ${iova} beyond the IAS gave ${describe(r)}, not F_ADDR_SIZE`);
      }
    }
  }
  const failed = outcome.op === "translate" ? !outcome.result.ok : outcome.op === "copy" && !outcome.result.ok;
  if (v.written === 0 || !failed) return;
  // The fault's walk traced again (a copy's at the piece it stopped at), trusted where the caches can hold nothing
  // stale, or where the transaction itself read every descriptor of it (no cached step, a TLB entry or a walk
  // cache's table, answered in its place).
  walk.length = 0;
  const at = outcome.op === "copy" && !outcome.result.ok ? outcome.result.iova : t.iova;
  runner.smmu.probe(t.sid, at, t.access, walk);
  if (!v.coherent && !walk.every((s) => readByStep.has(s.descAddr))) walk.length = 0;
  const rec = ownRecord(v);
  const f = EVT_F_TRANSLATION;
  const type = EVT_F_UUT.Type.get(rec);
  if (!TRANSLATION_RELATED.has(type) && type !== EVENT_TYPE.F_WALK_EABT) return;
  const [s2, cls] = [f.S2.get(rec), f.CLASS.get(rec)];
  const name = EVENT_NAMES[type];
  if (s2 === 0) {
    const want = type === EVENT_TYPE.F_WALK_EABT ? EVT_CLASS.TT : EVT_CLASS.IN;
    if (cls !== want) fail(`a stage-1 ${name} with CLASS ${cls}, not ${want}`);
    return;
  }
  if (ste === null || !ste.s2) return fail(`${name} with S2 = 1 for a stream without stage 2`);
  if (cls !== EVT_CLASS.IN && !ste.s1) {
    fail(`a stage-2 ${name} with CLASS ${cls} on a stream without stage 1`);
  }
  if (cls === EVT_CLASS.TT) {
    v.coverage.add(`record: stage-2 fault on a stage-1 table ${f.TTRnW.get(rec) ? "read" : "write"}`);
  }
  const last = walk.at(-1);
  if (type === EVENT_TYPE.F_WALK_EABT || cls !== EVT_CLASS.TT || last === undefined || last.stage !== 2) return;
  // The probe walks without the caches: its failing stage-2 walk is the transaction's only where it translates the
  // page the record's IPA names. Through a cached stage-1 table (a stale one) the transaction may fail elsewhere: at the
  // write of that table's descriptor, where the probe's walk fails at an earlier table's read through the same stage-2
  // descriptors (so the step read them all).
  const unit = 2 ** f.IPA.shift; // the record keeps the IPA's bits from here up
  if (Math.floor(last.inputAddr / unit) !== Math.floor(f.IPA.getAddress(rec) / unit)) return;
  // The write of a hardware update: a stage-2 descriptor that translated the table read refuses the write.
  const write = last.decision === "permission" &&
    walk.slice(0, -1).some((s) => isLeaf(s) && s.descAddr === last.descAddr);
  if (f.TTRnW.get(rec) !== (write ? 0 : 1)) {
    fail(`a stage-2 ${name} on a stage-1 table ${write ? "write" : "read"} with TTRnW ${f.TTRnW.get(rec)}`);
  }
}

// ------------------------------------------------------------------------------------------------ interrupts

const popcount = (v: number) => {
  let n = 0;
  for (let x = v >>> 0; x !== 0; x &= x - 1) n++;
  return n;
};

/** The GERROR bits the device activated in the step (after the guest's acknowledgement in it, if any). */
export function activated(before: Regs, after: Regs): number {
  return ((after.gerror ^ before.gerror) & ~(before.gerror ^ after.gerrorn)) >>> 0;
}

/**
 * Interrupts: every signal has a cause in the step (a record written, an error activated, a CMD_SYNC run), and every
 * cause signals when its interrupt is enabled: on its wired line always, and by MSI as well when an address is
 * programmed (or its abort error) (IHI 0070 3.18.2; a CMD_SYNC with SIG_IRQ likewise, 4.7.3).
 */
export function checkInterrupts(v: StepView): void {
  const { before, after, msis, written, pulses, fail } = v;
  const raised = activated(before, after);
  const activations = popcount(raised);
  const tuples = [...before.msis, ...after.msis, ...v.syncMsis];
  const msiWrites =
    v.mem.writes.filter((w) => w.value >= 0 && tuples.some(([a, d]) => a === w.addr && d === w.value)).length;
  const syncIrq = v.syncs.filter((x) => x.cs === CMD_SYNC_CS.SIG_IRQ);
  const syncMsi = syncIrq.filter((x) => x.addr !== 0 && v.msiOn).length;
  if (msis > msiWrites) fail(`${msis} MSIs counted, ${msiWrites} MSI writes seen`);
  if (pulses.eventq > written) fail(`${pulses.eventq} event queue interrupts for ${written} records`);
  const priqMsis = pulses.priq; // a PRI queue interrupt may come with its MSI (tests/fuzz/sva_invariants.ts checks it)
  if (v.nested.length > 0) {
    // Callbacks acknowledged errors or ran commands in between: what is left to tell is that each signal has a cause.
    if (pulses.cmdqSync > v.commands) fail(`${pulses.cmdqSync} CMD_SYNC interrupts for ${v.commands} commands`);
    return;
  }
  if (msis > written + activations + syncIrq.length + priqMsis) {
    fail(`${msis} MSIs for ${written} records, ${activations} errors`);
  }
  if (pulses.gerror > activations) fail(`${pulses.gerror} global error interrupts for ${activations} activations`);
  if (pulses.cmdqSync !== syncIrq.length) {
    fail(`${pulses.cmdqSync} CMD_SYNC interrupts for ${syncIrq.length} CMD_SYNCs with SIG_IRQ`);
  }
  const active = (f: Field) => f.get(Uint32Array.of((after.gerror ^ after.gerrorn) >>> 0)) === 1;
  const irqOn = (f: Field) => f.get(Uint32Array.of(after.irqCtrlAck)) === 1;
  const msiAddr = (k: number) => v.msiOn && after.msis[k][0] !== 0;
  if (written > 0 && irqOn(IRQ_CTRL.EVENTQ_IRQEN)) {
    if (pulses.eventq === 0) fail(`${written} records written and no wired event queue interrupt`);
    if (msiAddr(0) && msis === 0 && !active(GERROR.MSI_EVENTQ_ABT_ERR)) {
      fail(`${written} records written and no event queue MSI`);
    }
  }
  if ((raised & ~GERROR_MSI_GERROR_ABT) !== 0 && irqOn(IRQ_CTRL.GERROR_IRQEN)) {
    if (pulses.gerror === 0) {
      fail(`global errors 0x${raised.toString(16)} activated and no wired global error interrupt`);
    }
    if (msiAddr(1) && msis === 0 && !active(GERROR.MSI_GERROR_ABT_ERR)) {
      fail(`global errors 0x${raised.toString(16)} activated and no global error MSI`);
    }
  }
  if (syncMsi > 0 && msis === 0 && !active(GERROR.MSI_CMDQ_ABT_ERR)) {
    fail("a CMD_SYNC with an MSI address completed without the MSI");
  }
}

// --------------------------------------------------------------------------------------------- queues, errors

/** How many times the step (or a callback inside it) writes one of the registers (a save_restore or reset changes
 * them all). */
function writesRegister(v: StepView, ...offsets: number[]): number {
  return writesIn([v.step, ...v.nested], ...offsets);
}

function writesIn(steps: readonly Step[], ...offsets: number[]): number {
  let n = 0;
  for (const step of steps) {
    if (step.op === "save_restore" || step.op === "reset") return Infinity;
    if (step.op !== "mmio_write") continue;
    const at = Number(step.offset);
    if (offsets.some((o) => at >= o - 4 && at < o + 8)) n++;
  }
  return n;
}

/**
 * Queue pointers: CMDQ_CONS moves only towards CMDQ_PROD; EVENTQ_PROD advances by the records written and never into
 * unread slots; OVFLG toggles only when a record is lost.
 */
export function checkQueues(v: StepView): void {
  const { before, after, cmdRing, evq, written, fail } = v;
  const size = 2 ** cmdRing.log2;
  const cons0 = CMDQ_CONS.RD.get(Uint32Array.of(before.cmdqCons));
  const cons1 = CMDQ_CONS.RD.get(Uint32Array.of(after.cmdqCons));
  const published = distance(cmdRing, cons0, CMDQ_PROD.WR.get(Uint32Array.of(after.cmdqProd)));
  if (!writesRegister(v, REG.CMDQ_CONS, REG.CMDQ_PROD, REG.CMDQ_BASE)) {
    const moved = distance(cmdRing, cons0, cons1);
    if (moved > published && published <= size) {
      fail(`CMDQ_CONS moved ${moved} entries past PROD (${published} pending)`);
    }
  }
  if (!writesRegister(v, REG.CMDQ_CONS, REG.CMDQ_BASE)) {
    // Every command run moves CONS one entry on, once: none runs twice, and CONS never moves back (IHI 0070 3.5.1).
    // (Across callbacks that refill the ring, modulo the index and wrap bits.)
    if (v.commands % (2 * size) !== distance(cmdRing, cons0, cons1)) {
      fail(`${v.commands} commands run, CMDQ_CONS moved ${distance(cmdRing, cons0, cons1)} entries`);
    }
    // PROD more than a queue ahead of CONS: the queue is inconsistent and no command runs (IHI 0070 3.5.1).
    if (v.nested.length === 0 && published > size && v.commands > 0) {
      fail(`${v.commands} commands of an inconsistent queue (PROD ${published} entries ahead of CONS)`);
    }
  }
  if (writesRegister(v, REG.EVENTQ_PROD, REG.EVENTQ_BASE, REG.EVENTQ_PROD_P0)) return;
  if (v.evqRecords !== written % (2 * 2 ** evq.log2)) fail(`EVENTQ_PROD moved ${v.evqRecords} for ${written} records`);
  // IHI 0070 7.2.1, 7.2.2: an unacknowledged EVENTQ_ABT_ERR makes the queue unwritable: nothing is written until the
  // guest acknowledges it (a GERRORN write in the step may do so before the records).
  const aborted = ((before.gerror ^ before.gerrorn) & GERROR_EVENTQ_ABT) !== 0;
  if (aborted && written > 0 && writesRegister(v, REG.GERRORN) === 0) {
    fail(`${written} event records written while EVENTQ_ABT_ERR was active`);
  }
  const used = distance(evq, EVENTQ_CONS.RD.get(Uint32Array.of(before.eventqCons)), v.evqFrom);
  const consWritten = writesRegister(v, REG.EVENTQ_CONS, REG.EVENTQ_CONS_P0) > 0; // more room then
  if (!consWritten && used <= 2 ** evq.log2 && written > 2 ** evq.log2 - used) {
    fail(`${written} records into ${2 ** evq.log2 - used} free slots`);
  }
  const ovflg = EVENTQ_PROD.OVFLG.get(Uint32Array.of(before.eventqProd)) !==
    EVENTQ_PROD.OVFLG.get(Uint32Array.of(after.eventqProd));
  if (ovflg && v.lost === 0) fail("EVENTQ_PROD.OVFLG toggled with no record lost");
  if (ovflg) v.coverage.add("event queue overflow (OVFLG)");
}

/**
 * GERROR: the device only activates errors (toggles a bit that GERRORN matches, as the guest left it after its
 * acknowledgement in the step, if any), never deactivates one, and never writes GERRORN.
 */
export function checkGlobalErrors(v: StepView): void {
  const { step, before, after, fail } = v;
  if (step.op === "save_restore" || step.op === "reset") return;
  const acks = writesRegister(v, REG.GERRORN);
  if (acks === 0 && before.gerrorn !== after.gerrorn) fail("GERRORN changed by the device");
  // The rest reads the step as the guest's acknowledgement, then the device's work: not so when a callback
  // acknowledged (after the work that called it) or acknowledged twice.
  if (acks > 1 || writesIn(v.nested, REG.GERRORN) > 0) return;
  const changed = (before.gerror ^ after.gerror) >>> 0;
  const wasActive = (before.gerror ^ after.gerrorn) >>> 0;
  if ((changed & wasActive) !== 0) fail(`GERROR toggled active error bits 0x${(changed & wasActive).toString(16)}`);
  if (((wasActive & ~(after.gerror ^ after.gerrorn)) >>> 0) !== 0) fail("an active global error was deactivated");
}

/** CR0ACK and IRQ_CTRLACK acknowledge what the guest enabled; caches stay within their bounds. */
export function checkAcknowledgements(v: StepView): void {
  const { after, fail } = v;
  if (after.cr0 !== after.cr0ack) fail(`CR0ACK 0x${after.cr0ack.toString(16)} != CR0 0x${after.cr0.toString(16)}`);
  if (after.irqCtrl !== after.irqCtrlAck) fail(`IRQ_CTRLACK != IRQ_CTRL`);
  const c = v.stats1.caches;
  if (c.streams > c.limits.streams || c.contexts > c.limits.contexts || c.tlbEntries > c.limits.entries) {
    fail(`caches above their bounds: ${JSON.stringify(c)}`);
  }
}

// -------------------------------------------------------------------------------------------- reset, restore

/** Reset: every register as in a device just built. */
export function checkReset(v: StepView): void {
  if (v.step.op === "reset" && !sameBytes(v.runner.smmu.save(), v.runner.freshDevice().save())) {
    v.fail("a reset device saves another state than a new one");
  }
}

/**
 * Save and restore only read and load state: no memory access, no command run, and the restored device saves the
 * very blob again. Restore drops every cache: recent transactions probe as on a device that never ran before the blob.
 */
export function checkRestore(v: StepView): void {
  const { blob, mem, runner, fail } = v;
  if (blob === null) return;
  if (mem.words > 0) fail(`save and restore made ${mem.words} memory accesses`);
  if (v.commands > 0 || v.written + v.lost > 0 || v.msis > 0) fail("restore ran commands or raised events or MSIs");
  if (!sameBytes(runner.smmu.save(), blob)) fail("the restored device saves another blob than it was restored from");
  const other = runner.freshDevice();
  other.restore(blob);
  for (const t of v.seen.recent) {
    const [mine, fresh] = [runner.smmu.probe(t.sid, t.iova, t.access), other.probe(t.sid, t.iova, t.access)];
    if (describe(mine) !== describe(fresh)) {
      fail(`after restore, sid ${t.sid} iova ${t.iova} gives ${describe(mine)}, a fresh device ${describe(fresh)}`);
    }
  }
}

// ----------------------------------------------------------------------------------------------- coherence

/**
 * Whether `cmds` invalidate every configuration and translation the SMMU may cache, then complete with a CMD_SYNC:
 * CFGI_ALL, TLBI_NSNH_ALL and, where EL2 streams may exist (Hyp), TLBI_EL2_ALL (IHI 0070 4.3.6, 4.4.2, 4.4.3).
 */
export function invalidatesEverything(cmds: readonly Uint32Array[], hyp: boolean): boolean {
  let cfg = false, nsnh = false, el2 = !hyp;
  for (const c of cmds) {
    const op = CMD_SYNC.Opcode.get(c);
    if (op === OPCODE.CFGI_STE_RANGE && CMD_CFGI_STE_RANGE.Range.get(c) === CFGI_ALL_RANGE) cfg = true;
    if (op === OPCODE.TLBI_NSNH_ALL) nsnh = true;
    if (op === OPCODE.TLBI_EL2_ALL) el2 = true;
    if (op === OPCODE.SYNC && cfg && nsnh && el2) return true;
  }
  return false;
}

/**
 * Caches are coherent: while nothing a transaction read has been written since the caches were emptied, a TLB hit
 * answers as a walk of the tables does now (a misprogrammed contiguous set aside); and after a completed full
 * invalidation nothing cached answers: recent transactions probe as on a device with empty caches.
 */
export function checkCoherence(v: StepView): void {
  const { runner, dma, outcome, fail } = v;
  if (v.coherent && dma !== null && v.tlbHits > 0 && outcome.op === "translate") {
    v.coverage.add("TLB hit checked against a walk");
    const fresh = twin(runner);
    const walked = fresh.probe(dma.sid, dma.iova, dma.access);
    if (describe(walked) !== describe(outcome.result) && !contiguousHit(fresh, dma, outcome.result)) {
      fail(`a TLB hit gave ${describe(outcome.result)}, the tables as they are give ${describe(walked)}`);
    }
  }
  if (v.nested.length > 0 || !invalidatesEverything(v.ran, v.hyp)) return;
  v.coverage.add("full invalidation completed");
  const fresh = twin(runner);
  for (const t of v.seen.recent) {
    const [mine, theirs] = [runner.smmu.probe(t.sid, t.iova, t.access), fresh.probe(t.sid, t.iova, t.access)];
    if (describe(mine) !== describe(theirs)) {
      fail(
        `after CFGI_ALL, TLBI_NSNH_ALL and CMD_SYNC, sid ${t.sid} iova ${t.iova} gives ${describe(mine)}, ` +
          `with empty caches ${describe(theirs)}`,
      );
    }
  }
}

/**
 * A cached STE answers as the STE in memory unless it may be stale: the guest (or the device) wrote it since the
 * last CMD_CFGI_STE, CMD_CFGI_STE_RANGE or CMD_CFGI_ALL covering its StreamID that a CMD_SYNC completed (IHI 0070
 * 3.21.3, 4.3.1), or since a reset or restore emptied the caches. Until then the SMMU may keep using the STE it
 * cached, in its configuration cache or in a context cached with a CD.
 */
export function checkCachedSte(v: StepView): void {
  const { ste, runner, step } = v;
  if (ste === null || !ste.cached || step.op !== "dma") return;
  if (ste.words.some((x, k) => x !== runner.ram.read32(ste.addr + 4 * k))) {
    if (v.seen.stes.mayBeStale(Number(step.sid), ste.addr)) {
      v.coverage.add("cached STE used after the guest changed it");
    } else {
      v.fail(
        `StreamID ${step.sid} used a cached STE unlike the one at 0x${ste.addr.toString(16)}, which nothing wrote ` +
          `since its last invalidation (CFGI and CMD_SYNC, reset or restore)`,
      );
    }
  }
}

/** Contiguous sets (DDI 0487 D8.6.1) as [span, entry size]: 4K L3, 16K L3, 64K L3, 4K L2, 16K L2, 64K L2, 4K L1. */
const CONTIGUOUS_SETS: readonly [number, number][] = [
  [2 ** 16, 2 ** 12],
  [2 ** 21, 2 ** 14],
  [2 ** 21, 2 ** 16],
  [2 ** 25, 2 ** 21],
  [2 ** 30, 2 ** 25],
  [2 ** 34, 2 ** 29],
  [2 ** 34, 2 ** 30],
];

/**
 * Whether an answer can come from a contiguous-hint descriptor of the set around the address: the hint lets one entry
 * stand for its whole set, so a misprogrammed set (another entry missing or different) may translate through it
 * (CONSTRAINED UNPREDICTABLE, DDI 0487 D8.6.1).
 */
function contiguousHit(fresh: Smmu, t: Transaction, hit: TranslationResult): boolean {
  if (!hit.ok) return false;
  // A tagged address (a bigint) keeps its tag on the addresses of its set.
  const tag = typeof t.iova === "bigint" ? t.iova >> 56n << 56n : 0n;
  const iova = typeof t.iova === "bigint" ? Number(t.iova - tag) : t.iova;
  const at = (a: number) => (tag === 0n ? a : tag | BigInt(a));
  return CONTIGUOUS_SETS.some(([span, size]) => {
    const base = iova - (((iova % span) + span) % span);
    for (let a = base; a < base + span; a += size) {
      const walk: WalkStep[] = [];
      const r = fresh.probe(t.sid, at(a), t.access, walk);
      const hinted = walk.some((w) =>
        (w.decision === "page" || w.decision === "block") && TT_PAGE_S1.Contiguous.get(Uint32Array.of(0, w.descHi))
      );
      if (r.ok && hinted && r.pa - a === hit.pa - iova) return true;
    }
    return false;
  });
}

// --------------------------------------------------------------------------------------------- translations

/**
 * The translation itself: no output address beyond the implemented output size (IDR5.OAS); `probe` predicted the
 * transaction's answer; a DMA copy's data lands where each piece translates.
 */
export function checkTranslation(v: StepView): void {
  const { runner, outcome, fail } = v;
  const oas = 2 ** IDR5_OAS_BITS[IDR5.OAS.get(Uint32Array.of(runner.smmu.idRegisters.IDR5))]!;
  if (outcome.op === "translate" && outcome.result.ok && !(outcome.result.pa >= 0 && outcome.result.pa < oas)) {
    fail(`translated to 0x${outcome.result.pa.toString(16)}, beyond the ${Math.log2(oas)}-bit output size`);
  }
  for (const w of v.copies) {
    if (w.addr + w.len > oas) fail(`DMA data at 0x${w.addr.toString(16)}, beyond the output size`);
  }
  // A walk's own flag update may change a descriptor it reads again (tables shared by both stages of a nested walk):
  // then the probe after the step, which sees the update, answers as the transaction did.
  if (v.predicted !== null && outcome.op === "translate" && describe(outcome.result) !== v.predicted) {
    const after = v.flagUpdates > 0 ? describe(runner.smmu.probe(v.dma!.sid, v.dma!.iova, v.dma!.access)) : null;
    if (after !== describe(outcome.result)) {
      fail(`translated to ${describe(outcome.result)} where probe said ${v.predicted}`);
    }
  }
  // Callbacks' DMAs copy too, and their writes may change the mappings after the step's copy. Retried stalled copies
  // write in steps that are no DMA: checked with the stalls.
  const retrying = v.step.op !== "dma" && v.held.stags.size > 0;
  const why = v.nested.length > 0 || retrying ? null : explainCopies(runner, v.step, v.copies, v.coherent);
  if (why !== null) fail(why);
  if (v.copies.length > 1) v.coverage.add("write: DMA data split at mapping boundaries");
}

/**
 * Why the byte copies of a DmaView write are not where the SMMU translates them, or null when each is: in order, one
 * piece per mapping, each at the PA its IOVA translates to (probed after the copy: a copy changes no translation).
 * Unless the caches are `coherent`, a piece may run on through a stale entry (a page the guest remapped, under a
 * block it wrote since, say) that no probe sees any more: only its first byte is checked then.
 */
function explainCopies(runner: ScenarioRunner, step: Step, copies: readonly Write[], coherent: boolean): string | null {
  if (copies.length === 0) return null;
  if (step.op !== "dma" || !step.view || step.dir !== "write") {
    return `a ${copies[0].len}-byte write at 0x${copies[0].addr.toString(16)} outside any DMA write`;
  }
  const { sid, iova, access } = transactionOf(step, runner.privilegedDma);
  let done = 0;
  let fresh: Smmu | null = null;
  for (const w of copies) {
    // The piece's first and last bytes go where their IOVAs translate: one piece never crosses a mapping. A TLB may
    // still hold a stale entry for the last byte's page (the guest changed a mapping without invalidating it), so
    // a device with the same state and empty caches may answer for it instead, or a descriptor of a misprogrammed
    // contiguous set around it.
    for (const at of coherent ? [0, w.len - 1] : [0]) {
      const addr = Number(iova) + done + at;
      let r = runner.smmu.probe(sid, addr, access);
      if (!r.ok || r.pa !== w.addr + at) r = (fresh ??= twin(runner)).probe(sid, addr, access);
      const claimed: TranslationResult = { ok: true, pa: w.addr + at };
      if ((!r.ok || r.pa !== w.addr + at) && !contiguousHit(fresh!, { sid, iova: addr, access }, claimed)) {
        return `DMA data at 0x${(w.addr + at).toString(16)} for IOVA 0x${(Number(iova) + done + at).toString(16)}, ` +
          `which ${r.ok ? `translates to 0x${r.pa.toString(16)}` : `faults (${r.fault})`}`;
      }
    }
    done += w.len;
  }
  const len = step.hex ? step.hex.length / 2 : step.len ?? 4;
  return done <= len ? null : `${done} bytes of DMA data for a ${len}-byte write`;
}
