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
 * - walks: a hardware update of a stage-1 descriptor that stage 2 translated is a write stage 2 permits; a stage-1
 *   fault records CLASS IN (F_WALK_EABT: TT), S2 = 1 only with stage 2, CLASS CD/TT only where stage 2 translated for
 *   stage 1, TTRnW the failing table access (read, or the write of an update); an input beyond the IAS where stage 1
 *   is bypassed is a recorded F_ADDR_SIZE; all judged by the STE the transaction used (`explain`: cached or read);
 * - interrupts: every signal (MSI or wired) has a cause in the call (a record, an activated error, a CMD_SYNC), and
 *   every cause signals when its interrupt is enabled: on its wired line, and by MSI too when an address is programmed
 *   (or its abort error);
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
 *   with the same state and empty caches; a cached STE equals the one in memory unless something wrote it after the
 *   last CFGI covering its StreamID that a CMD_SYNC completed (tests/fuzz/stale_stes.ts);
 * - reset gives the state of a new device; a restore only loads state (it touches no memory, runs no command, and
 *   the device saves the very blob again) and drops every cache (recent transactions probe as on a fresh one);
 * - with a flat memory, the walker's direct-read path gives the same outcomes, memory and state as the recorded run;
 * - re-entrancy: steps a callback ran inside a step (`reenter`) count as part of it; across them no command runs twice
 *   and CONS never moves backwards (commands run = entries CONS moved), and event records stay in order.
 * @module
 */
import {
  CMD_SYNC,
  CMD_SYNC_CS,
  CMDQ_CONS,
  CMDQ_CONS_ERR_NAMES,
  EVENTQ_PROD,
  GERROR_LAYOUT,
  IDR0,
  IDR0_HTTU,
  OPCODE,
} from "../../gen/mod.ts";
import type { FlatMemory, GuestMemory, TranslationResult } from "../../mod.ts";
import {
  type CallbackName,
  type Scenario,
  ScenarioRunner,
  type Step,
  type StepOutcome,
  type Transaction,
  transactionOf,
} from "../../src/scenario/scenario.ts";
import { Coverage } from "./coverage.ts";
import {
  commandsRead,
  consumedCommands,
  describe,
  distance,
  readRegs,
  ring,
  sameBytes,
  steUsed,
  syncOf,
} from "./device_state.ts";
import {
  activated,
  checkAcknowledgements,
  checkCachedSte,
  checkCoherence,
  checkGlobalErrors,
  checkInterrupts,
  checkQueues,
  checkRecords,
  checkReset,
  checkRestore,
  checkTranslation,
  checkWalkFaults,
  checkWork,
  checkWrites,
  EVENT_NAMES,
  invalidatesEverything,
  type Seen,
  type StepView,
  touchesRead,
} from "./invariants.ts";
import { RecordingMemory, RUNAWAY, Runaway } from "./recording.ts";
import { checkInvalidationScopes } from "./invalidation_scopes.ts";
import { checkAts, checkPageRequests, checkPriqInterrupts, checkStalls, heldNow } from "./sva_invariants.ts";
import { StaleStes } from "./stale_stes.ts";

/** A broken invariant: which, and where. */
export class InvariantError extends Error {
  constructor(readonly step: number, message: string) {
    super(`step ${step}: ${message}`);
    this.name = "InvariantError";
  }
}

/**
 * Runs `scenario`, checking every invariant around every step; throws {@link InvariantError} on the first broken.
 * Counts what the steps did into `coverage`.
 */
export function checkScenario(scenario: Scenario, coverage: Coverage = new Coverage()): void {
  let recorder!: RecordingMemory;
  const nested: Reentered[] = [];
  const seen: Seen = { regs: null, stats: null, recent: [], readEver: new Set(), clean: true, stes: new StaleStes() };
  const runner = new ScenarioRunner(scenario, "fuzz case", {
    wrapMemory: (m, ram) => (recorder = new RecordingMemory(m, ram)),
    onReentered: (from, step) => nested.push({ from, step }),
  });
  coverage.cases++;
  const outcomes: string[] = [];
  scenario.steps.forEach((step, i) => {
    if (step.op === "mem_write" || step.op === "mem_read" || step.op === "comment" || step.op === "reenter") {
      runner.run(step); // the guest CPU's own accesses, or a callback armed: the device is not involved
      coverage.steps++;
      if (step.op === "mem_write") {
        if (touchesRead(seen, Number(step.addr), step.hex.length / 2)) seen.clean = false;
        seen.stes.written(Number(step.addr), step.hex.length / 2);
      }
      return;
    }
    try {
      nested.length = 0;
      recorder.logReads = runner.armed > 0; // the commands a step reads, should callbacks refill the ring
      outcomes[i] = outcomeKey(checkStep(runner, recorder, step, i, coverage, seen, nested));
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

/** Counters of a device that has done nothing yet (a save_restore into a fresh device counts from these). */
const FRESH = { translation: { translations: 0, tlbHits: 0 }, commands: 0, eventsWritten: 0, eventsLost: 0, msis: 0 };

/** A step a callback ran inside a device step, and from which callback. */
interface Reentered {
  from: CallbackName;
  step: Step;
}

/** Runs one device step, gathers what it did, and checks every invariant (tests/fuzz/invariants.ts) in turn. */
function checkStep(
  runner: ScenarioRunner,
  mem: RecordingMemory,
  step: Step,
  i: number,
  coverage: Coverage,
  seen: Seen,
  reentered: readonly Reentered[],
): StepOutcome {
  const fail = (message: string): never => {
    throw new InvariantError(i, `${step.op}: ${message}`);
  };
  const smmu = runner.smmu;
  const before = seen.regs ?? readRegs(smmu);
  const blob = step.op === "save_restore" ? smmu.save() : null;
  const stats0 = seen.stats ?? smmu.stats;
  const dma = step.op === "dma" && !step.view ? transactionOf(step, runner.privilegedDma) : null;
  const held = heldNow(smmu.stalls());
  const responses = runner.responses.length;
  // A PCIe endpoint's ATS or page request reads (and may cache) its stream's STE: which one, learnt before the step
  // (explain's reads are no work of the step's).
  const endpointSte = isEndpoint(step) ? steUsed(smmu, endpointTransaction(step)) : null;
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
  const pulses = { ...runner.interrupts };
  for (const k of Object.keys(pulses) as (keyof typeof pulses)[]) pulses[k] -= pulses0[k];
  if (mem.runaway) fail(`unbounded work: more than ${RUNAWAY} memory accesses in one call`);
  const after = seen.regs = readRegs(runner.smmu);
  const stats1 = seen.stats = runner.smmu.stats;
  const base = runner.smmu === smmu ? stats0 : FRESH; // a fresh device counts from zero
  const commands = stats1.commands - base.commands;
  const cmdRing = ring(before.cmdqBase, 16);
  const evq = ring(before.eventqBase, 32);
  const evqFrom = EVENTQ_PROD.WR.get(Uint32Array.of(before.eventqProd));
  const ran = consumedCommands(mem, cmdRing, after.cmdqCons, commands);
  const isSync = (c: Uint32Array) => CMD_SYNC.Opcode.get(c) === OPCODE.SYNC;
  const syncs = ran.filter(isSync).map(syncOf);
  // Steps run inside callbacks may have refilled the ring: every CMD_SYNC the step read may have run.
  const nested = reentered.map((r) => r.step);
  for (const r of reentered) coverage.add(`reentered from ${r.from}`);
  if (nested.length > 0) syncs.push(...commandsRead(mem, cmdRing).filter(isSync).map(syncOf));
  const ids = runner.smmu.idRegisters;
  const v: StepView = {
    runner,
    mem,
    step,
    outcome,
    fail,
    coverage,
    seen,
    before,
    after,
    stats0,
    stats1,
    translations: stats1.translation.translations - base.translation.translations,
    commands,
    written: stats1.eventsWritten - base.eventsWritten,
    lost: stats1.eventsLost - base.eventsLost,
    tlbHits: stats1.translation.tlbHits - base.translation.tlbHits,
    msis: stats1.msis - base.msis,
    pulses,
    cmdRing,
    evq,
    evqFrom,
    evqRecords: distance(evq, evqFrom, EVENTQ_PROD.WR.get(Uint32Array.of(after.eventqProd))),
    ran,
    syncs,
    syncMsis: syncs.filter((x) => x.cs === CMD_SYNC_CS.SIG_IRQ).map((x): [number, number] => [x.addr, x.data]),
    copies: mem.writes.filter((w) => w.value < 0),
    httu: IDR0.HTTU.get(Uint32Array.of(ids.IDR0)) !== IDR0_HTTU.NONE,
    hyp: IDR0.Hyp.get(Uint32Array.of(ids.IDR0)) === 1,
    msiOn: IDR0.MSI.get(Uint32Array.of(ids.IDR0)) === 1,
    dma,
    predicted,
    blob,
    nested,
    coherent: false,
    flagUpdates: 0,
    held,
    ste: endpointSte,
  };
  count(v);
  if (step.op === "dma") v.ste = steUsed(runner.smmu, transactionOf(step, runner.privilegedDma));
  trackStes(v);

  checkWork(v);
  const flagUpdates = checkWrites(v);
  // What the device wrote over something it had read, in this call too (a flag update leaves translations as they
  // were). Only transactions fill the caches, so only their reads count (commands and the rest keep nothing).
  // An ATS Translation Request fills the caches as a transaction does; retried stalls are transactions too.
  const fills = step.op === "dma" || step.op === "ats_translate" || held.stags.size > 0;
  if (fills || nested.some((s) => s.op === "dma")) { for (const a of mem.reads) seen.readEver.add(a); }
  const dirtied = mem.writes.some((w) => !flagUpdates.has(w) && touchesRead(seen, w.addr, w.len)) ||
    nested.some((s) => s.op === "mem_write" && touchesRead(seen, Number(s.addr), s.hex.length / 2));
  v.coherent = seen.clean && !dirtied;
  v.flagUpdates = flagUpdates.size;
  checkRecords(v);
  checkCachedSte(v);
  checkWalkFaults(v);
  checkInterrupts(v);
  checkQueues(v);
  checkGlobalErrors(v);
  checkAcknowledgements(v);
  checkReset(v);
  checkRestore(v);
  checkCoherence(v);
  checkInvalidationScopes(v);
  checkTranslation(v);
  checkStalls(v);
  checkPageRequests(v, responses);
  checkPriqInterrupts(v);
  checkAts(v);

  if (step.op === "dma") {
    seen.recent.push(transactionOf(step, runner.privilegedDma));
    if (seen.recent.length > 8) seen.recent.shift();
  }
  const emptied = step.op === "reset" || step.op === "save_restore" ||
    (nested.length === 0 && invalidatesEverything(ran, v.hyp));
  seen.clean = (seen.clean || emptied) && !dirtied;
  return outcome;
}

type EndpointStep = Step & { op: "ats_translate" | "ats_translated" | "pri_request" };
const isEndpoint = (s: Step): s is EndpointStep =>
  s.op === "ats_translate" || s.op === "ats_translated" || s.op === "pri_request";
/** A read by the endpoint's stream: what explain needs to name its STE. */
const endpointTransaction = (s: EndpointStep): Transaction => ({
  sid: Number(s.sid),
  iova: 0,
  access: { write: false, priv: false, exec: false },
});

/**
 * Tells `seen.stes` what the step did, in an order that errs towards stale: the STEs its transactions (and those of
 * callbacks) used, then everything written, then the invalidations it ran (none where callbacks ran steps: they may
 * have refilled the ring, so the commands run are not known).
 */
function trackStes(v: StepView): void {
  const { seen, runner, step, nested } = v;
  if (isEndpoint(step) && v.ste !== null) seen.stes.used(Number(step.sid), v.ste.addr);
  for (const s of [step, ...nested]) {
    if (s.op !== "dma") continue;
    const t = transactionOf(s, runner.privilegedDma);
    const ste = s === step ? v.ste : steUsed(runner.smmu, t);
    if (ste !== null) seen.stes.used(t.sid, ste.addr);
  }
  for (const w of v.mem.writes) seen.stes.written(w.addr, w.len);
  for (const s of nested) if (s.op === "mem_write") seen.stes.written(Number(s.addr), s.hex.length / 2);
  if (nested.length === 0) seen.stes.ran(v.ran);
  if (step.op === "reset" || step.op === "save_restore") seen.stes.emptied();
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
    case "pri_request":
      return o.result;
    case "ats_translate":
      return JSON.stringify(o.completion);
    case "ats_translated":
      return JSON.stringify(o.result);
    default:
      return o.op;
  }
}

const GERROR_BITS = GERROR_LAYOUT.fields.map((f) => [2 ** f.lsb, `GERROR.${f.name}`] as const);
const outcomeName = (r: TranslationResult) => r.ok ? "ok" : r.fault;

/** Counts what the step reached: its outcome, the global errors it activated, a command error, its work. */
function count(v: StepView): void {
  const { coverage, outcome, before, after } = v;
  coverage.steps++;
  coverage.commands += v.commands;
  coverage.events += v.written;
  if (outcome.op === "translate") coverage.add(`translate: ${outcomeName(outcome.result)}`);
  if (outcome.op === "copy") {
    const r = outcome.result;
    coverage.add(`copy: ${r.ok ? "done" : EVENT_NAMES[r.fault.type] ?? "abort"}`);
  }
  const raised = activated(before, after);
  if (raised !== 0) { for (const [bit, name] of GERROR_BITS) if ((raised & bit) !== 0) coverage.add(name); }
  if (after.cmdqCons !== before.cmdqCons) {
    const err = CMDQ_CONS.ERR.get(Uint32Array.of(after.cmdqCons));
    if (err !== 0 && err !== CMDQ_CONS.ERR.get(Uint32Array.of(before.cmdqCons))) {
      coverage.add(`CMDQ_CONS.ERR ${CMDQ_CONS_ERR_NAMES[err] ?? err}`);
    }
  }
}
