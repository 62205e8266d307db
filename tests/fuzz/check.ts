/**
 * The fuzzer's oracle: runs a scenario step by step and checks, around every step, what the architecture promises
 * whatever the guest wrote. It knows the device only through the public API and guest memory (recorded by
 * tests/fuzz/recording.ts); it reads registers with `mmioPeek` and translations with `probe`, neither of which has
 * side effects, so checking changes nothing a replay through `smmuv3 trace` would see.
 *
 * Invariants, around every step that reaches the device:
 * - no exception escapes a call (the runner makes only calls with valid host arguments), nor a side-effect-free one;
 * - bounded work: memory accesses within what the call's translations (every level of both stages), commands and
 *   event records allow; no more commands than the budget or the ring holds; a hard stop past any bound;
 * - guest memory changes only at the architected places: event records from EVENTQ_PROD on, MSIs (an IRQ_CFG0
 *   address with its data, or a CMD_SYNC the call ran), Access-flag and dirty-state updates of a descriptor the call
 *   read (HTTU), and DMA data, each piece where its first and last byte translate;
 * - faults become event records: at most one per transaction, of the fault's type and StreamID, with its input
 *   address, direction and SubstreamID where the record has them; a recorded fault is
 *   written to an enabled queue, or lost for want of room or with EVENTQ_ABT_ERR; a quiet one writes nothing;
 * - interrupts: every signal (MSI or wired) has a cause in the call (a record, an activated error, a CMD_SYNC), and
 *   every cause signals when its interrupt is enabled: by MSI when an address is programmed (or its abort error);
 * - no output address beyond the implemented output size (IDR5.OAS), for a translation or a DMA copy;
 * - queue pointers: CMDQ_CONS moves only towards CMDQ_PROD; EVENTQ_PROD advances by the records written and never
 *   into unread slots; OVFLG toggles only when a record is lost;
 * - GERROR: the device only activates errors (after the guest's acknowledgement in the same step), never deactivates
 *   one, and never writes GERRORN;
 * - CR0ACK and IRQ_CTRLACK acknowledge what the guest enabled; caches stay within their bounds;
 * - `probe` writes nothing, records nothing and agrees with `translate`;
 * - caches are coherent: while nothing the device read has been written since its caches were last emptied, a TLB
 *   hit answers as a walk of the tables does (a misprogrammed contiguous set aside); after a completed full
 *   invalidation (CFGI_ALL, TLBI_NSNH_ALL, TLBI_EL2_ALL with Hyp, CMD_SYNC) recent transactions probe as on a device
 *   with the same state and empty caches;
 * - reset gives the state of a new device; a restore is deterministic (a fresh device restoring the same blob from
 *   the same memory ends alike, writing alike) and drops every cache (recent transactions probe as on a fresh one);
 * - with a flat memory, the walker's direct-read path gives the same outcomes, memory and state as the recorded run.
 * @module
 */
import type { Field } from "../../gen/mod.ts";
import {
  CMD_CFGI_STE_RANGE,
  CMD_SYNC,
  CMD_SYNC_CS,
  CMDQ_BASE,
  CMDQ_CONS,
  CMDQ_CONS_ERR_NAMES,
  CMDQ_PROD,
  CR0,
  CR0ACK,
  EVENT_TYPE,
  EVENTQ_CONS,
  EVENTQ_PROD,
  EVENTS,
  EVT_F_UUT,
  GERROR,
  GERROR_IRQ_CFG0,
  GERROR_IRQ_CFG1,
  GERROR_LAYOUT,
  IDR0,
  IDR0_HTTU,
  IDR5,
  IRQ_CTRL,
  OPCODE,
  REG,
  TT_PAGE_S1,
  TT_PAGE_S2,
} from "../../gen/mod.ts";
import {
  ABORT,
  type FlatMemory,
  type GuestMemory,
  type Smmu,
  type SmmuStats,
  type TranslationResult,
  type WalkStep,
} from "../../mod.ts";
import { SavedState } from "../../gen/proto/smmuv3/v1/saved_state.ts";
import { oasBits } from "../../src/features.ts";
import { Coverage } from "./coverage.ts";
import { RecordingMemory, RUNAWAY, Runaway, type Write } from "./recording.ts";
import {
  type Scenario,
  ScenarioRunner,
  type Step,
  type StepOutcome,
  type Transaction,
  transactionOf,
} from "../../src/cli/scenario.ts";

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
export const TRANSLATION_WORDS = STE_WORDS + CD_WORDS + WALK_WORDS;
/** Words a command occupies. */
const COMMAND_WORDS = 4;

/** A broken invariant: which, and where. */
export class InvariantError extends Error {
  constructor(readonly step: number, message: string) {
    super(`step ${step}: ${message}`);
    this.name = "InvariantError";
  }
}

/** The registers the invariants look at, read without side effects. */
interface Regs {
  cr0: number;
  cr0ack: number;
  irqCtrl: number;
  irqCtrlAck: number;
  gerror: number;
  gerrorn: number;
  cmdqBase: Uint32Array;
  cmdqProd: number;
  cmdqCons: number;
  eventqBase: Uint32Array;
  eventqProd: number;
  eventqCons: number;
  /** [address, data] of the event queue, global error and PRI queue MSIs. */
  msis: [number, number][];
}

/** The registers the invariants need, through side-effect-free reads (a CMDQ_CONS read would run commands). */
function readRegs(smmu: Smmu): Regs {
  const r = (offset: number) => Number(smmu.mmioPeek(offset, 4));
  const pair = (offset: number) => Uint32Array.of(r(offset), r(offset + 4));
  const msi = (cfg0: number, cfg1: number): [number, number] => [
    GERROR_IRQ_CFG0.ADDR.getAddress(pair(cfg0)),
    GERROR_IRQ_CFG1.DATA.get(Uint32Array.of(r(cfg1))),
  ];
  return {
    cr0: r(REG.CR0),
    cr0ack: r(REG.CR0ACK),
    irqCtrl: r(REG.IRQ_CTRL),
    irqCtrlAck: r(REG.IRQ_CTRLACK),
    gerror: r(REG.GERROR),
    gerrorn: r(REG.GERRORN),
    cmdqBase: pair(REG.CMDQ_BASE),
    cmdqProd: r(REG.CMDQ_PROD),
    cmdqCons: r(REG.CMDQ_CONS),
    eventqBase: pair(REG.EVENTQ_BASE),
    eventqProd: r(REG.EVENTQ_PROD),
    eventqCons: r(REG.EVENTQ_CONS),
    msis: [
      msi(REG.EVENTQ_IRQ_CFG0, REG.EVENTQ_IRQ_CFG1),
      msi(REG.GERROR_IRQ_CFG0, REG.GERROR_IRQ_CFG1),
      msi(REG.PRIQ_IRQ_CFG0, REG.PRIQ_IRQ_CFG1),
    ],
  };
}

/** A circular queue's geometry, as its BASE register and the index fields describe it. */
interface Ring {
  base: number;
  log2: number;
  entryBytes: number;
}
const ring = (base: Uint32Array, entryBytes: number): Ring => {
  const log2 = CMDQ_BASE.LOG2SIZE.get(base);
  const addr = CMDQ_BASE.ADDR.getAddress(base);
  const bytes = 2 ** log2 * entryBytes;
  return { base: addr - (addr % bytes), log2, entryBytes };
};
/** Entries from index+wrap `from` to `to`, modulo twice the ring size. */
const distance = (r: Ring, from: number, to: number) => {
  const span = 2 ** (r.log2 + 1);
  return (((to - from) % span) + span) % span;
};
const slotAddr = (r: Ring, index: number) =>
  r.base + (((index % 2 ** r.log2) + 2 ** r.log2) % 2 ** r.log2) * r.entryBytes;

const bit = (f: { lsb: number }) => 2 ** f.lsb;
/** Low-word bits a hardware flag update may change: AF (set), and AP[2] / S2AP[1] (dirty state, with DBM). */
const AF = bit(TT_PAGE_S1.AF);
const DIRTY_S1 = 2 ** (TT_PAGE_S1.AP.lsb + 1);
const DIRTY_S2 = 2 ** (TT_PAGE_S2.S2AP.lsb + 1);
const DBM_HI = 2 ** (TT_PAGE_S1.DBM.lsb - 32);

const FRESH = { translation: { translations: 0 }, commands: 0, eventsWritten: 0, eventsLost: 0 };

/** What a step is, for the invariants that some guest writes legitimately change. */
function writesRegister(step: Step, ...offsets: number[]): boolean {
  if (step.op === "save_restore" || step.op === "reset") return true; // every register may change
  if (step.op !== "mmio_write") return false;
  const at = Number(step.offset);
  return offsets.some((o) => at >= o - 4 && at < o + 8);
}

/**
 * Runs `scenario`, checking every invariant around every step; throws {@link InvariantError} on the first broken.
 * Counts what the steps did into `coverage`.
 */
export function checkScenario(scenario: Scenario, coverage: Coverage = new Coverage()): void {
  let recorder!: RecordingMemory;
  const runner = new ScenarioRunner(scenario, "fuzz case", {
    wrapMemory: (m, ram) => (recorder = new RecordingMemory(m, ram)),
  });
  const httu = IDR0.HTTU.get(Uint32Array.of(runner.smmu.idRegisters.IDR0)) !== IDR0_HTTU.NONE;
  coverage.cases++;
  const seen: Seen = { regs: null, stats: null, recent: [], readEver: new Set(), clean: true };
  const outcomes: string[] = [];
  scenario.steps.forEach((step, i) => {
    if (step.op === "mem_write" || step.op === "mem_read" || step.op === "comment") {
      runner.run(step); // the guest CPU's own accesses: the device is not involved
      coverage.steps++;
      if (step.op === "mem_write" && touchesRead(seen, Number(step.addr), step.hex.length / 2)) seen.clean = false;
      return;
    }
    try {
      outcomes[i] = outcomeKey(checkStep(runner, recorder, step, i, httu, coverage, seen));
    } catch (e) {
      // The step itself, or a side-effect-free call the oracle made (peek, probe, save, restore elsewhere).
      if (e instanceof InvariantError) throw e;
      const what = e instanceof Runaway ? "unbounded work" : "exception escaped";
      throw new InvariantError(i, `${step.op}: ${what}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    }
  });
  if (scenario.flat_memory !== undefined && scenario.memory_aborts !== "throw") {
    checkFlatFastPath(scenario, outcomes, runner.ram, runner.smmu.save());
  }
}

/**
 * The same scenario on the bare FlatMemory, where the walker reads descriptors straight from its words (the oracle's
 * recording wrapper turns that fast path off): every outcome, the memory and the final state must be the same.
 */
function checkFlatFastPath(scenario: Scenario, outcomes: readonly string[], ram: GuestMemory, state: Uint8Array): void {
  const bare = new ScenarioRunner(scenario, "fuzz case");
  scenario.steps.forEach((step, i) => {
    const got = outcomeKey(bare.run(step));
    if (outcomes[i] !== undefined && got !== outcomes[i]) {
      throw new InvariantError(i, `${step.op}: on the bare FlatMemory ${got}, through the recorder ${outcomes[i]}`);
    }
  });
  const end = scenario.steps.length;
  if (!sameBytes((bare.ram as FlatMemory).bytes, (ram as FlatMemory).bytes)) {
    throw new InvariantError(end, "memory differs between the bare FlatMemory and the recorded run");
  }
  if (!sameBytes(bare.smmu.save(), state)) throw new InvariantError(end, "state differs on the bare FlatMemory");
}

/** A step's outcome as text, to compare runs. */
function outcomeKey(o: StepOutcome): string {
  switch (o.op) {
    case "translate":
      return describe(o.result);
    case "copy":
      return o.result.ok ? "copied" : `${o.result.done} bytes, then ${o.result.fault.type}`;
    case "mmio_read":
      return `read 0x${o.value.toString(16)}`;
    default:
      return o.op;
  }
}

/** The registers and counters after the last device step (nothing else changes them between device steps). */
interface Seen {
  regs: Regs | null;
  stats: SmmuStats | null;
  /** The last transactions, to probe again after a restore. */
  recent: Transaction[];
  /** Word addresses the device has read (STEs, CDs, descriptors, commands...): what its caches may depend on. */
  readEver: Set<number>;
  /** Whether nothing it read has been written since its caches were last emptied: then a cached answer must be the
   * answer a walk gives now. */
  clean: boolean;
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
 * Whether a TLB hit's answer can come from a contiguous-hint descriptor of the set around the address: the hint lets
 * one entry stand for its whole set, so a misprogrammed set (another entry missing or different) may translate
 * through it (CONSTRAINED UNPREDICTABLE, DDI 0487 D8.6.1).
 */
function contiguousHit(fresh: Smmu, t: Transaction, hit: TranslationResult): boolean {
  if (!hit.ok || typeof t.iova !== "number") return false;
  const iova = t.iova;
  return CONTIGUOUS_SETS.some(([span, size]) => {
    const base = iova - (((iova % span) + span) % span);
    for (let a = base; a < base + span; a += size) {
      const walk: WalkStep[] = [];
      const r = fresh.probe(t.sid, a, t.access, walk);
      const hinted = walk.some((w) =>
        (w.decision === "page" || w.decision === "block") && TT_PAGE_S1.Contiguous.get(Uint32Array.of(0, w.descHi))
      );
      if (r.ok && hinted && r.pa - a === hit.pa - iova) return true;
    }
    return false;
  });
}

/** Whether a write of `len` bytes at `addr` touches a word the device has read. */
function touchesRead(seen: Seen, addr: number, len: number): boolean {
  for (let a = addr - (addr % 4); a < addr + len; a += 4) if (seen.readEver.has(a)) return true;
  return false;
}

const GERROR_EVENTQ_ABT = 2 ** GERROR.EVENTQ_ABT_ERR.lsb;
const GERROR_MSI_GERROR_ABT = 2 ** GERROR.MSI_GERROR_ABT_ERR.lsb;
const popcount = (v: number) => {
  let n = 0;
  for (let x = v >>> 0; x !== 0; x &= x - 1) n++;
  return n;
};
const GERROR_BITS = GERROR_LAYOUT.fields.map((f) => [2 ** f.lsb, `GERROR.${f.name}`] as const);

function count(coverage: Coverage, outcome: StepOutcome, before: Regs, after: Regs): void {
  coverage.steps++;
  if (outcome.op === "translate") coverage.add(`translate: ${describeKind(outcome.result)}`);
  if (outcome.op === "copy") {
    const r = outcome.result;
    coverage.add(`copy: ${r.ok ? "done" : EVENT_NAMES[r.fault.type] ?? "abort"}`);
  }
  const raised = (after.gerror ^ before.gerror) & ~(before.gerror ^ after.gerrorn);
  if (raised !== 0) { for (const [bit, name] of GERROR_BITS) if ((raised & bit) !== 0) coverage.add(name); }
  if (after.cmdqCons !== before.cmdqCons) {
    const err = CMDQ_CONS.ERR.get(Uint32Array.of(after.cmdqCons));
    if (err !== 0 && err !== CMDQ_CONS.ERR.get(Uint32Array.of(before.cmdqCons))) {
      coverage.add(`CMDQ_CONS.ERR ${CMDQ_CONS_ERR_NAMES[err] ?? err}`);
    }
  }
}

const describeKind = (r: TranslationResult) => r.ok ? "ok" : r.fault;
const EVENT_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(EVENT_TYPE).map(([name, code]) => [code, name]),
);

function checkStep(
  runner: ScenarioRunner,
  mem: RecordingMemory,
  step: Step,
  i: number,
  httu: boolean,
  coverage: Coverage,
  seen: Seen,
): StepOutcome {
  const fail = (message: string): never => {
    throw new InvariantError(i, `${step.op}: ${message}`);
  };
  const smmu = runner.smmu;
  const before = seen.regs ?? readRegs(smmu);
  const blob = step.op === "save_restore" ? smmu.save() : null;
  const stats0 = seen.stats ?? smmu.stats;
  const dma = step.op === "dma" && !step.view ? transactionOf(step, runner.privilegedDma) : null;
  mem.begin();
  const predicted = dma === null ? null : describe(smmu.probe(dma.sid, dma.iova, dma.access));
  if (dma !== null) {
    // probe has no side effects: no memory write, no event, nothing counted.
    const s = smmu.stats;
    if (mem.writes.length > 0) fail(`probe wrote guest memory at 0x${mem.writes[0].addr.toString(16)}`);
    if (s.eventsWritten + s.eventsLost !== stats0.eventsWritten + stats0.eventsLost) fail("probe recorded an event");
    if (s.translation.translations !== stats0.translation.translations) fail("probe counted as a translation");
  }
  mem.begin();
  const pulses0 = { ...runner.interrupts };
  const outcome = runner.run(step);
  const pulses = Object.fromEntries(
    Object.entries(runner.interrupts).map(([k, v]) => [k, v - pulses0[k as keyof typeof pulses0]]),
  ) as typeof pulses0;
  if (mem.runaway) fail(`unbounded work: more than ${RUNAWAY} memory accesses in one call`);
  const after = seen.regs = readRegs(runner.smmu);
  const stats1 = seen.stats = runner.smmu.stats;
  const base = runner.smmu === smmu ? stats0 : FRESH; // a fresh device counts from zero
  const translations = stats1.translation.translations - base.translation.translations;
  const commands = stats1.commands - base.commands;
  const written = stats1.eventsWritten - base.eventsWritten;
  const lost = stats1.eventsLost - base.eventsLost;
  count(coverage, outcome, before, after);
  coverage.commands += commands;
  coverage.events += written;

  // Bounded work.
  const cmdRing = ring(before.cmdqBase, 16);
  const budget = runner.commandBudget;
  if (commands > Math.min(budget, 2 ** cmdRing.log2) && step.op !== "save_restore") { // restore: a new ring
    fail(`${commands} commands in one access (budget ${budget}, ring ${2 ** cmdRing.log2})`);
  }
  const allowed = translations * TRANSLATION_WORDS + (commands + 1) * (COMMAND_WORDS + STE_WORDS + CD_WORDS) +
    8 * (written + 1) + 8;
  if (mem.words > allowed) fail(`${mem.words} memory accesses, more than the ${allowed} this work allows`);

  // Memory writes, each at an architected place.
  const evq = ring(before.eventqBase, 32);
  const evqFrom = EVENTQ_PROD.WR.get(Uint32Array.of(before.eventqProd));
  const evqRecords = distance(
    evq,
    evqFrom,
    EVENTQ_PROD.WR.get(Uint32Array.of(after.eventqProd)),
  );
  const ran = consumedCommands(mem, cmdRing, after.cmdqCons, commands);
  const syncs = ran.filter((c) => CMD_SYNC.Opcode.get(c) === OPCODE.SYNC).map(syncOf);
  const syncMsis = syncs.filter((x) => x.cs === CMD_SYNC_CS.SIG_IRQ).map((x): [number, number] => [x.addr, x.data]);
  const copies = mem.writes.filter((w) => w.value < 0);
  const places = new Set<string>();
  const flagUpdates = new Set<Write>();
  for (const w of mem.writes) {
    if (w.value < 0) continue; // byte copies are DMA data, checked below
    const [ok, what] = explainWrite(w, {
      evq,
      evqFrom,
      evqRecords,
      msis: [...before.msis, ...after.msis, ...syncMsis],
      reads: mem.reads,
      httu,
      dbm: (addr) => (mem.wordBefore(addr + 4) & DBM_HI) !== 0, // the descriptor as the walk read it
    });
    if (!ok) fail(what);
    places.add(what);
    if (what.endsWith("(HTTU)")) flagUpdates.add(w);
  }
  // What the device wrote over something it had read, in this call too (a flag update leaves translations as they
  // were). Only transactions fill the caches, so only their reads count (commands and the rest keep nothing).
  if (step.op === "dma") { for (const a of mem.reads) seen.readEver.add(a); }
  const dirtied = mem.writes.some((w) => !flagUpdates.has(w) && touchesRead(seen, w.addr, w.len));
  for (const what of places) coverage.add(`write: ${what}`);

  // Faults become event records: at most one per transaction, of the fault's type and for its StreamID. A fault the
  // architecture records goes to an enabled queue (written, or lost when there is no room or its write aborts); one it
  // does not (a silent abort, a fault that CD.R or STE.S2R keep quiet) writes nothing.
  if (written > translations) fail(`${written} event records for ${translations} transactions`);
  if (outcome.op === "translate" && !outcome.result.ok) {
    const on = CR0ACK.EVENTQEN.get(Uint32Array.of(before.cr0ack)) === 1 && outcome.result.event;
    if (written + lost !== (on ? 1 : 0)) {
      fail(`${outcome.result.fault} (event: ${outcome.result.event}) gave ${written} records and ${lost} lost`);
    }
    const used = distance(evq, EVENTQ_CONS.RD.get(Uint32Array.of(before.eventqCons)), evqFrom);
    if (lost === 1 && used < 2 ** evq.log2 && ((after.gerror ^ after.gerrorn) & GERROR_EVENTQ_ABT) === 0) {
      fail("a record lost in a queue with room, without EVENTQ_ABT_ERR");
    }
  }
  const faulted = outcome.op === "translate" && !outcome.result.ok && outcome.result.event
    ? EVENT_TYPE[outcome.result.fault as keyof typeof EVENT_TYPE]
    : outcome.op === "copy" && !outcome.result.ok && outcome.result.fault.type !== 0
    ? outcome.result.fault.type
    : 0;
  if (faulted !== 0 && written > 0 && step.op === "dma") {
    // The record as the device wrote it (an MSI may land on it afterwards): its eight words, in a row.
    const at = slotAddr(evq, evqFrom + written - 1);
    const ws = mem.writes;
    const first = ws.findLastIndex((w, k) => w.addr === at && ws[k + 7]?.addr === at + 28);
    const rec = Uint32Array.from({ length: 8 }, (_, k) => ws[first + k]?.value ?? 0);
    const [type, sid] = [EVT_F_UUT.Type.get(rec), EVT_F_UUT.StreamID.get(rec)];
    if (type !== faulted || sid !== Number(step.sid)) {
      fail(
        `the event record says ${EVENT_NAMES[type] ?? type} for StreamID ${sid}, the fault was ` +
          `${EVENT_NAMES[faulted]} for StreamID ${step.sid}`,
      );
    }
    // And of the faulting transaction: its input address (the piece a copy stopped at), direction and SubstreamID.
    const t = transactionOf(step, runner.privilegedDma);
    const iova = outcome.op === "copy" && !outcome.result.ok ? outcome.result.iova : t.iova;
    const wrong = recordDisagrees(rec, type, iova, t.access.write === true, t.access.ssid);
    if (wrong !== null) fail(`the ${EVENT_NAMES[type]} record's ${wrong}`);
  }

  // Interrupts: each signal has a cause in this call (a record written, an error activated, a CMD_SYNC run), and
  // each cause signals, by MSI when an address is programmed (or its abort error), else on its wired line.
  const raised = ((after.gerror ^ before.gerror) & ~(before.gerror ^ after.gerrorn)) >>> 0; // after any ack
  const activations = popcount(raised);
  const msis = stats1.msis - (runner.smmu === smmu ? stats0.msis : 0);
  const msiWrites =
    mem.writes.filter((w) =>
      w.value >= 0 && [...before.msis, ...after.msis, ...syncMsis].some(([a, d]) => a === w.addr && d === w.value)
    ).length;
  const syncIrq = syncs.filter((x) => x.cs === CMD_SYNC_CS.SIG_IRQ);
  const msiOn = IDR0.MSI.get(Uint32Array.of(runner.smmu.idRegisters.IDR0)) === 1;
  const syncWired = syncIrq.filter((x) => x.addr === 0 || !msiOn).length;
  if (msis > msiWrites) fail(`${msis} MSIs counted, ${msiWrites} MSI writes seen`);
  if (msis > written + activations + syncIrq.length) fail(`${msis} MSIs for ${written} records, ${activations} errors`);
  if (pulses.eventq > written) fail(`${pulses.eventq} event queue interrupts for ${written} records`);
  if (pulses.gerror > activations) fail(`${pulses.gerror} global error interrupts for ${activations} activations`);
  if (pulses.cmdqSync > syncWired) fail(`${pulses.cmdqSync} CMD_SYNC interrupts for ${syncWired} CMD_SYNCs`);
  if (pulses.priq !== 0) fail("a PRI queue interrupt, with no PRI queue producer");
  const active = (f: Field) => f.get(Uint32Array.of((after.gerror ^ after.gerrorn) >>> 0)) === 1;
  const irqOn = (f: Field) => f.get(Uint32Array.of(after.irqCtrlAck)) === 1;
  const msiAddr = (k: number) => msiOn && after.msis[k][0] !== 0;
  if (written > 0 && irqOn(IRQ_CTRL.EVENTQ_IRQEN)) {
    const sent = msiAddr(0) ? msis > 0 || active(GERROR.MSI_EVENTQ_ABT_ERR) : pulses.eventq > 0;
    if (!sent) fail(`${written} records written and no event queue interrupt`);
  }
  if ((raised & ~GERROR_MSI_GERROR_ABT) !== 0 && irqOn(IRQ_CTRL.GERROR_IRQEN)) {
    const sent = msiAddr(1) ? msis > 0 || active(GERROR.MSI_GERROR_ABT_ERR) : pulses.gerror > 0;
    if (!sent) fail(`global errors 0x${raised.toString(16)} activated and no global error interrupt`);
  }
  if (syncWired > pulses.cmdqSync) fail(`${syncWired} CMD_SYNCs with SIG_IRQ and ${pulses.cmdqSync} interrupts`);
  if (syncIrq.length > syncWired && msis === 0 && !active(GERROR.MSI_CMDQ_ABT_ERR)) {
    fail("a CMD_SYNC with an MSI address completed without the MSI");
  }

  // Queue pointers.
  if (!writesRegister(step, REG.CMDQ_CONS, REG.CMDQ_PROD, REG.CMDQ_BASE)) {
    const moved = distance(
      cmdRing,
      CMDQ_CONS.RD.get(Uint32Array.of(before.cmdqCons)),
      CMDQ_CONS.RD.get(Uint32Array.of(after.cmdqCons)),
    );
    const pending = distance(
      cmdRing,
      CMDQ_CONS.RD.get(Uint32Array.of(before.cmdqCons)),
      CMDQ_PROD.WR.get(Uint32Array.of(after.cmdqProd)),
    );
    if (moved > pending && pending <= 2 ** cmdRing.log2) {
      fail(`CMDQ_CONS moved ${moved} entries past PROD (${pending} pending)`);
    }
  }
  if (
    !writesRegister(step, REG.EVENTQ_PROD, REG.EVENTQ_CONS, REG.EVENTQ_BASE, REG.EVENTQ_PROD_P0, REG.EVENTQ_CONS_P0)
  ) {
    if (evqRecords !== written % (2 * 2 ** evq.log2)) fail(`EVENTQ_PROD moved ${evqRecords} for ${written} records`);
    const used = distance(
      evq,
      EVENTQ_CONS.RD.get(Uint32Array.of(before.eventqCons)),
      EVENTQ_PROD.WR.get(Uint32Array.of(before.eventqProd)),
    );
    if (used <= 2 ** evq.log2 && written > 2 ** evq.log2 - used) {
      fail(`${written} records into ${2 ** evq.log2 - used} free slots`);
    }
    const ovflg = EVENTQ_PROD.OVFLG.get(Uint32Array.of(before.eventqProd)) !==
      EVENTQ_PROD.OVFLG.get(Uint32Array.of(after.eventqProd));
    if (ovflg && lost === 0) fail("EVENTQ_PROD.OVFLG toggled with no record lost");
    if (ovflg) coverage.add("event queue overflow (OVFLG)");
  }

  // GERROR: the device only activates errors (toggles a bit that GERRORN matches, as the guest left it after its
  // acknowledgement in this step, if any), never deactivates one, and never writes GERRORN.
  if (step.op !== "save_restore" && step.op !== "reset") {
    const acked = writesRegister(step, REG.GERRORN);
    if (!acked && before.gerrorn !== after.gerrorn) fail("GERRORN changed by the device");
    const changed = (before.gerror ^ after.gerror) >>> 0;
    const wasActive = (before.gerror ^ after.gerrorn) >>> 0;
    if ((changed & wasActive) !== 0) fail(`GERROR toggled active error bits 0x${(changed & wasActive).toString(16)}`);
    if (((wasActive & ~(after.gerror ^ after.gerrorn)) >>> 0) !== 0) fail("an active global error was deactivated");
  }

  // Acknowledgements and caches.
  if (after.cr0 !== after.cr0ack) fail(`CR0ACK 0x${after.cr0ack.toString(16)} != CR0 0x${after.cr0.toString(16)}`);
  if (after.irqCtrl !== after.irqCtrlAck) fail(`IRQ_CTRLACK != IRQ_CTRL`);
  const c = stats1.caches;
  if (c.streams > c.limits.streams || c.contexts > c.limits.contexts || c.tlbEntries > c.limits.entries) {
    fail(`caches above their bounds: ${JSON.stringify(c)}`);
  }

  // Reset: every register as in a device just built.
  if (step.op === "reset" && !sameBytes(runner.smmu.save(), runner.freshDevice().save())) {
    fail("a reset device saves another state than a new one");
  }

  // Restore is deterministic: into a fresh device, from the memory as it was, it ends in the same state with the
  // same memory writes (commands the saved device had yet to run) as the restore this step did.
  if (blob !== null) {
    const writes = mem.writes.slice();
    for (const w of writes.toReversed()) if (w.value >= 0 && w.old !== ABORT) runner.ram.write32(w.addr, w.old);
    mem.begin();
    const other = runner.freshDevice();
    other.restore(blob);
    const trail = (ws: readonly Write[]) => ws.map((w) => `${w.addr}:${w.value}`).join(" ");
    if (trail(mem.writes) !== trail(writes)) fail("a second restore of the blob wrote memory differently");
    if (!sameBytes(other.save(), runner.smmu.save())) fail("a second restore of the blob ends in another state");
    // A restore drops every cache: the device translates as one that never ran before the blob.
    for (const t of seen.recent) {
      const [mine, fresh] = [runner.smmu.probe(t.sid, t.iova, t.access), other.probe(t.sid, t.iova, t.access)];
      if (describe(mine) !== describe(fresh)) {
        fail(`after restore, sid ${t.sid} iova ${t.iova} gives ${describe(mine)}, a fresh device ${describe(fresh)}`);
      }
    }
  }
  // While nothing the device read has changed since its caches were emptied, a TLB hit answers as a walk does now.
  const tlbHits = stats1.translation.tlbHits - (runner.smmu === smmu ? stats0.translation.tlbHits : 0);
  if (seen.clean && dma !== null && tlbHits > 0 && outcome.op === "translate") {
    coverage.add("TLB hit checked against a walk");
    const fresh = twin(runner);
    const walked = fresh.probe(dma.sid, dma.iova, dma.access);
    if (describe(walked) !== describe(outcome.result) && !contiguousHit(fresh, dma, outcome.result)) {
      fail(`a TLB hit gave ${describe(outcome.result)}, the tables as they are give ${describe(walked)}`);
    }
  }

  // After a full invalidation has completed, nothing cached may answer: recent transactions probe as on a device
  // with the same state and empty caches.
  const hyp = IDR0.Hyp.get(Uint32Array.of(runner.smmu.idRegisters.IDR0)) === 1;
  if (invalidatesEverything(ran, hyp)) {
    coverage.add("full invalidation completed");
    const fresh = twin(runner);
    for (const t of seen.recent) {
      const [mine, theirs] = [runner.smmu.probe(t.sid, t.iova, t.access), fresh.probe(t.sid, t.iova, t.access)];
      if (describe(mine) !== describe(theirs)) {
        fail(
          `after CFGI_ALL, TLBI_NSNH_ALL and CMD_SYNC, sid ${t.sid} iova ${t.iova} gives ${describe(mine)}, ` +
            `with empty caches ${describe(theirs)}`,
        );
      }
    }
  }
  if (step.op === "dma") {
    seen.recent.push(transactionOf(step, runner.privilegedDma));
    if (seen.recent.length > 8) seen.recent.shift();
  }
  const emptied = step.op === "reset" || step.op === "save_restore" || invalidatesEverything(ran, hyp);
  seen.clean = (seen.clean || emptied) && !dirtied;
  // No output address beyond the implemented output size (IDR5.OAS): larger ones are F_ADDR_SIZE (or abort).
  const oas = 2 ** oasBits(IDR5.OAS.get(Uint32Array.of(runner.smmu.idRegisters.IDR5)));
  if (outcome.op === "translate" && outcome.result.ok && !(outcome.result.pa >= 0 && outcome.result.pa < oas)) {
    fail(`translated to 0x${outcome.result.pa.toString(16)}, beyond the ${Math.log2(oas)}-bit output size`);
  }
  for (const w of mem.writes) {
    if (w.value < 0 && w.addr + w.len > oas) fail(`DMA data at 0x${w.addr.toString(16)}, beyond the output size`);
  }
  if (predicted !== null && outcome.op === "translate" && describe(outcome.result) !== predicted) {
    fail(`translated to ${describe(outcome.result)} where probe said ${predicted}`);
  }
  const why = explainCopies(runner, step, copies);
  if (why !== null) fail(why);
  if (copies.length > 1) coverage.add("write: DMA data split at mapping boundaries");
  return outcome;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  const whole = a.length - (a.length % 4);
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    // Word by word: a flat memory is megabytes.
    const [wa, wb] = [
      new Uint32Array(a.buffer, a.byteOffset, whole / 4),
      new Uint32Array(b.buffer, b.byteOffset, whole / 4),
    ];
    for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) return false;
  } else for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  for (let i = whole; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const describe = (r: TranslationResult) => r.ok ? `pa 0x${r.pa.toString(16)}` : r.fault;

/**
 * Why the byte copies of a DmaView write are not where the SMMU translates them, or null when each is: in order, one
 * piece per mapping, each at the PA its IOVA translates to (probed after the copy: a copy changes no translation).
 */
function explainCopies(runner: ScenarioRunner, step: Step, copies: readonly Write[]): string | null {
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
    for (const at of [0, w.len - 1]) {
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

/** A device in the same architectural state with empty caches, its command queue held (nothing runs): for probes. */
function twin(runner: ScenarioRunner): Smmu {
  const state = SavedState.decode(runner.smmu.save());
  const cr0 = Uint32Array.of(state.cr0 ?? 0);
  CR0.CMDQEN.set(cr0, 0);
  state.cr0 = cr0[0];
  const other = runner.freshDevice();
  other.restore(SavedState.encode(state).finish());
  return other;
}

/** Which field of event record `rec` (type `type`) disagrees with the transaction, or null. */
function recordDisagrees(
  rec: Uint32Array,
  type: number,
  iova: number | bigint,
  write: boolean,
  ssid: number | undefined,
): string | null {
  const fields = new Map(EVENTS.get(type)!.fields.map((f) => [f.name, f]));
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

/** A CMD_SYNC the call ran: its completion signal and MSI. */
interface Sync {
  cs: number;
  addr: number;
  data: number;
}

/** The commands this call ran, in order (read from the ring as it was before the call's writes). */
function consumedCommands(mem: RecordingMemory, r: Ring, consAfter: number, commands: number): Uint32Array[] {
  // The commands run are the `commands` entries before CONS as it ends (it may have been written in this step).
  const n = Math.min(commands, 2 ** r.log2);
  const from = CMDQ_CONS.RD.get(Uint32Array.of(consAfter)) - n;
  return Array.from({ length: n }, (_, k) => {
    const at = slotAddr(r, from + k);
    return Uint32Array.from({ length: 4 }, (_, j) => mem.wordBefore(at + 4 * j));
  });
}

const syncOf = (w: Uint32Array): Sync => ({
  cs: CMD_SYNC.CS.get(w),
  addr: CMD_SYNC.MSIAddress.getAddress(w),
  data: CMD_SYNC.MSIData.get(w),
});

/**
 * Whether `cmds` invalidate every configuration and translation the SMMU may cache, then complete with a CMD_SYNC:
 * CFGI_ALL, TLBI_NSNH_ALL and, where EL2 streams may exist (Hyp), TLBI_EL2_ALL (IHI 0070 4.3.6, 4.4.2, 4.4.3).
 */
function invalidatesEverything(cmds: readonly Uint32Array[], hyp: boolean): boolean {
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

/** CMD_CFGI_STE_RANGE with this Range is CMD_CFGI_ALL (IHI 0070 4.3.6). */
const CFGI_ALL_RANGE = 31;

interface Places {
  evq: Ring;
  evqFrom: number;
  evqRecords: number;
  msis: [number, number][];
  reads: ReadonlySet<number>;
  httu: boolean;
  /** Whether the descriptor whose low word is at `addr` has DBM set. */
  dbm: (addr: number) => boolean;
}

/** Why `w` is not at an architected place, or null when it is. */
function explainWrite(w: Write, p: Places): [ok: boolean, what: string] {
  const where = `0x${w.addr.toString(16)}`;
  // An event record: slots from PROD before, up to the one a failed write stopped in.
  for (let k = 0; k <= p.evqRecords; k++) {
    const slot = slotAddr(p.evq, p.evqFrom + k);
    if (w.addr >= slot && w.addr < slot + 32) return [true, "event record"];
  }
  if (p.msis.some(([addr, data]) => addr !== 0 && addr === w.addr && data === w.value)) return [true, "MSI"];
  // A hardware update of a descriptor this call read: AF set, or the dirty bit of a DBM descriptor.
  if (p.httu && p.reads.has(w.addr) && w.old !== ABORT) {
    const changed = (w.old ^ w.value) >>> 0;
    const dirty = (changed & (DIRTY_S1 | DIRTY_S2)) !== 0;
    const flagsOnly = (changed & ~(AF | DIRTY_S1 | DIRTY_S2)) === 0 && (w.value & changed & AF) === (changed & AF) &&
      (!dirty || p.dbm(w.addr));
    if (flagsOnly) return [true, dirty ? "dirty state (HTTU)" : "Access flag (HTTU)"];
    return [false, `descriptor at ${where} changed 0x${w.old.toString(16)} → 0x${w.value.toString(16)}`];
  }
  return [false, `a write of 0x${(w.value >>> 0).toString(16)} at ${where}: not an event slot, MSI or flag update`];
}
