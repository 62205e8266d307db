/**
 * The translation engine: configuration lookup, caches and table walks behind one `translate` (IHI 0070 3.1,
 * 3.3 lookup, 3.12 fault reporting). It reads the register file through gen/ accessors and learns of register
 * changes through {@link Translator.flushAll}.
 * @module
 */
import { CR0, EVENT_TYPE, EVT_CLASS, GBPA, GRANULE, REG } from "../../gen/mod.ts";
import type { GuestMemory } from "../core/memory.ts";
import { HostCalls } from "../core/host_calls.ts";
import type { RegisterFile } from "../registers/regfile.ts";
import { word } from "../registers/regfile.ts";
import {
  ACCESS,
  ACCESS_KINDS,
  ACCESS_MASK,
  newFault,
  NO_PA,
  NO_SSID,
  NO_TAG,
  setCause,
  translationRelated,
} from "../core/types.ts";
import type { EventSink, Fault, Invalidation, SmmuObserver, StallSink, TranslationEngine } from "../core/types.ts";
import { ConfigReader } from "./config.ts";
import { readCaps } from "./caps.ts";
import type { Caps } from "./caps.ts";
import type { ConfigFault, ConfigTrace, StreamConfig } from "./config_types.ts";
import { Caches, Context, contextKey, KIND } from "./tlb.ts";
import { admission, flagMapOf } from "./tlb_context.ts";
import { FaultReporter } from "./faults.ts";
import { WalkCacheView } from "./walk_cache.ts";
import { DENIED, NO_IPA, NONE, pageKey, SPACE } from "./tlb_pages.ts";
import type { RowData, TlbRows } from "./tlb_pages.ts";
import type { CacheLimits } from "./tlb.ts";
import { atsGrantsAny } from "./permissions.ts";
import { Walker } from "./walk.ts";
import { DOUBLE_FIELD, modPow2, POW2 } from "../core/numbers.ts";
import type { StepRecord } from "./walk_trace.ts";

export type { CacheLimits } from "./tlb.ts";

/** Counters of the engine's work. */
export interface TranslatorStats {
  /** Transactions translated (probes excluded). */
  translations: number;
  /** Of those, served by the TLB. */
  tlbHits: number;
  /** Of those, not in the TLB. */
  tlbMisses: number;
  /** Table walks done. */
  walks: number;
  /** Transactions that faulted or aborted. */
  faults: number;
}

/** One descriptor read of a walk, for tools. */
export type WalkStep = StepRecord;

const PAGE = 2 ** GRANULE.GRAN_4K; // TLB key granularity: the smallest granule
const UNKNOWN = -3; // #slow: the hit path did not look for a page row
const UNPRIV_BITS = (1 << ACCESS.PRIV) - 1; // allow-mask bits of unprivileged accesses (ACCESS.PRIV clear)
/** The largest mapping: stage 2 alone is one mapping of the whole number line (2^53), aligned to 0. */
const WHOLE = Number.MAX_SAFE_INTEGER + 1;
/** The allow mask of a stage bypassed: every access. */
const ALLOW_ALL = (1 << ACCESS_KINDS) - 1;

/**
 * Keeps in `w` the translation of `iova` through a stage-1 mapping (`inBase`, `size`, `allow`; stage 1 bypassed: the
 * whole number line, every access) whose output for `iova` is `ipa`, and the stage-2 mapping of `ipa` that `s2` walked:
 * the smaller of the two mappings (both aligned power-of-two ranges), allowing what both allow. Not nG: stage 1's.
 */
function combine(w: RowData, iova: number, inBase: number, size: number, allow: number, ipa: number, s2: Walker): void {
  if (s2.size < size) size = s2.size;
  const base = iova - modPow2(iova - inBase, size), ipaBase = ipa - (iova - base);
  w.inBase = base;
  w.size = size;
  w.outBase = s2.outBase + (ipaBase - s2.inBase);
  w.allow = allow & s2.allow;
  w.ipaBase = ipaBase;
}

/**
 * Translates transactions of every stream. A transaction's answer is the PA it returns; one that does not complete
 * returns NO_PA and leaves why in {@link fault} (recorded or not, stalled or not), one that does its mapping's extent
 * in {@link span}.
 */
export class Translator implements TranslationEngine {
  /**
   * Why the last transaction that returned NO_PA did not complete: the one Fault the walkers and the configuration
   * reader describe their faults in, completed with the transaction, then reported. Reused: copy what you keep.
   */
  readonly fault: Fault = newFault();
  readonly #stats: TranslatorStats = { translations: 0, tlbHits: 0, tlbMisses: 0, walks: 0, faults: 0 };
  /** `#span[0]`: see {@link span}; shared with the TLB rows, whose hit path sets it. */
  readonly #span: Float64Array;
  /** The tag (address bits [63:56]) of the transaction in progress, or NO_TAG for an untagged address. */
  #tag = NO_TAG;
  /** After a successful {@link atsRequest}: the mapping walked (the row a TLB keeps), or null when both stages were
   * bypassed. Reused: read it before the next translation. */
  atsEntry: Readonly<RowData> | null = null;
  readonly caches: Caches;
  readonly #rows: TlbRows;
  readonly #regs: RegisterFile;
  /** Completes and reports {@link fault}: the private fault methods below hand over to it. */
  readonly #faults: FaultReporter;
  readonly #observers: readonly SmmuObserver[];
  /** The device's host-call bracket: a transaction past the TLB hit path is a device call (see {@link #slow}). */
  readonly #calls: HostCalls;
  readonly #reader: ConfigReader;
  /** The reader of {@link streamConfig}, a query that leaves the last transaction's fault alone. */
  readonly #lookup: ConfigReader;
  readonly #s1: Walker;
  readonly #s2: Walker;
  /** The walk caches the walkers use, pointed at the context of each walk. */
  readonly #s1Walks: WalkCacheView;
  readonly #s2Walks: WalkCacheView;
  #caps: Caps | null = null;
  #enabled = false;
  #gbpaAbort = false;
  #lastSid = 0;
  #lastSsid = NO_SSID; // with #last: the context of the last transaction (none while #last is null)
  #last: Context | null = null;
  /** The address {@link missed} translates, and its PA. */
  #missAt = DOUBLE_FIELD;
  #missPa = DOUBLE_FIELD;
  /** The last successful #walk: what a TLB row for it holds (reused, so a miss allocates nothing). */
  readonly #walked: RowData = {
    inBase: DOUBLE_FIELD,
    size: DOUBLE_FIELD,
    outBase: DOUBLE_FIELD,
    allow: 0,
    global: false,
    ipaBase: DOUBLE_FIELD,
  };

  constructor(
    regs: RegisterFile,
    memory: GuestMemory,
    events: EventSink,
    observers: readonly SmmuObserver[],
    limits: CacheLimits = {},
    calls: HostCalls = new HostCalls(),
  ) {
    this.#regs = regs;
    this.#observers = observers;
    this.#calls = calls;
    this.#reader = new ConfigReader(memory, this.fault);
    this.#lookup = new ConfigReader(memory);
    this.#faults = new FaultReporter(this.fault, events, this.#stats, this.#reader);
    this.#s1 = new Walker(memory, this.fault);
    this.#s2 = new Walker(memory, this.fault);
    this.caches = new Caches(limits);
    this.#rows = this.caches.rows;
    this.#s1Walks = new WalkCacheView(this.caches);
    this.#s2Walks = new WalkCacheView(this.caches);
    this.#span = this.#rows.span;
  }

  /** After a successful translate: bytes from the input address to the end of its mapping (DMA splitting). */
  get span(): number {
    return this.#span[0];
  }

  /** The stall model, when the device offers it: where stalling faults go (IHI 0070 3.12.2). */
  get stalls(): StallSink | null {
    return this.#faults.stalls;
  }
  set stalls(stalls: StallSink | null) {
    this.#faults.stalls = stalls;
  }

  /** TLB hits of translate's hit path so far: one more after a call means it answered from a TLB row. */
  get hits(): number {
    return this.#rows.hits;
  }

  /** TLB rows removed so far (invalidation, replacement, flush): unchanged, every row answers as before. */
  get removals(): number {
    return this.#rows.removals;
  }

  /** Counts a TLB hit the caller served from a row it found through {@link hits} and {@link removals}. */
  countHit(): void {
    this.#rows.hits++;
  }

  /** Derived register state, re-read lazily after a flush. */
  #derive(): Caps {
    const w = this.#regs.words;
    this.#caps = readCaps(w);
    this.#enabled = CR0.SMMUEN.get(w, word(REG.CR0)) === 1;
    this.#gbpaAbort = GBPA.ABORT.get(w, word(REG.GBPA)) === 1;
    return this.#caps;
  }

  /** Counters of the engine's work (a snapshot). */
  get stats(): TranslatorStats {
    // The hit path's hits are counted by the rows it reads (one number to bump).
    const s = this.#stats, hits = this.#rows.hits;
    return { ...s, translations: s.translations + hits, tlbHits: s.tlbHits + hits };
  }

  /**
   * Translates one transaction of `flags` (ACCESS_MASK bits); the PA, or NO_PA when it does not complete (then
   * {@link fault} says why). `ssid` may be NO_SSID; `tag` is the address's tag (bits [63:56]) where its top byte is no
   * sign extension, else NO_TAG.
   */
  translate(sid: number, ssid: number, iova: number, flags: number, tag = NO_TAG): number {
    if (tag === NO_TAG) {
      // Rows exist only for cached contexts that translate, and allow by raw flags (overrides folded in): a hit
      // needs no context.
      const pa = this.#rows.lookup(sid, ssid, iova, flags & ACCESS_MASK); // counts its hits
      return pa >= 0 ? pa : this.missed(sid, ssid, iova, flags, pa);
    }
    this.#stats.translations++;
    this.#tag = tag;
    return this.#slow(sid, ssid, iova, flags | ACCESS.TAGGED, true, null, UNKNOWN);
  }

  /**
   * translate after its TLB hit path (`caches.rows.lookup` of an untagged address, raw ACCESS_MASK flags) gave
   * `found` (no PA: NONE, COLLIDED or DENIED): the rest of the transaction, without looking again. The lookup counts
   * its hits.
   */
  missed(sid: number, ssid: number, iova: number, flags: number, found: number): number {
    // The address and the PA go through fields: as an argument and a result of #miss (too big to inline into the hit
    // paths that call this) numbers above the Smi range would be boxed, an allocation each.
    this.#missAt = iova;
    return this.#miss(sid, ssid, flags, found) ? this.#missPa : NO_PA;
  }

  /**
   * {@link missed} for the address in #missAt: true with the PA in #missPa. A miss of the last context in its lower
   * range that the walkers finish without walking (see Walker.again), at stage 1 and, nested, at stage 2, is done
   * here as #walk would do it; it raises nothing, so it needs no host-call bracket. Any other miss goes to #slow.
   * (One function, too big for V8 to inline into the hit paths that call {@link missed}: they stay small.)
   */
  #miss(sid: number, ssid: number, flags: number, found: number): boolean {
    this.#stats.translations++;
    const iova = this.#missAt, ctx = this.#last;
    quick: if (
      found === NONE && ctx !== null && ctx.quick !== null && sid === this.#lastSid && ssid === this.#lastSsid &&
      ctx.live && ctx.blockSizes.length === 0 && (flags & ~ACCESS_MASK) === 0
    ) {
      const r = ctx.quick;
      if (!(iova >= 0 && iova < POW2[r.inputBits])) break quick;
      const s1w = this.#s1;
      s1w.againAt = iova;
      if (!s1w.again(r, flags, this.#s1Walks.use(ctx, SPACE.WALK_TTB0, true))) break quick;
      const s2 = ctx.s2, stats = this.#stats;
      if (s2 === null) {
        stats.tlbMisses++;
        stats.walks++;
        ctx.used = true;
        // The walker's fields are the row: no row is under the key (the lookup found NONE, and nothing was added).
        this.caches.fillPage(ctx, iova, s1w);
        const off = iova - s1w.inBase;
        this.#span[0] = s1w.size - off;
        this.#missPa = s1w.outBase + off;
        return true;
      }
      const ipa = s1w.outBase + (iova - s1w.inBase), s2w = this.#s2, w = this.#walked;
      if (!(ipa < POW2[s2.inputBits])) break quick;
      s2w.againAt = ipa;
      if (!s2w.again(s2, flags, this.#s2Walks.use(ctx, SPACE.WALK_S2, true))) break quick;
      combine(w, iova, s1w.inBase, s1w.size, s1w.allow, ipa, s2w);
      w.global = s1w.global;
      stats.tlbMisses++;
      stats.walks++;
      ctx.used = true;
      this.caches.fillPage(ctx, iova, w, w); // no row is under the key, as above
      const off = iova - w.inBase;
      this.#span[0] = w.size - off;
      this.#missPa = w.outBase + off;
      return true;
    }
    this.#tag = NO_TAG;
    const pa = this.#slow(sid, ssid, iova, flags, true, null, found);
    this.#missPa = pa;
    return pa >= 0;
  }

  /**
   * Same answer as translate with no side effects; appends walk steps to `trace`, and the STEs and CDs read from
   * memory (and why a configuration was refused) to `config`.
   */
  probe(
    sid: number,
    ssid: number,
    iova: number,
    flags: number,
    tag = NO_TAG,
    trace?: WalkStep[],
    config?: ConfigTrace,
  ): number {
    this.#reader.trace = config ?? null;
    this.#tag = tag;
    try {
      return this.#slow(sid, ssid, iova, flags | (tag === NO_TAG ? 0 : ACCESS.TAGGED), false, trace ?? null, UNKNOWN);
    } finally {
      this.#reader.trace = null;
    }
  }

  /**
   * Translates past the TLB hit path; `page` is what that path found for the page row: NONE or COLLIDED (no row
   * covers the address: a block may), DENIED (one does, refusing the access: walk), or UNKNOWN (not looked: look).
   */
  #slow(
    sid: number,
    ssid: number,
    iova: number,
    flags: number,
    effects: boolean,
    trace: StepRecord[] | null,
    page: number,
  ): number {
    // A transaction with effects is a device call: the callbacks it raises (interrupts, stalls) run when it ends. The
    // bracket is here, in a function too big for V8 to inline, so that the hit paths calling it (translate,
    // Smmu.translateAddress) stay small enough to be inlined into their callers.
    if (effects) this.#calls.enter("translate");
    try {
      const caps = this.#caps ?? this.#derive();
      this.#s1.trace = this.#s2.trace = trace;
      if (!this.#enabled) {
        // SMMUEN = 0: every transaction bypasses or aborts per GBPA, with no event (IHI 0070 3.8, 6.3.14).
        if (this.#gbpaAbort) return this.#abort(sid, ssid, iova, flags, 0, effects);
        return this.#bypass(sid, ssid, iova, flags, effects, false);
      }
      // The last context, while its cache holds it, saves the context lookup (a probe only reads it).
      const last = this.#last;
      const ctx = last !== null && last.live && sid === this.#lastSid && ssid === this.#lastSsid
        ? last
        : this.#context(caps, sid, ssid, iova, flags, effects);
      if (ctx === null) return NO_PA;
      if (effects) {
        this.#lastSid = sid;
        this.#lastSsid = ssid;
        this.#last = ctx;
        ctx.used = true;
      }
      const raw = flags & ACCESS_MASK; // rows allow by raw flags
      if (ctx.flagMap !== null) {
        flags = ctx.flagMap[raw] | (flags & (ACCESS.TAGGED | ACCESS.ATS | ACCESS.ATS_INSTR));
      }
      if (ctx.kind === KIND.ABORT) return this.#abort(sid, ssid, iova, flags, 0, effects);
      if (ctx.kind === KIND.BYPASS) return this.#bypass(sid, ssid, iova, flags, effects, true);
      // A tag the range ignores (TBI) translates as the untagged address; any other tag is left for #walk to fault.
      if ((flags & ACCESS.TAGGED) !== 0 && ctx.cd !== null && (iova < 0 ? ctx.cd.tbi1 : ctx.cd.tbi0)) {
        flags &= ~ACCESS.TAGGED;
      }
      // A tag still flagged here faults in the walk: no cached row (page or block) may answer for it. An ATS request
      // walks (its completion reports the permissions the tables give; the row it fills serves later transactions).
      let row = NONE;
      if ((flags & (ACCESS.TAGGED | ACCESS.ATS)) === 0 && ctx.id !== NONE) {
        const rows = this.#rows;
        if (page === UNKNOWN) {
          row = rows.find(sid, ssid, SPACE.PAGE, pageKey(iova));
          if (row !== NONE && !(iova >= rows.inBase(row) && iova - rows.inBase(row) < rows.rowSize(row))) row = NONE;
        } else if (page === DENIED) row = DENIED;
        // A block answers only where no page row does (a newer page over a stale block wins).
        if (row === NONE && ctx.blockSizes.length !== 0) row = this.caches.findBlock(ctx, iova);
      }
      if (row >= 0 && ((this.#rows.allow(row) >> raw) & 1) === 1) {
        // A hit here is a block's first use of this page, or a probe.
        if (effects) {
          this.#stats.tlbHits++;
          if (this.#rows.blockOf(row) === NONE && this.#rows.rowSize(row) > PAGE) {
            this.caches.insertFromBlock(ctx, iova, row);
          }
        }
        const rows = this.#rows, off = iova - rows.inBase(row);
        this.#span[0] = rows.rowSize(row) - off;
        return rows.outBase(row) + off;
      }
      if (effects) this.#stats.tlbMisses++;
      if (!this.#walk(ctx, ssid, iova, flags, effects)) return NO_PA;
      const w = this.#walked, off = iova - w.inBase;
      this.#span[0] = w.size - off;
      const pa = w.outBase + off;
      // A probe keeps nothing. A block is stored under its own key and under each 4 KiB key it is hit through,
      // lazily: this one now, others on their first use.
      if (effects) this.caches.insert(ctx, iova, w);
      if ((flags & ACCESS.ATS) !== 0) this.atsEntry = w;
      return pa;
    } finally {
      if (effects) this.#calls.leave();
    }
  }

  /**
   * Both stages bypassed: the input address is the output address. One outside the output range (negative: the upper
   * half; a tagged one is at or above 2^56) cannot pass: with SMMUEN = 0 it aborts with no event (IHI 0070 3.4); for
   * a stream (STE.Config bypass, or S1DSS bypass without stage 2) it is a stage-1 Address Size fault (IHI 0070 3.4,
   * 7.3.14), recorded when `stream`.
   */
  #bypass(sid: number, ssid: number, iova: number, flags: number, effects: boolean, stream: boolean): number {
    if (!this.#inputFits(iova, flags)) {
      if (stream) return this.#inputAddressSize(sid, ssid, iova, flags, effects);
      return this.#abort(sid, ssid, iova, flags, 0, effects);
    }
    this.#span[0] = PAGE - modPow2(iova, PAGE);
    return iova;
  }

  /** Whether an input address fits the IAS, which equals the OAS with VMSAv8-64 tables only (IHI 0070 3.4). */
  #inputFits(iova: number, flags: number): boolean {
    return iova >= 0 && iova < POW2[this.#caps!.oasBits] && (flags & ACCESS.TAGGED) === 0;
  }

  /** Finds or builds the context of (sid, ssid); null after reporting a configuration fault. */
  #context(caps: Caps, sid: number, ssid: number, iova: number, flags: number, effects: boolean): Context | null {
    const key = contextKey(sid, ssid);
    const cached = this.caches.context(key);
    if (cached !== undefined) return cached;
    const reader = this.#reader;
    let stream = this.caches.stream(sid) ?? null;
    if (stream === null) {
      stream = reader.readStream(this.#regs.words, caps, sid);
      if (stream === null) return this.#configFault(sid, ssid, iova, flags, effects, null);
      if (effects) this.caches.addStream(stream);
    }
    const taken = admission(stream, ssid);
    if (taken.refused !== undefined) {
      setCause(this.fault, taken.refused);
      this.fault.recorded = true;
      return this.#configFault(sid, ssid, iova, flags, effects, stream, taken.reason);
    }
    const flagMap = flagMapOf(stream);
    let cd = null;
    if (taken.kind === KIND.TRANSLATE && taken.cdSsid >= 0) {
      this.#s2.cache = null; // a CD fetch through stage 2 belongs to no context yet
      cd = reader.readContext(caps, stream, taken.cdSsid, this.#s2, effects);
      // A stage-2 fault of the CD fetch records the transaction's attributes after the STE's overrides (IHI 0070 7.3).
      const attrs = flagMap === null ? flags : flagMap[flags & ACCESS_MASK] | (flags & ACCESS.TAGGED);
      if (cd === null) return this.#configFault(sid, ssid, iova, attrs, effects, stream);
    }
    const ctx = new Context(key, sid, ssid, stream, taken.kind, cd, stream.s2, flagMap);
    if (effects) this.caches.addContext(ctx);
    return ctx;
  }

  /** Walks stage 1 and/or stage 2 for a miss: true with the result in the #walk* fields, or false after reporting. */
  #walk(ctx: Context, ssid: number, iova: number, flags: number, effects: boolean): boolean {
    if (effects) this.#stats.walks++;
    const s1w = this.#s1, s2w = this.#s2;
    // A cached context's walks use its walk caches (a probe's context is not cached, and has none).
    const cached = ctx.id !== NONE;
    s2w.cache = cached && ctx.s2 !== null ? this.#s2Walks.use(ctx, SPACE.WALK_S2, effects) : null;
    let ipa = iova;
    let inBase = 0, size = WHOLE, allow = ALLOW_ALL, global = false; // stage 2 alone: aligned to 0
    const cd = ctx.cd;
    if (cd !== null) {
      const upper = iova < 0;
      const r = upper ? cd.ttb1 : cd.ttb0;
      const top = r === null ? 0 : POW2[r.inputBits];
      // IHI 0070 3.4.1 / DDI 0487 D8.1: the range is chosen by the top address bit; EPDx or out-of-range input faults.
      // A tag still flagged here is one the range does not ignore (no TBI): the address is outside every range.
      const ia = upper ? iova + top : iova;
      if (r === null || !(ia >= 0 && ia < top) || (flags & ACCESS.TAGGED) !== 0) {
        return this.#s1Fault(ctx, ssid, iova, flags, effects, false);
      }
      if ((flags & ACCESS.PRIV) === 0 && (upper ? cd.e0pd1 : cd.e0pd0)) {
        return this.#s1Fault(ctx, ssid, iova, flags, effects, false);
      }
      s1w.tables = ctx.s2 === null ? null : s2w;
      s1w.tablesRegime = ctx.s2;
      s1w.cache = cached ? this.#s1Walks.use(ctx, upper ? SPACE.WALK_TTB1 : SPACE.WALK_TTB0, effects) : null;
      // Lower range: pass iova itself, already tagged (a computed double outside the Smi range would be boxed).
      const ok = upper ? s1w.walk(r, ia, flags, effects) : s1w.walk(r, iova, flags, effects);
      if (!ok) return this.#s1Fault(ctx, ssid, iova, flags, effects, true);
      inBase = s1w.inBase - (upper ? top : 0);
      size = s1w.size;
      allow = s1w.allow;
      if (upper ? cd.e0pd1 : cd.e0pd0) allow &= ~UNPRIV_BITS;
      global = s1w.global;
      // An ATS request stops where stage 1 grants nothing: the IPA is not translated at stage 2 (IHI 0070 3.9.1.2).
      if ((flags & ACCESS.ATS) !== 0 && !atsGrantsAny(allow, flags)) {
        setCause(this.fault, EVENT_TYPE.F_PERMISSION, false, EVT_CLASS.IN);
        this.#describe(ctx.sid, ssid, iova, flags);
        this.#report(true, effects);
        return false;
      }
      if (ctx.s2 === null) {
        // Stage 1 alone: returning here keeps the IPA (a double) out of this path, so nothing gets boxed.
        const w = this.#walked;
        w.inBase = inBase;
        w.size = size;
        w.outBase = s1w.outBase;
        w.allow = allow;
        w.global = global;
        w.ipaBase = NO_IPA;
        return true;
      }
      ipa = s1w.outBase + (ia - s1w.inBase);
    }
    const w = this.#walked;
    if (ctx.s2 !== null) {
      // Stage 1 bypassed: the input address is the IPA, checked against the IAS first (IHI 0070 3.4); stage 2 alone
      // has no TBI, so a tagged address is beyond it.
      if (cd === null && !this.#inputFits(iova, flags)) {
        this.#inputAddressSize(ctx.sid, ssid, iova, flags, effects);
        return false;
      }
      if (!s2w.walk(ctx.s2, ipa, flags, effects)) return this.#s2Fault(ctx, ssid, iova, flags, effects);
      combine(w, iova, inBase, size, allow, ipa, s2w);
    } else {
      // No stage (a context that walks has one: both bypassed is KIND.BYPASS): the address passes as it is.
      w.inBase = inBase;
      w.size = size;
      w.outBase = ipa - (iova - inBase);
      w.allow = allow;
      w.ipaBase = NO_IPA;
    }
    w.global = global;
    return true;
  }

  // The fault paths: #faults completes the fault with the transaction, its tag included, and reports it.
  #s1Fault(ctx: Context, ssid: number, iova: number, flags: number, effects: boolean, walked: boolean): false {
    return this.#faults.s1Fault(ctx, ssid, iova, flags, this.#tag, effects, walked);
  }

  #s2Fault(ctx: Context, ssid: number, iova: number, flags: number, effects: boolean): false {
    return this.#faults.s2Fault(ctx, ssid, iova, flags, this.#tag, effects);
  }

  #configFault(
    sid: number,
    ssid: number,
    iova: number,
    flags: number,
    effects: boolean,
    stream: StreamConfig | null,
    reason?: string,
  ): null {
    return this.#faults.configFault(sid, ssid, iova, flags, this.#tag, effects, stream, reason);
  }

  #inputAddressSize(sid: number, ssid: number, iova: number, flags: number, effects: boolean): number {
    return this.#faults.inputAddressSize(sid, ssid, iova, flags, this.#tag, effects);
  }

  #abort(sid: number, ssid: number, iova: number, flags: number, type: number, effects: boolean): number {
    return this.#faults.abort(sid, ssid, iova, flags, this.#tag, type, effects);
  }

  #describe(sid: number, ssid: number, iova: number, flags: number): void {
    this.#faults.describe(sid, ssid, iova, flags, this.#tag);
  }

  #report(record: boolean, effects: boolean, stall = false): void {
    this.#faults.report(record, effects, stall);
  }

  /**
   * An ATS Translation Request of stream `sid` for `iova` (IHI 0070 3.9.1.2): translated as a transaction with
   * `flags` (WRITE when the request has NW clear), with its effects (TLB fill, HTTU) but no event record and no
   * Permission fault. The output address, or NO_PA with `fault` describing why; on success {@link atsEntry} holds the
   * mapping and the permissions found (null when both stages were bypassed: an identity mapping).
   */
  atsRequest(sid: number, ssid: number, iova: number, flags: number, tag = NO_TAG): number {
    this.#faults.quiet = true;
    this.atsEntry = null;
    this.#stats.translations++;
    this.#tag = tag;
    try {
      const tagged = tag === NO_TAG ? 0 : ACCESS.TAGGED;
      return this.#slow(sid, ssid, iova, flags | tagged | ACCESS.ATS, true, null, UNKNOWN);
    } finally {
      this.#faults.quiet = false;
    }
  }

  /**
   * An ATS Translated transaction of a split-stage stream (STE.EATS 0b10, IHI 0070 13.6.3): its address is an IPA,
   * translated by stage 2 alone with the faults and events of an ordinary transaction (PnU = InD = SSV = 0, 3.9.1.3).
   * Not cached in the TLB. The PA, or NO_PA with `fault` describing why.
   */
  translatedIpa(stream: StreamConfig, ipa: number, flags: number): number {
    const caps = this.#caps ?? this.#derive();
    this.#tag = NO_TAG;
    this.#stats.translations++;
    // "F_ADDR_SIZE arising from the check of the input address against IAS ... is reported as a stage 1 fault."
    if (!(ipa >= 0 && ipa < POW2[caps.oasBits])) return this.#inputAddressSize(stream.sid, NO_SSID, ipa, flags, true);
    const w = this.#s2;
    w.trace = null;
    w.cache = null; // this walk belongs to no context's walk cache
    if (w.walk(stream.s2!, ipa, flags, true)) return w.outBase + (ipa - w.inBase);
    this.#describe(stream.sid, NO_SSID, ipa, flags);
    this.#report(!translationRelated(this.fault.type) || stream.s2Record, true);
    return NO_PA;
  }

  invalidate(scope: Invalidation): void {
    const vmw = CR0.VMW.get(this.#regs.words, word(REG.CR0));
    this.caches.invalidate(scope, vmw);
    this.#last = null;
    for (const o of this.#observers) o.invalidated?.(scope);
  }

  flushAll(): void {
    this.caches.clear();
    this.#caps = null;
    this.#last = null;
  }

  /** The decoded configuration of a stream, or why it is invalid. No side effects. */
  streamConfig(sid: number): StreamConfig | ConfigFault {
    const caps = this.#caps ?? this.#derive();
    const cached = this.caches.stream(sid);
    if (cached) return cached;
    const lookup = this.#lookup;
    const config = lookup.readStream(this.#regs.words, caps, sid);
    if (config !== null) return config;
    const fault = { ...lookup.fault, sid };
    return Object.freeze({ sid, fault, reason: lookup.reason });
  }
}
