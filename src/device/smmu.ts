/**
 * `Smmu`: the device model. The 128 KiB register frame (pages 0 and 1) with the architecture's access semantics
 * (IHI 0070 chapter 6), and the wiring of the command queue, event queue, interrupts, translation engine and
 * save/restore. The register semantics live in src/device/mmio.ts; this file is the public face.
 * @module
 */
import { CR0ACK, FRAME_BYTES, IDR0, IDR0_STALL_MODEL, IDR5, REG, REGISTERS, VA_LAYOUT } from "../../gen/mod.ts";
import { DWORD_BYTES, WORD_BITS, WORD_BYTES } from "../core/numbers.ts";
import { HostError, OptionsError, shown } from "../core/errors.ts";
import { guardMemory, type GuestMemory } from "../core/memory.ts";
import { HostCalls, refuseInMemory } from "../core/host_calls.ts";
import { checkAccess, checkObserver, checkOptions, INTERRUPT_KINDS, type SmmuOptions } from "./options.ts";
import { type AccessSize, RegisterFile, word } from "../registers/regfile.ts";
import { ACCESS, ACCESS_MASK, NO_SSID, NO_TAG, SID_LIMIT, SSID_LIMIT } from "../core/types.ts";
import { isVa, untag } from "../core/address.ts";
import type { Access, SmmuObserver } from "../core/types.ts";
import { type IdRegisterSet, idRegistersFor, idRegistersFrom } from "../registers/features.ts";
import { Interrupts } from "./irq.ts";
import { EventQueue } from "./events.ts";
import { COMMAND_BUDGET, CommandQueue } from "./commands.ts";
import type { EndpointHooks } from "./commands.ts";
import { RegisterSemantics } from "./mmio.ts";
import { type CacheLimits, Translator, type TranslatorStats, type WalkStep } from "../translation/translate.ts";
import { DmaView } from "./dma.ts";
import type { ConfigFault, StreamConfig } from "../translation/config_types.ts";
import type { TlbRows } from "../translation/tlb_pages.ts";
import { restoreState, saveState } from "../state/save_restore.ts";
import { type Pri, PriQueue } from "./priq.ts";
import { type Ats, AtsPort } from "../translation/ats.ts";
import { decodeStalls, encodeStall, faultName, type Pending, type Stall, Stalls } from "./stall.ts";
import { type CacheContents, cacheContents, type ExplainedProbe, explainProbe } from "../translation/explain.ts";

/** A transaction explained (see {@link Smmu.explain}). */
export interface Explanation extends ExplainedProbe {
  /** The answer, as `probe` gives it. */
  readonly result: TranslationResult;
}

/**
 * The outcome of one transaction: the physical address, or the fault that aborted it, or (with `stall`) the fault
 * that stalled it: the transaction is then not over, and `stall.onEnd` gets its final result (IHI 0070 3.12.2).
 */
export type TranslationResult =
  | { ok: true; pa: number }
  | {
    ok: false;
    /** The event type name (gen/ EVENT_TYPE, e.g. "F_TRANSLATION"), or "ABORT" for a silent abort. */
    fault: string;
    /**
     * Whether the architecture records this fault as an event: not for a silent abort, nor for a translation fault
     * that CD.R or STE.S2R keep quiet. It lands in the queue if the queue is enabled and has room.
     */
    event: boolean;
    /** Present when a stalling configuration holds the transaction (STAG, state, the callback when it ends). */
    stall?: Stall<TranslationResult>;
  };

/** Counters of the device's work. */
export interface SmmuStats {
  /** The translation engine's counters. */
  translation: TranslatorStats;
  /** Event records written to the event queue. */
  eventsWritten: number;
  /** Event records lost (queue full, or its write aborted). */
  eventsLost: number;
  /** Commands executed. */
  commands: number;
  /** MSIs sent. */
  msis: number;
  /** What the caches hold now, and their bounds. */
  caches: CacheOccupancy;
}

/** Occupancy of the bounded caches: decoded STEs, translation contexts (a stream, or a stream and SubstreamID) and
 * TLB page keys, each never above its limit. */
export interface CacheOccupancy {
  /** Decoded STEs held. */
  streams: number;
  /** Contexts held. */
  contexts: number;
  /** TLB page keys held over all contexts. */
  tlbEntries: number;
  /** The bounds in effect (the options' `cacheLimits`, or the defaults). */
  limits: Required<CacheLimits>;
}

const W_CR0ACK = word(REG.CR0ACK);
/** An unsubscribed observer's place while a notification may be walking the list. */
const GONE: SmmuObserver = Object.freeze({});
const compact = (list: SmmuObserver[]) => {
  for (let i = list.length - 1; i >= 0; i--) if (list[i] === GONE) list.splice(i, 1);
};
const WORD = BigInt(WORD_BITS);
const TWO_32 = 1n << WORD;
const TWO_64 = 1n << BigInt(VA_LAYOUT.bits);

/** A register access's [low word, high word] as the bigint value of `size` bytes. */
function value([lo, hi]: [number, number], size: AccessSize): bigint {
  return size === DWORD_BYTES ? BigInt(hi) * TWO_32 + BigInt(lo) : BigInt(lo);
}

function accessFlags(a: Access | undefined): number {
  // checkAccess has made sure every flag is a boolean or undefined.
  if (a === undefined) return 0;
  return (a.write ? ACCESS.WRITE : 0) | (a.exec ? ACCESS.EXEC : 0) | (a.priv ? ACCESS.PRIV : 0);
}

/** An Arm SMMUv3 (IHI 0070): program it through MMIO as a guest would; translate devices' transactions. */
export class Smmu {
  readonly #memory: GuestMemory;
  readonly #regs = new RegisterFile();
  readonly #ids: IdRegisterSet;
  readonly #observers: SmmuObserver[] = [];
  readonly #calls = new HostCalls();
  readonly #irq: Interrupts;
  readonly #events: EventQueue;
  readonly #engine: Translator;
  /** The engine's TLB rows, which translateAddress's hit path reads. */
  readonly #rows: TlbRows;
  readonly #cmdq: CommandQueue;
  readonly #sem: RegisterSemantics;
  readonly #schedule: ((resume: () => void) => void) | undefined;
  readonly #priq: PriQueue;
  readonly #stalls: Stalls;
  /** Settles the stall model once the device call ends (a deferred callback, bound once). */
  readonly #settleStalls = () => this.#stalls.settle();
  /** PCIe PRI (IDR0.PRI): endpoints' page requests become PRI queue records (IHI 0070 chapter 8). */
  readonly pri: Pri;
  /** PCIe ATS (IDR0.ATS): Translation Requests and Translated transactions (IHI 0070 3.9.1). */
  readonly ats: Ats;
  /** Bumped by reset and restore: a continuation scheduled before does nothing. */
  #epoch = 0;
  #scheduled = false;

  /** A device at reset. Throws {@link OptionsError} for options of a wrong shape or that it cannot honour. */
  constructor(options: SmmuOptions) {
    checkOptions(options);
    if (options.features !== undefined && options.idRegisters !== undefined) {
      throw new OptionsError("Smmu: give either features or idRegisters, not both");
    }
    this.#ids = options.idRegisters !== undefined
      ? idRegistersFrom(options.idRegisters)
      : idRegistersFor(options.features);
    try {
      this.#memory = guardMemory(options.memory, this.#calls);
    } catch (e) {
      throw new OptionsError(`Smmu: options.memory is not a GuestMemory (${(e as Error).message})`);
    }
    this.#writeIdRegisters();
    // The callbacks as they are now: a later change to the host's objects cannot make them non-functions.
    const sinks = options.interrupts ?? {};
    const sinkCopy = Object.fromEntries(INTERRUPT_KINDS.map((k) => [k, sinks[k]]));
    this.#irq = new Interrupts(this.#regs, this.#memory, sinkCopy, options.onMsi, this.#calls, sinks);
    this.#events = new EventQueue(this.#regs, this.#memory, this.#irq);
    this.#engine = new Translator(
      this.#regs,
      this.#memory,
      this.#events,
      this.#observers,
      options.cacheLimits,
      this.#calls,
    );
    this.#rows = this.#engine.caches.rows;
    const hooks = options.endpoints;
    const [atc, pri] = [hooks?.atcInvalidate, hooks?.priResponse];
    this.#schedule = options.schedule;
    const endpoints: EndpointHooks = {
      atcInvalidate: atc && ((inv) => atc.call(hooks, inv)),
      priResponse: pri && ((r) => pri.call(hooks, r)),
    };
    this.#cmdq = new CommandQueue(
      this.#regs,
      this.#memory,
      this.#engine,
      this.#irq,
      this.#observers,
      endpoints,
      options.commandBudget ?? (options.schedule !== undefined ? COMMAND_BUDGET : Infinity),
      () => this.#backlog(),
      this.#calls,
    );
    this.#sem = new RegisterSemantics(this.#regs, this.#engine, this.#cmdq, this.#irq, this.#observers);
    this.#priq = new PriQueue(this.#regs, this.#memory, this.#irq, endpoints, (sid) => this.#engine.streamConfig(sid));
    const port = new AtsPort(this.#regs, this.#engine, this.#events);
    this.pri = { request: (r) => this.#call("pri.request", () => this.#priq.request(r)) };
    this.ats = {
      translate: (r) => this.#call("ats.translate", () => port.translate(r)),
      translated: (a) => this.#call("ats.translated", () => port.translated(a)),
      get stu() {
        return port.stu;
      },
    };
    this.#stalls = new Stalls(
      (f) => this.#events.recordStall(f),
      (p) => this.#bareStall(p),
      () => this.#events.writable(),
    );
    const w = this.#regs.words;
    if (IDR0.STALL_MODEL.get(w, word(REG.IDR0)) !== IDR0_STALL_MODEL.TERMINATE_ONLY) {
      this.#stalls.resize(IDR5.STALL_MAX.get(w, word(REG.IDR5)));
      this.#engine.stalls = this.#stalls;
      this.#cmdq.stalls = this.#stalls;
    }
  }

  /** `fn` as a device call (its interrupts and other deferred callbacks run when it ends). */
  #call<T>(what: string, fn: () => T): T {
    this.#calls.enter(what);
    try {
      return fn();
    } finally {
      this.#calls.leave();
    }
  }

  /** Re-issues a held transaction as `translate` does: for one that `translate` made, or that restore brought. */
  #bareStall(p: Pending): { run: () => TranslationResult; abort: () => TranslationResult } {
    const fault = { ok: false as const, fault: "ABORT", event: false };
    return {
      run: () => {
        const pa = this.#engine.translate(p.sid, p.ssid, p.iova, p.flags, p.tag);
        return pa >= 0 ? { ok: true, pa } : this.#faultResult();
      },
      abort: () => fault,
    };
  }

  /**
   * The transactions held stalled now (IHI 0070 3.12.2), by STAG: for a VMM that must find its devices' stalled
   * accesses again after a restore (set their `onEnd` and carry on when they end).
   */
  stalls(): Stall[] {
    return this.#stalls.held;
  }

  /** Within a device call: what commands (or SMMUEN) ended settles when the call ends (src/device/stall.ts). */
  #settleLater(): void {
    if (this.#stalls.unsettled) this.#calls.defer(this.#settleStalls, undefined);
  }

  /** A batch stopped at its budget with commands left: ask the host to continue later, once. */
  #backlog(): void {
    if (this.#schedule === undefined || this.#scheduled) return;
    this.#scheduled = true;
    const epoch = this.#epoch;
    this.#calls.defer(this.#schedule, undefined, () => this.#resume(epoch));
  }

  #resume(epoch: number): void {
    if (epoch !== this.#epoch) return; // a restore or reset since: the backlog waits for the guest
    this.#scheduled = false;
    this.#calls.enter("schedule: resume");
    try {
      this.#cmdq.consume();
      this.#settleLater();
    } finally {
      this.#calls.leave();
    }
  }

  /** Identification registers take the configured values; PIDR/CIDR their spec values (RegisterFile skips them). */
  #writeIdRegisters(): void {
    const w = this.#regs.words;
    for (const r of REGISTERS) if (r.state === "id") w[word(r.offset)] = r.reset[0];
    w[word(REG.IDR0)] = this.#ids.IDR0;
    w[word(REG.IDR1)] = this.#ids.IDR1;
    w[word(REG.IDR3)] = this.#ids.IDR3;
    w[word(REG.IDR5)] = this.#ids.IDR5;
    w[word(REG.IIDR)] = this.#ids.IIDR;
    w[word(REG.AIDR)] = this.#ids.AIDR;
  }

  /** The advertised identification register values. */
  get idRegisters(): Readonly<IdRegisterSet> {
    return this.#ids;
  }

  /**
   * A guest's read of `size` (4 or 8) bytes at `offset` in the register frame. A misaligned or wrong-width access
   * reads as zero (as does an offset with no register). Throws {@link HostError} for a bad size or an offset outside
   * the frame.
   */
  mmioRead(offset: number, size: AccessSize): bigint {
    this.#checkAccess(offset, size);
    this.#calls.enter("mmioRead");
    try {
      const v = value(this.#sem.read(offset, size), size);
      this.#settleLater(); // a CMDQ_CONS read runs commands
      return v;
    } finally {
      this.#calls.leave();
    }
  }

  /**
   * What `mmioRead(offset, size)` would return now, without the read's side effects (a read of CMDQ_CONS lets the
   * command queue make progress): for debuggers, monitors and test oracles. Throws {@link HostError} as mmioRead does.
   */
  mmioPeek(offset: number, size: AccessSize): bigint {
    this.#checkAccess(offset, size);
    return value(this.#sem.peek(offset, size), size);
  }

  /**
   * A guest's write of `value` (`size` bytes, 4 or 8) at `offset`. Guest mistakes get the architected response
   * (ignored writes, RAZ/WI); a bad size, offset or value throws {@link HostError} and changes nothing.
   */
  mmioWrite(offset: number, size: AccessSize, value: bigint): void {
    this.#checkAccess(offset, size);
    if (typeof value !== "bigint" || value < 0n || value >= (size === DWORD_BYTES ? TWO_64 : TWO_32)) {
      throw new HostError(`mmioWrite: value ${shown(value)} does not fit ${size} bytes (a bigint is required)`);
    }
    this.#calls.enter("mmioWrite");
    try {
      const w = this.#regs.words;
      const wasEnabled = CR0ACK.SMMUEN.get(w, W_CR0ACK) === 1;
      this.#sem.write(offset, size, Number(value % TWO_32), Number(value >> WORD));
      // IHI 0070 6.3.9.6: SMMUEN 1 to 0 marks every stalled transaction "to be terminated with an abort".
      if (wasEnabled && CR0ACK.SMMUEN.get(w, W_CR0ACK) === 0) this.#stalls.terminateAll();
      this.#settleLater(); // commands run, and the event queue may have become writable
    } finally {
      this.#calls.leave();
    }
  }

  #checkAccess(offset: number, size: number): void {
    if (size !== WORD_BYTES && size !== DWORD_BYTES) {
      throw new HostError(`MMIO access size must be 4 or 8, got ${shown(size)}`);
    }
    if (!Number.isInteger(offset) || offset < 0 || offset >= FRAME_BYTES) {
      throw new HostError(`MMIO offset ${shown(offset)} is outside the 128 KiB register frame`);
    }
  }

  /**
   * One transaction of stream `sid` at `iova`, with the effects of a real one (TLB fills, event records). A number
   * `iova` is a signed address: negative values stand for the upper (TTB1) half of the 64-bit space. A bigint is the
   * full 64-bit address, for tagged pointers (a top byte that CD.TBI0/TBI1 ignores).
   */
  translate(sid: number, iova: number | bigint, access?: Access): TranslationResult {
    const ssid = this.#checkTransaction(sid, access, "translate");
    this.#checkIova(iova, "translate");
    this.#calls.enter("translate");
    // Nothing in a translation throws (memories are guarded, callbacks deferred): no finally on this path.
    const [addr, tag] = this.#address(iova);
    const pa = this.#engine.translate(sid, ssid, addr, accessFlags(access), tag);
    let result: TranslationResult;
    if (pa >= 0) result = { ok: true, pa };
    else {
      // Read before leave(): the callbacks it runs may translate again.
      const fault = this.#faultResult();
      const f = this.#engine.fault;
      const stall = f.stall ? this.#stalls.get(f.stag) as Pending<TranslationResult> : null;
      if (stall !== null) stall.abort = () => fault;
      result = stall === null ? fault : { ...fault, stall };
    }
    this.#calls.leave();
    return result;
  }

  /**
   * `translate` for hot paths: the PA, or -1 when the transaction aborts (then {@link lastFault} says why). `flags`
   * are {@link ACCESS} bits (WRITE, EXEC, PRIV), `ssid` the SubstreamID or -1 for none; `iova` a signed number as
   * for `translate` (a tagged address needs `translate`). A TLB hit allocates nothing. Throws {@link HostError} for
   * bad arguments.
   */
  translateAddress(sid: number, iova: number, flags = 0, ssid: number = NO_SSID): number {
    // Checks a hot path affords: compares, and Number.isSafeInteger, which the optimizer turns into compares.
    if (
      (sid >>> 0) !== sid || !Number.isSafeInteger(iova) || (flags & ACCESS_MASK) !== flags ||
      ((ssid >>> 0) !== ssid && ssid !== NO_SSID) || ssid >= SSID_LIMIT || this.#calls.inMemory
    ) {
      this.#refuseAddress(sid, iova, flags, ssid);
    }
    // A TLB hit changes nothing a device call brackets (no callback, no queue): it needs no enter/leave. Rows exist
    // only for cached contexts that translate, and allow by raw flags (checked above; overrides folded in): a hit
    // needs no context. The engine brackets a miss itself, in its slow path: what V8 inlines of this function (into
    // a caller's loop) is the hit path and two small calls.
    const pa = this.#rows.lookup(sid, ssid, iova, flags);
    return pa >= 0 ? pa : this.#engine.missed(sid, ssid, iova, flags, pa);
  }

  /** Why translateAddress refuses: bad arguments, or a call from inside a GuestMemory access (which enter refuses). */
  #refuseAddress(sid: unknown, iova: unknown, flags: unknown, ssid: unknown): never {
    const what = "translateAddress";
    if (((sid as number) >>> 0) !== sid) throw new HostError(`${what}: StreamID ${shown(sid)} is not 32-bit`);
    if (!Number.isSafeInteger(iova)) {
      throw new HostError(`${what}: IOVA ${shown(iova)} is not a safe integer (translate takes a bigint)`);
    }
    if (((flags as number) & ACCESS_MASK) !== flags) {
      throw new HostError(`${what}: access flags ${shown(flags)} are not ACCESS.WRITE | EXEC | PRIV bits`);
    }
    const s = ssid as number;
    if (((s >>> 0) !== s && s !== NO_SSID) || s >= SSID_LIMIT) {
      throw new HostError(`${what}: SubstreamID ${shown(ssid)} is not -1 or a 20-bit value`);
    }
    return refuseInMemory(what);
  }

  /**
   * Why the last transaction that aborted did (for {@link translateAddress}, which returns only -1); with `stall`
   * when it is held stalled instead.
   */
  get lastFault(): TranslationResult {
    const fault = this.#faultResult();
    const f = this.#engine.fault;
    const stall = f.stall ? this.#stalls.get(f.stag) : undefined;
    return stall === undefined ? fault : { ...fault, stall: stall as Pending<TranslationResult> };
  }

  /** The answer `translate` would give, without side effects; `trace` collects the walk's descriptor reads. */
  probe(sid: number, iova: number | bigint, access?: Access, trace?: WalkStep[]): TranslationResult {
    const ssid = this.#checkTransaction(sid, access, "probe");
    this.#checkIova(iova, "probe");
    if (trace !== undefined && !Array.isArray(trace)) {
      throw new HostError(`probe: trace must be an array, got ${shown(trace)}`);
    }
    this.#calls.enter("probe");
    const [addr, tag] = this.#address(iova);
    const pa = this.#engine.probe(sid, ssid, addr, accessFlags(access), tag, trace);
    const result: TranslationResult = pa >= 0 ? { ok: true, pa } : this.#faultResult();
    this.#calls.leave();
    return result;
  }

  #checkIova(iova: unknown, what: string): void {
    if (typeof iova === "number" ? !Number.isSafeInteger(iova) : typeof iova !== "bigint") {
      throw new HostError(`${what}: iova must be a safe integer or a bigint, got ${shown(iova)}`);
    }
    if (typeof iova === "bigint" && !isVa(iova)) {
      throw new HostError(`${what}: iova ${iova} is not a 64-bit address`);
    }
  }

  /**
   * What `probe` answers, with what a tool needs to draw it: the STE and CD used (read from memory or found in the
   * configuration cache), every descriptor read (a nested walk's stage-2 reads before the stage-1 read each
   * translates), why a configuration was refused, and the TLB entry that answered. No side effects.
   */
  explain(sid: number, iova: number | bigint, access?: Access): Explanation {
    const ssid = this.#checkTransaction(sid, access, "explain");
    this.#checkIova(iova, "explain");
    this.#calls.enter("explain");
    try {
      const [addr, tag] = this.#address(iova);
      const e = explainProbe(this.#engine, sid, ssid, addr, accessFlags(access), tag);
      return { ...e, result: e.pa >= 0 ? { ok: true, pa: e.pa } : this.#faultResult() };
    } finally {
      this.#calls.leave();
    }
  }

  /** What the configuration cache and the TLBs hold now, per context (for tools; no side effects). */
  cacheContents(): CacheContents {
    return cacheContents(this.#engine.caches);
  }

  /**
   * The engine's view of an input address: [bits [55:0] sign-extended from bit 55 (a signed number; beyond ±2^53 only
   * addresses that no range covers, which still fault), the tag where the top byte is not that sign extension, else
   * NO_TAG]. Not the DMA hot path: DmaViews hand numbers to the engine directly.
   */
  #address(iova: number | bigint): [number, number] {
    return typeof iova === "number" ? [iova, NO_TAG] : untag(iova);
  }

  #faultResult(): Extract<TranslationResult, { ok: false }> {
    const f = this.#engine.fault;
    return { ok: false, fault: faultName(f.type), event: f.recorded };
  }

  /** Checks a transaction's StreamID and access flags (HostError naming them); returns the SubstreamID or -1. */
  #checkTransaction(sid: number, access: Access | undefined, what: string, accessName = "access"): number {
    if (!(Number.isInteger(sid) && sid >= 0 && sid < SID_LIMIT)) {
      throw new HostError(`${what}: sid must be a 32-bit StreamID, got ${shown(sid)}`);
    }
    checkAccess(access, `${what}: ${accessName}`);
    return access?.ssid ?? NO_SSID;
  }

  /**
   * A device's translated view of guest memory; it stays valid across reset and restore. Its accesses carry the
   * SubstreamID `ssid` (default none), and are privileged or instruction fetches (reads only) as `priv` and `exec` say.
   */
  dmaView(sid: number, options: { ssid?: number; priv?: boolean; exec?: boolean } = {}): DmaView {
    const ssid = this.#checkTransaction(sid, options, "dmaView", "options");
    return new DmaView(this.#engine, this.#memory, sid, ssid, accessFlags(options), this.#calls);
  }

  /**
   * Subscribes `observer` to invalidations, CMD_SYNC completions and global changes; returns the unsubscribe (which
   * may be called any number of times). Inside a device call (from an observer, say), a subscription takes effect
   * when that call returns; an unsubscribed observer is never called again.
   */
  observe(observer: SmmuObserver): () => void {
    checkObserver(observer);
    const list = this.#observers;
    const add = () => list.push(observer);
    if (this.#calls.busy) this.#calls.defer(add, undefined);
    else add();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // Replaced in place (a notification may be walking the list), then dropped when no call is in progress.
      const i = list.indexOf(observer);
      if (i >= 0) list[i] = GONE;
      if (this.#calls.busy) this.#calls.defer(compact, undefined, list);
      else compact(list);
    };
  }

  /** The decoded configuration of stream `sid` (or why it is invalid), for tools and mirrors. */
  streamConfig(sid: number): StreamConfig | ConfigFault {
    this.#checkTransaction(sid, undefined, "streamConfig");
    this.#calls.enter("streamConfig");
    try {
      return this.#engine.streamConfig(sid);
    } finally {
      this.#calls.leave();
    }
  }

  /** Counters of the device's work. */
  get stats(): SmmuStats {
    const c = this.#engine.caches;
    return {
      translation: this.#engine.stats,
      eventsWritten: this.#events.counts.written,
      eventsLost: this.#events.counts.lost,
      commands: this.#cmdq.executed,
      msis: this.#irq.msiCount,
      caches: {
        streams: c.streamCount,
        contexts: c.contextCount,
        tlbEntries: c.entryCount,
        limits: { streams: c.maxStreams, contexts: c.maxContexts, entries: c.maxEntries },
      },
    };
  }

  /**
   * Every register back to its reset value, every cache emptied (IHI 0070 6.2.2); interrupts not yet delivered and a
   * scheduled continuation are dropped. Throws {@link HostError} from a callback made in the middle of an access.
   */
  reset(): void {
    this.#calls.exclusive("reset");
    this.#regs.reset();
    this.#writeIdRegisters();
    this.#forget();
    // The transactions held stalled end with an abort; their callbacks run now (reset is no device access).
    this.#stalls.terminateAll();
    this.#calls.defer(this.#settleStalls, undefined);
  }

  /**
   * The architectural state, encoded (the ts-proto SavedState message). Reads only. Throws {@link HostError} from a
   * callback made in the middle of an access (a command half done is no state to save).
   */
  save(): Uint8Array {
    this.#calls.exclusive("save");
    return saveState(this.#regs, { STALLS: this.#stalls.save().map(encodeStall) });
  }

  /**
   * Restores a blob from `save()`: validated in full first (throws SavedStateError, device unchanged), then committed
   * in one step; derived state is recomputed and caches dropped. It only loads state: no command runs and no memory
   * is touched; commands the saved device had yet to run resume on the next guest access that would run them (a
   * PROD write, a CMDQ_CONS read, the GERRORN acknowledgement, a CR0 write). Throws {@link HostError} for a blob that
   * is not a Uint8Array, or from a callback made in the middle of an access. Stalled transactions are restored with
   * their STAGs (find them with {@link stalls}); those of the state replaced are abandoned, with no callback.
   */
  restore(blob: Uint8Array): void {
    this.#calls.exclusive("restore");
    if (!(blob instanceof Uint8Array)) throw new HostError(`restore: blob must be a Uint8Array, got ${shown(blob)}`);
    const records: Record<string, Uint32Array[]> = {};
    const words = restoreState(this.#regs, blob, records);
    const stalls = decodeStalls(words, records.STALLS ?? []);
    this.#regs.words.set(words);
    this.#stalls.load(stalls);
    this.#forget();
  }

  /** After a new state (reset, restore): derived state, caches, pending callbacks and continuations start afresh. */
  #forget(): void {
    this.#epoch++;
    this.#scheduled = false;
    this.#calls.discard();
    this.#sem.rederive();
    this.#engine.flushAll();
    this.#calls.enter("globalChanged");
    try {
      for (const o of this.#observers) o.globalChanged?.();
    } finally {
      this.#calls.leave();
    }
  }
}
