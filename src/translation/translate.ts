/**
 * The translation engine: configuration lookup, caches and table walks behind one `translate` (IHI 0070 3.1,
 * 3.3 lookup, 3.12 fault reporting). It reads the register file through gen/ accessors and learns of register
 * changes through {@link Translator.flushAll}.
 * @module
 */
import {
  CR0,
  EVENT_TYPE,
  EVT_CLASS,
  GBPA,
  REG,
  STE_CONFIG,
  STE_INSTCFG,
  STE_PRIVCFG,
  STE_S1DSS,
} from "../../gen/mod.ts";
import type { GuestMemory } from "../core/memory.ts";
import type { RegisterFile } from "../registers/regfile.ts";
import { word } from "../registers/regfile.ts";
import { ACCESS, newFault, NO_PA, NO_SSID, NO_STAG, NO_TAG } from "../core/types.ts";
import type { EventSink, Fault, Invalidation, SmmuObserver, StallSink, TranslationEngine } from "../core/types.ts";
import { ConfigReader, readCaps } from "./config.ts";
import type { Caps, ConfigFault, ConfigTrace, StreamConfig } from "./config.ts";
import { Caches, Context, contextKey, KIND } from "./tlb.ts";
import { WalkCacheView } from "./walk_cache.ts";
import { DENIED, NO_IPA, NONE, pageKey, SPACE } from "./tlb_pages.ts";
import type { RowData, TlbRows } from "./tlb_pages.ts";
import type { CacheLimits } from "./tlb.ts";
import { atsGrantsAny, modPow2, pow2, Walker } from "./walk.ts";
import type { StepRecord } from "./walk.ts";

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

const PAGE = 4096; // TLB key granularity: the smallest granule
const UNKNOWN = -3; // #slow: the hit path did not look for a page row
const UNPRIV_BITS = 0x0f; // allow-mask bits of unprivileged accesses (ACCESS.PRIV clear)

/** Event types recorded only when CD.R / STE.S2R say so (IHI 0070 5.5). */
function translationRelated(type: number): boolean {
  return type === EVENT_TYPE.F_TRANSLATION || type === EVENT_TYPE.F_ADDR_SIZE || type === EVENT_TYPE.F_ACCESS ||
    type === EVENT_TYPE.F_PERMISSION;
}

/** Translates transactions of every stream. */
export class Translator implements TranslationEngine {
  /** The last abort; reused, consumers copy what they keep. */
  readonly fault: Fault = newFault();
  /** Whether the architecture records the last fault as an event (CD.R and STE.S2R gate translation faults). */
  recorded = false;
  /** Counts of translate's fast path (TLB hits), kept apart so that path bumps one number. */
  #fastHits = 0;
  readonly #stats: TranslatorStats = { translations: 0, tlbHits: 0, tlbMisses: 0, walks: 0, faults: 0 };
  /** `#span[0]`: see {@link span}; shared with the TLB rows, whose hit path sets it. */
  readonly #span: Float64Array;
  /** The tag (address bits [63:56]) of the next transaction flagged ACCESS.TAGGED; the caller sets it. */
  inputTag = NO_TAG;
  /** The tag the current transaction's faults report, or NO_TAG for an untagged address. */
  #tag = NO_TAG;
  /** After a successful {@link atsRequest}: the mapping walked (the row a TLB keeps), or null when both stages were
   * bypassed. Reused: read it before the next translation. */
  atsEntry: Readonly<RowData> | null = null;
  /** Faults are not recorded (an ATS request: IHI 0070 3.9.1 "the SMMU does not record fault events"). */
  #quiet = false;
  /** The stall model, when the device offers it: where stalling faults go (IHI 0070 3.12.2). */
  stalls: StallSink | null = null;
  /** The last transaction that returned NO_PA is stalled, under {@link stag}, rather than terminated. */
  stalled = false;
  /** The STAG of the last stalled transaction. */
  stag = NO_STAG;
  readonly caches: Caches;
  readonly #rows: TlbRows;
  readonly #regs: RegisterFile;
  readonly #events: EventSink;
  readonly #observers: readonly SmmuObserver[];
  readonly #reader: ConfigReader;
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
  /** The last successful #walk: what a TLB row for it holds (reused, so a miss allocates nothing). */
  readonly #walked: RowData = { inBase: 0, size: 0, outBase: 0, allow: 0, global: false, ipaBase: NO_IPA };

  constructor(
    regs: RegisterFile,
    memory: GuestMemory,
    events: EventSink,
    observers: readonly SmmuObserver[],
    limits: CacheLimits = {},
  ) {
    this.#regs = regs;
    this.#events = events;
    this.#observers = observers;
    this.#reader = new ConfigReader(memory);
    this.#s1 = new Walker(memory);
    this.#s2 = new Walker(memory);
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

  /** TLB hits of translate's hit path so far: one more after a call means it answered from a TLB row. */
  get hits(): number {
    return this.#fastHits;
  }

  /** TLB rows removed so far (invalidation, replacement, flush): unchanged, every row answers as before. */
  get removals(): number {
    return this.#rows.removals;
  }

  /** Counts a TLB hit the caller served from a row it found through {@link hits} and {@link removals}. */
  countHit(): void {
    this.#fastHits++;
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
    const s = this.#stats;
    return { ...s, translations: s.translations + this.#fastHits, tlbHits: s.tlbHits + this.#fastHits };
  }

  /** Translates one transaction; the PA, or NO_PA when aborted (then `fault` describes it). `ssid` may be NO_SSID. */
  translate(sid: number, ssid: number, iova: number, flags: number): number {
    if ((flags & ACCESS.TAGGED) === 0) {
      // Rows exist only for cached contexts that translate, and allow by raw flags (overrides folded in): a hit
      // needs no context.
      const pa = this.#rows.lookup(sid, ssid, iova, flags & 7);
      if (pa >= 0) {
        this.#fastHits++;
        return pa;
      }
      this.#stats.translations++;
      return this.#slow(sid, ssid, iova, flags, true, null, pa === DENIED ? DENIED : NONE);
    }
    this.#stats.translations++;
    return this.#slow(sid, ssid, iova, flags, true, null, UNKNOWN);
  }

  /** translate's TLB hit alone: the PA when a TLB row answers (counted as a hit, as translate would), else NO_PA. */
  hit(sid: number, ssid: number, iova: number, flags: number): number {
    if ((flags & ACCESS.TAGGED) !== 0) return NO_PA;
    const pa = this.#rows.lookup(sid, ssid, iova, flags & 7);
    if (pa < 0) return NO_PA;
    this.#fastHits++;
    return pa;
  }

  /**
   * Same answer as translate with no side effects; appends walk steps to `trace`, and the STEs and CDs read from
   * memory (and why a configuration was refused) to `config`.
   */
  probe(sid: number, ssid: number, iova: number, flags: number, trace?: WalkStep[], config?: ConfigTrace): number {
    this.#reader.trace = config ?? null;
    try {
      return this.#slow(sid, ssid, iova, flags, false, trace ?? null, UNKNOWN);
    } finally {
      this.#reader.trace = null;
    }
  }

  /**
   * Translates past the TLB hit path; `page` is what that path found for the page row: NONE (no row covers the
   * address: a block may), DENIED (one does, refusing the access: walk), or UNKNOWN (not looked: look).
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
    const caps = this.#caps ?? this.#derive();
    this.#s1.trace = this.#s2.trace = trace;
    this.#tag = (flags & ACCESS.TAGGED) !== 0 ? this.inputTag : NO_TAG;
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
    const raw = flags & 7; // rows allow by raw flags
    if (ctx.flagMap !== null) {
      flags = ctx.flagMap[flags & 7] | (flags & (ACCESS.TAGGED | ACCESS.ATS | ACCESS.ATS_INSTR));
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
    return iova >= 0 && iova < pow2(this.#caps!.oasBits) && (flags & ACCESS.TAGGED) === 0;
  }

  /**
   * Stage 1 bypassed, the input address beyond the IAS: a stage-1 Address Size fault, S2 = 0, CLASS = IN, recorded
   * (no CD's R applies: IHI 0070 3.4 "F_ADDR_SIZE is recorded", 7.3.14).
   */
  #inputAddressSize(sid: number, ssid: number, iova: number, flags: number, effects: boolean): number {
    const f = this.#fill(EVENT_TYPE.F_ADDR_SIZE, sid, ssid, iova, flags);
    f.class = EVT_CLASS.IN;
    this.#report(true, effects);
    return NO_PA;
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
      if (stream === null) return this.#configFault(sid, ssid, iova, flags, effects);
      if (effects) this.caches.addStream(stream);
    }
    const hasS1 = stream.s1 !== null;
    const refuse = (type: number, reason: string) => {
      const f = reader.failure;
      f.type = type;
      f.record = true;
      f.s2 = false;
      f.reason = reason;
      return this.#configFault(sid, ssid, iova, flags, effects);
    };
    const badSsid = () => refuse(EVENT_TYPE.C_BAD_SUBSTREAMID, "SubstreamID not accepted by this STE");
    let kind: number = KIND.TRANSLATE;
    let cdSsid = NO_SSID; // which CD: none (stage 1 bypassed), or the SubstreamID's
    if (stream.config === STE_CONFIG.ABORT) kind = KIND.ABORT;
    else if (!hasS1) {
      if (ssid >= 0) return badSsid(); // IHI 0070 3.3.2: SSV = 1 without stage 1
      if (stream.config === STE_CONFIG.BYPASS) kind = KIND.BYPASS;
    } else {
      const s1 = stream.s1!;
      if (ssid >= 0) {
        if (s1.cdMax === 0 || ssid >= 2 ** s1.cdMax) return badSsid();
        // IHI 0070 5.2 S1DSS = 0b10: substream 0 belongs to transactions without one; a transaction that selects it
        // is terminated and F_STREAM_DISABLED recorded.
        if (ssid === 0 && s1.dss === STE_S1DSS.SSID0) {
          return refuse(EVENT_TYPE.F_STREAM_DISABLED, "SubstreamID 0 is reserved by S1DSS substream 0");
        }
        cdSsid = ssid;
      } else if (s1.cdMax === 0 || s1.dss === STE_S1DSS.SSID0) cdSsid = 0;
      else if (s1.dss === STE_S1DSS.TERMINATE) {
        return refuse(EVENT_TYPE.F_STREAM_DISABLED, "transaction without SubstreamID, S1DSS terminate");
      } else if (stream.s2 === null) kind = KIND.BYPASS; // S1DSS bypass, no stage 2
    }
    let flagMap: Uint8Array | null = null;
    if (stream.privcfg !== STE_PRIVCFG.INCOMING || stream.instcfg !== STE_INSTCFG.INCOMING) {
      flagMap = new Uint8Array(8);
      for (let f = 0; f < 8; f++) {
        let g = f;
        if (stream.privcfg === STE_PRIVCFG.PRIV) g |= ACCESS.PRIV;
        if (stream.privcfg === STE_PRIVCFG.UNPRIV) g &= ~ACCESS.PRIV;
        // INSTCFG applies to reads only (IHI 0070 5.2).
        if ((g & ACCESS.WRITE) === 0 && stream.instcfg === STE_INSTCFG.INSTR) g |= ACCESS.EXEC;
        if ((g & ACCESS.WRITE) === 0 && stream.instcfg === STE_INSTCFG.DATA) g &= ~ACCESS.EXEC;
        flagMap[f] = g;
      }
    }
    let cd = null;
    if (kind === KIND.TRANSLATE && cdSsid >= 0) {
      this.#s2.cache = null; // a CD fetch through stage 2 belongs to no context yet
      cd = reader.readContext(caps, stream, cdSsid, this.#s2, effects);
      // A stage-2 fault of the CD fetch records the transaction's attributes after the STE's overrides (IHI 0070 7.3).
      const attrs = flagMap === null ? flags : flagMap[flags & 7] | (flags & ACCESS.TAGGED);
      if (cd === null) return this.#configFault(sid, ssid, iova, attrs, effects);
    }
    const ctx = new Context(key, sid, ssid, stream, kind, cd, stream.s2, flagMap);
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
    let inBase = 0, size = 2 ** 53, allow = 0xff, global = false; // stage 2 alone: aligned to 0
    const cd = ctx.cd;
    if (cd !== null) {
      const upper = iova < 0;
      const r = upper ? cd.ttb1 : cd.ttb0;
      const top = r === null ? 0 : pow2(r.inputBits);
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
        this.#fill(EVENT_TYPE.F_PERMISSION, ctx.sid, ssid, iova, flags).class = EVT_CLASS.IN;
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
    let ipaBase = NO_IPA;
    let out = ipa - (iova - inBase);
    if (ctx.s2 !== null) {
      // Stage 1 bypassed: the input address is the IPA, checked against the IAS first (IHI 0070 3.4); stage 2 alone
      // has no TBI, so a tagged address is beyond it.
      if (cd === null && !this.#inputFits(iova, flags)) {
        this.#inputAddressSize(ctx.sid, ssid, iova, flags, effects);
        return false;
      }
      if (!s2w.walk(ctx.s2, ipa, flags, effects)) return this.#s2Fault(ctx, ssid, iova, flags, effects, ipa);
      // The combined entry is the smaller of the two mappings; both are aligned power-of-two ranges.
      if (s2w.size < size) size = s2w.size;
      inBase = iova - modPow2(iova - inBase, size);
      ipaBase = ipa - (iova - inBase);
      out = s2w.outBase + (ipaBase - s2w.inBase);
      allow &= s2w.allow;
    }
    const w = this.#walked;
    w.inBase = inBase;
    w.size = size;
    w.outBase = out;
    w.allow = allow;
    w.global = global;
    w.ipaBase = ipaBase;
    return true;
  }

  #s1Fault(ctx: Context, ssid: number, iova: number, flags: number, effects: boolean, walked: boolean): false {
    const w = this.#s1;
    const type = walked ? w.faultType : EVENT_TYPE.F_TRANSLATION;
    const s2 = walked && w.faultS2;
    const f = this.#fill(type, ctx.sid, ssid, iova, flags);
    f.s2 = s2;
    if (s2) {
      f.class = w.faultClass;
      f.ipa = w.faultIpa;
      f.ttRead = w.faultTtRead;
    } else f.class = type === EVENT_TYPE.F_WALK_EABT ? EVT_CLASS.TT : EVT_CLASS.IN; // IHI 0070 7.3.12, 7.3.13
    if (type === EVENT_TYPE.F_WALK_EABT) f.fetchAddr = w.fetchAddr;
    const related = translationRelated(type);
    const record = !related || (s2 ? ctx.stream.s2Record : ctx.cd!.record);
    this.#report(record, effects, related && (s2 ? ctx.stream.s2Stall : ctx.cd!.stall));
    return false;
  }

  #s2Fault(ctx: Context, ssid: number, iova: number, flags: number, effects: boolean, ipa: number): false {
    const w = this.#s2;
    const f = this.#fill(w.faultType, ctx.sid, ssid, iova, flags);
    f.s2 = true;
    f.class = EVT_CLASS.IN;
    f.ipa = ipa;
    if (w.faultType === EVENT_TYPE.F_WALK_EABT) f.fetchAddr = w.fetchAddr;
    const related = translationRelated(w.faultType);
    this.#report(!related || ctx.stream.s2Record, effects, related && ctx.stream.s2Stall);
    return false;
  }

  #configFault(sid: number, ssid: number, iova: number, flags: number, effects: boolean): null {
    const r = this.#reader.failure;
    if (this.#reader.trace !== null) this.#reader.trace.refused = r.reason;
    const f = this.#fill(r.type, sid, ssid, iova, flags);
    if (r.s2) {
      // A stage-2 fault while fetching a CD: a translation-related event with CLASS CD, IPA the CD address (IHI 0070
      // 7.3.13).
      f.s2 = true;
      f.class = r.class;
      f.ipa = r.ipa;
      if (r.type === EVENT_TYPE.F_WALK_EABT) f.fetchAddr = r.fetchAddr;
      const stream = this.caches.stream(sid);
      const related = translationRelated(r.type);
      this.#report(!related || (stream?.s2Record ?? true), effects, related && (stream?.s2Stall ?? false));
      return null;
    }
    f.fetchAddr = r.fetchAddr;
    this.#report(r.record, effects);
    return null;
  }

  /** Resets the fault record and fills the fields the event type carries (gen/ EVT_* layouts). */
  #fill(type: number, sid: number, ssid: number, iova: number, flags: number): Fault {
    const f = this.fault;
    f.type = type;
    f.sid = sid;
    f.ssv = false;
    f.ssid = 0;
    f.inputAddr = 0;
    f.inputTag = NO_TAG;
    f.ipa = 0;
    f.fetchAddr = 0;
    f.rnw =
      f.ind =
      f.pnu =
      f.s2 =
      f.ttRead =
        false;
    f.class = 0;
    f.stall = false;
    this.stalled = false;
    if (type === EVENT_TYPE.F_STREAM_DISABLED || type === 0) return f;
    if (type === EVENT_TYPE.C_BAD_SUBSTREAMID) {
      // Always valid: a transaction without one that reached a bad L1CD through S1DSS = 0b10 records 0 (IHI 0070 7.3.9).
      f.ssid = ssid >= 0 ? ssid : 0;
      return f;
    }
    f.ssv = ssid >= 0;
    f.ssid = ssid >= 0 ? ssid : 0;
    if (type >= EVENT_TYPE.F_WALK_EABT) {
      f.inputAddr = iova;
      f.inputTag = this.#tag;
      f.rnw = (flags & ACCESS.WRITE) === 0;
      f.ind = f.rnw && (flags & ACCESS.EXEC) !== 0;
      f.pnu = (flags & ACCESS.PRIV) !== 0;
    }
    return f;
  }

  /**
   * The fault in `fault` ends the transaction: recorded if `record`; with `stall` (a stalling configuration) it is
   * held instead, its record written with Stall = 1, unless STALL_MAX transactions are held (then it terminates).
   */
  #report(record: boolean, effects: boolean, stall = false): void {
    this.recorded = record && !this.#quiet;
    if (!effects) return;
    this.#stats.faults++;
    if (stall && this.stalls !== null && !this.#quiet) {
      const stag = this.stalls.hold(this.fault);
      if (stag >= 0) {
        this.stalled = true;
        this.stag = stag;
        this.recorded = true; // "The SMMU always records the details of the access" (IHI 0070 3.12.2)
        return;
      }
    }
    if (this.recorded) this.#events.report(this.fault);
  }

  /** An abort without an event (STE.Config abort, GBPA abort, bypass out of range): fault.type is 0. */
  #abort(sid: number, ssid: number, iova: number, flags: number, type: number, effects: boolean): number {
    this.#fill(type, sid, ssid, iova, flags);
    this.recorded = false;
    if (effects) this.#stats.faults++;
    return NO_PA;
  }

  /**
   * An ATS Translation Request of stream `sid` for `iova` (IHI 0070 3.9.1.2): translated as a transaction with
   * `flags` (WRITE when the request has NW clear), with its effects (TLB fill, HTTU) but no event record and no
   * Permission fault. The output address, or NO_PA with `fault` describing why; on success {@link atsEntry} holds the
   * mapping and the permissions found (null when both stages were bypassed: an identity mapping).
   */
  atsRequest(sid: number, ssid: number, iova: number, flags: number): number {
    this.#quiet = true;
    this.atsEntry = null;
    this.#stats.translations++;
    try {
      return this.#slow(sid, ssid, iova, flags | ACCESS.ATS, true, null, UNKNOWN);
    } finally {
      this.#quiet = false;
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
    if (!(ipa >= 0 && ipa < pow2(caps.oasBits))) return this.#inputAddressSize(stream.sid, NO_SSID, ipa, flags, true);
    const w = this.#s2;
    w.trace = null;
    w.cache = null; // this walk belongs to no context's walk cache
    if (w.walk(stream.s2!, ipa, flags, true)) return w.outBase + (ipa - w.inBase);
    const f = this.#fill(w.faultType, stream.sid, NO_SSID, ipa, flags);
    f.s2 = true;
    f.class = EVT_CLASS.IN;
    f.ipa = ipa;
    if (w.faultType === EVENT_TYPE.F_WALK_EABT) f.fetchAddr = w.fetchAddr;
    this.#report(!translationRelated(w.faultType) || stream.s2Record, true);
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
    const config = this.#reader.readStream(this.#regs.words, caps, sid);
    if (config !== null) return config;
    const r = this.#reader.failure;
    const fault = newFault();
    fault.type = r.type;
    fault.sid = sid;
    fault.fetchAddr = r.fetchAddr;
    return Object.freeze({ sid, fault, reason: r.reason });
  }
}
