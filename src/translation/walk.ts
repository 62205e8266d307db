/**
 * The translation-table walker: one engine for stage 1 and stage 2, every granule (VMSAv8-64, Arm DDI 0487 D8;
 * IHI 0070 3.4 address sizes, 5.4 CD fields, 5.2 STE stage-2 fields). It knows nothing of STEs, queues or
 * registers: a decoded {@link Regime} says how to walk. A walk's mapping lands in the walker's fields, a fault in the
 * engine's one {@link Fault} (no allocation either way). Every descriptor field, level, size and encoding comes from
 * gen/; what is left here is the walk itself (the Regime and where a walk starts are in regime.ts, the record of a
 * traced walk in walk_trace.ts).
 * @module
 */
import {
  EVENT_TYPE,
  EVT_CLASS,
  GRANULE,
  GRANULE_CONTIGUOUS_BLOCKS,
  GRANULE_CONTIGUOUS_PAGES,
  GRANULE_MIN_TABLE_BYTES,
  TT_ADDR_64K,
  TT_AP_DIRTY,
  TT_DESC,
  TT_DESC_BYTES,
  TT_DESC_LAYOUT,
  TT_LEVEL,
  TT_PAGE_S1,
  TT_PAGE_S2,
  TT_S2AP_DIRTY,
  TT_S2MEMATTR_DEVICE,
  TT_TABLE,
  TT_TYPE,
} from "../../gen/mod.ts";
import { ABORT, FlatMemory, SparseMemory } from "../core/memory.ts";
import type { GuestMemory } from "../core/memory.ts";
import { ACCESS, ACCESS_MASK, newFault, NO_PA, setCause } from "../core/types.ts";
import {
  atsGrantsAny,
  normalize,
  permissionIndexS1,
  permissionIndexS2,
  S1_ALLOW,
  S1_AS_DIRTY,
  S2_ALLOW,
  S2_AS_DIRTY,
} from "./permissions.ts";
import type { Fault } from "../core/types.ts";
import {
  alignDown,
  DOUBLE_FIELD,
  join,
  lowBits,
  modPow2,
  POW2,
  TWO_32,
  TWO_MINUS_32,
  WORD_BITS,
  WORD_BYTES,
  WORD_SHIFT,
} from "../core/numbers.ts";
import { blockAllowed, stride } from "./regime.ts";
import type { Regime } from "./regime.ts";
import { step } from "./walk_trace.ts";
import type { StepRecord } from "./walk_trace.ts";

// The walk's constants are this module's own, regime.ts's included: V8's optimizing compiler folds a module's own
// constants into the code, where it loads an imported one from memory at every use.
/** The last level of every walk: its valid descriptors are pages. */
const LAST_LEVEL = TT_LEVEL.LEVEL_3;
/** log2 of a descriptor's bytes: a table of one granule resolves (granule shift - DESC_SHIFT) input bits. */
const DESC_SHIFT = Math.log2(TT_DESC_BYTES);
/** A byte address times this is its word index: exact, and unlike a division no float divide. */
const WORD_INDEX = 1 / WORD_BYTES;

// The walk loop tests and takes a descriptor's words as integers, through its fields' generated places (no call):
// Valid and Type in the low word; NLTA (a leaf's OA: the same bits) and the 64 KiB format's ADDR hold the address's
// bits in place, across both words.
const VALID = TT_DESC.Valid.mask;
const TYPE = TT_DESC.Type.mask;
const TABLE_OR_PAGE = TT_TYPE.TABLE_OR_PAGE << TT_DESC.Type.bit;
const ADDR_LO = TT_TABLE.NLTA.mask, ADDR_HI = TT_TABLE.NLTA.maskHi;
const ADDR_64K_LO = TT_ADDR_64K.ADDR.mask, ADDR_64K_HI = TT_ADDR_64K.ADDR.maskHi;
/** The contiguous hint: the same bit in every block and page format. */
const CONTIGUOUS = TT_PAGE_S1.Contiguous;
if (TT_TABLE.NLTA.shift !== TT_TABLE.NLTA.lsb || TT_ADDR_64K.ADDR.shift !== TT_ADDR_64K.ADDR.lsb) {
  throw new Error("walk.ts: descriptor address bits are no longer in place");
}
if ((CONTIGUOUS.word as number) !== 1) throw new Error("walk.ts: the contiguous hint is no longer in the upper word");

/** log2 of the bytes of last-level table a walk cache entry holds the address of: a whole 4 KiB table. */
const CHUNK_BYTES_SHIFT = GRANULE.GRAN_4K;
const CHUNK_OFFSET = (1 << CHUNK_BYTES_SHIFT) - 1;
/** Descriptors per chunk, as a shift: a chunk maps 2^(granule shift + CHUNK_SHIFT) bytes of input. */
export const CHUNK_SHIFT = CHUNK_BYTES_SHIFT - DESC_SHIFT;

/**
 * A walk cache of one regime (IHI 0070 allows caching of intermediate walks, invalidated by TLBIs without Leaf): by
 * region of input addresses (`ia >> (granule shift + CHUNK_SHIFT)`), the PA of the 4 KiB chunk of last-level table
 * that holds the region's descriptors, so a walk there reads one descriptor.
 */
export interface WalkCache {
  /** The chunk's PA for `region`, or -1; after a hit {@link attrs} and {@link ipa} describe it. */
  lookup(region: number): number;
  /** After a hit: the upper words of the table descriptors above the chunk, ORed (APTable, PXNTable, UXNTable). */
  readonly attrs: number;
  /** After a hit: the chunk's IPA in a nested walk (its PA otherwise). */
  readonly ipa: number;
  /** Keeps a walk's chunk (the cache decides whether this walk may fill it). */
  fill(region: number, regionShift: number, pa: number, ipa: number, attrs: number): void;
}

/**
 * Walks tables: after a successful walk its fields describe the mapping; after a failed one {@link fault} says why
 * (type, stage, CLASS, IPA, fetch address: what the walk knows; the translator adds the transaction). For a nested
 * walk, `tables` (another walker sharing the fault, and its stage-2 regime) translates every stage-1 table address (an
 * IPA) to a PA first.
 */
export class Walker {
  /** Where a failed walk describes its fault (the engine's one Fault, shared by its walkers). */
  readonly fault: Fault;
  /** Output address of the first byte of the mapping (block, page or contiguous set). */
  outBase = DOUBLE_FIELD;
  /** Input address of the first byte of the mapping. */
  inBase = DOUBLE_FIELD;
  /** Size of the mapping in bytes. */
  size = DOUBLE_FIELD;
  /** Permitted accesses: bit `flags` (ACCESS bits, normalized) is set when that access is allowed. */
  allow = 0;
  /** Stage 1: the mapping is global (nG == 0). */
  global = false;
  /** Stage 2: the mapping is Device memory (gen/ TT_S2MEMATTR device), which STE.S2PTW keeps from table walks. */
  device = false;
  /** Level of the leaf descriptor, or of the lookup that faulted. */
  level = 0;
  /** Descriptor reads of the last walk (including nested stage-2 reads). */
  reads = 0;

  readonly #memory: GuestMemory;
  /** FlatMemory's words when its read32 is its own: descriptors are then read by index (same answer, no call). */
  readonly #words: Uint32Array | null = null;
  /** Word address (byte address / WORD_BYTES) of #words[0]. */
  readonly #wordsFirst: number = 0;
  /** Largest index into #words at which a whole descriptor can be read directly (-1: never). */
  readonly #wordsLast: number = -1;
  /** The descriptor read last, as its two words: every field is read from it through gen/ accessors. */
  readonly #d = new Uint32Array(TT_DESC_LAYOUT.words);
  /** The leaf's output address (descriptor bits), for #leaf. */
  #leafAddr = DOUBLE_FIELD;
  /**
   * The leaf's descriptor and table addresses as 32-bit halves (the low ones int32 bit patterns): joined only where
   * a fault, a trace or a hardware update needs them ({@link #leafDesc}, {@link #leafTable}).
   */
  #descLo = 0;
  #descHi = 0;
  #tableLo = 0;
  #tableHi = 0;
  /** Nested walks: the IPA of the last descriptor read (a hardware update writes it through stage 2 again). */
  #leafIpa = DOUBLE_FIELD;
  /** Stage-2 walker for nested table fetches, and its regime (null: stage-1 tables are in PA space). */
  tables: Walker | null = null;
  tablesRegime: Regime | null = null;
  /** The walk cache of the regime walked next (null: none); never used while tracing, which shows every read. */
  cache: WalkCache | null = null;
  /**
   * The input address {@link again} translates: a field, as a double argument above the Smi range would be boxed
   * (an allocation per call) where the caller holds it unboxed.
   */
  againAt = DOUBLE_FIELD;
  /** When set, walks append descriptor reads here (probe only). */
  trace: StepRecord[] | null = null;
  /** The regime {@link #plan} worked out, and what it found. */
  #regime: Regime | null = null;
  #startShift = 0;
  #startLo = 0;
  #startHi = 0;
  #startMask = 0;
  #startTooBig = false;
  #oaLimitHi = 0;
  /** The low word of an address with the bits below the granule cleared (RES0 in the 16K and 64K formats). */
  #alignLo = 0;
  /** The 64 KiB format: the address's bits [51:48] are in the descriptor's TT_ADDR_64K.ADDR_51_48. */
  #large = false;
  /** The input address of the walk: the IPA a stage-2 fault reports, and what a trace shows. */
  #input = DOUBLE_FIELD;
  /**
   * What #leaf found for the last leaf it decoded without an update: the leaf's attributes (its words without the
   * address), the tables' upper words, and what they give (permissions, nG, Device). A function of those alone.
   */
  #memoRegime: Regime | null = null;
  /**
   * The regime {@link again} serves: the memo's, when it is the regime planned, of a 4K or 16K granule, and the leaf
   * remembered is a page.
   */
  #againRegime: Regime | null = null;
  #memoLo = 0;
  #memoHi = 0;
  #memoTables = 0;
  #memoAllow = 0;
  #memoGlobal = false;
  #memoDevice = false;
  /**
   * The chunk {@link again} read last (a PA: DOUBLE_FIELD before any, no chunk's), and where its words are:
   * `#viewWords` from index `#viewAt` on (-1: the memory lends none; read32 then). The words of FlatMemory, or a page
   * of SparseMemory: neither ever moves.
   */
  #viewChunk = DOUBLE_FIELD;
  #viewWords: Uint32Array = new Uint32Array(0);
  #viewAt = -1;
  /** SparseMemory when its methods are its own: it lends its pages' words to the chunk view. */
  readonly #sparse: SparseMemory | null = null;

  /** A walker over `memory`; a failed walk describes its fault in `fault`. */
  constructor(memory: GuestMemory, fault: Fault = newFault()) {
    this.#memory = memory;
    this.fault = fault;
    // Direct reads need the buffer below 2^32, where word addresses are integers the loop can compare.
    if (
      memory instanceof FlatMemory && memory.read32 === FlatMemory.prototype.read32 &&
      memory.base + memory.bytes.length <= TWO_32
    ) {
      this.#words = memory.words;
      this.#wordsFirst = memory.base / WORD_BYTES;
      this.#wordsLast = memory.words.length - this.#d.length;
    }
    if (memory instanceof SparseMemory && memory.read32 === SparseMemory.prototype.read32) this.#sparse = memory;
  }

  /**
   * The walk of `r` failed at `level` with `type`: what a walk knows of it. Stage 1: CLASS IN, or TT for an abort
   * of the walk's own table access (IHI 0070 7.3.12, 7.3.13); stage 2: S2 = 1, CLASS IN and the IPA walked (a caller
   * that walked stage 2 for a table or a CD says so afterwards).
   */
  #fail(r: Regime, type: number, level: number, fetchAddr = 0): false {
    const s2 = r.stage === 2;
    const cls = !s2 && type === EVENT_TYPE.F_WALK_EABT ? EVT_CLASS.TT : EVT_CLASS.IN;
    setCause(this.fault, type, s2, cls, s2 ? this.#input : 0, fetchAddr);
    this.level = level;
    return false;
  }

  /** Records the descriptor just read (in #d) when tracing, then fails with `type`. Kept out of the walk loop. */
  #reject(r: Regime, level: number, table: number, descAddr: number, type: number, decision: string): false {
    this.#record(r, level, table, descAddr, decision);
    return this.#fail(r, type, level);
  }

  #record(r: Regime, level: number, table: number, descAddr: number, decision: string): void {
    this.trace?.push(step(r, this.#input, level, table, descAddr, this.#d[0], this.#d[1], decision));
  }

  #fetchAborted(r: Regime, level: number, table: number, descAddr: number): false {
    this.trace?.push(step(r, this.#input, level, table, descAddr, 0, 0, "external abort"));
    return this.#fail(r, EVENT_TYPE.F_WALK_EABT, level, descAddr);
  }

  /** Translates a stage-1 table address (IPA) through stage 2, or returns it as is. NO_PA on a stage-2 fault. */
  #tableAddress(ipa: number, update: boolean): number {
    const s2 = this.tables;
    if (s2 === null) return ipa;
    s2.trace = this.trace;
    if (s2.walk(this.tablesRegime!, ipa, 0, update)) {
      this.reads += s2.reads;
      if (this.#deviceTable(ipa, true)) return NO_PA;
      return s2.outBase + (ipa - s2.inBase);
    }
    this.reads += s2.reads;
    this.#tableFault(ipa, true);
    return NO_PA;
  }

  /**
   * The stage-2 fault of the stage-1 table access to `ipa` (a read, or an HTTU write) that `tables` just reported in
   * the fault: S2 = 1, CLASS = TT, IPA = the descriptor's IPA, TTRnW = the access (IHI 0070 7.3.12, 7.3.13, 7.3.16).
   */
  #tableFault(ipa: number, read: boolean, type = this.fault.type): void {
    const f = this.fault;
    setCause(f, type, true, EVT_CLASS.TT, ipa, type === EVENT_TYPE.F_WALK_EABT ? f.fetchAddr : 0, read);
  }

  /**
   * STE.S2PTW: a stage-1 table access that stage 2 maps as Device memory "is terminated and recorded as a stage 2
   * Permission fault" (IHI 0070 5.2 S2PTW). True after recording that fault for the access to `ipa`.
   */
  #deviceTable(ipa: number, read: boolean): boolean {
    if (!this.tablesRegime!.ptw || !this.tables!.device) return false;
    this.#tableFault(ipa, read, EVENT_TYPE.F_PERMISSION);
    return true;
  }

  /**
   * What every walk of `r` starts from, worked out once per regime (a walker walks one regime again and again):
   * the start table and how it is indexed.
   */
  #plan(r: Regime): void {
    const gs = r.granuleShift;
    const shift = gs + (LAST_LEVEL - r.startLevel) * stride(gs);
    const entries = POW2[r.inputBits - shift];
    // The start table is aligned to its size (at least 64 bytes); lower TTB bits are treated as zero.
    const start = alignDown(r.ttb, Math.max(entries * TT_DESC_BYTES, GRANULE_MIN_TABLE_BYTES[gs]!));
    this.#regime = r;
    this.#againRegime = null; // until #leaf remembers a leaf of r
    this.#startShift = shift;
    this.#startLo = start | 0;
    this.#startHi = (start * TWO_MINUS_32) | 0;
    this.#startMask = (entries - 1) | 0; // int32 masks (pow2 gives doubles)
    this.#startTooBig = start >= POW2[r.oaBits];
    // Output size check on the high half when the limit is at least 2^32 (always for architectural sizes).
    this.#oaLimitHi = r.oaBits >= WORD_BITS ? POW2[r.oaBits - WORD_BITS] | 0 : -1;
    // Output and next-level table addresses are granule aligned: bits below the granule are ignored (RES0 in the
    // 16K and 64K formats), which also aligns next-level tables.
    this.#alignLo = -POW2[gs] | 0;
    this.#large = gs === GRANULE.GRAN_64K;
  }

  /**
   * Walks `r` for input address `ia` (0 <= ia < 2^inputBits, already range-selected) and access `flags`.
   * `update` permits hardware AF/dirty updates (false for probes). Returns true on success.
   * Only the table loop lives here; leaves and faults are in small methods, so V8 optimises this early and well.
   */
  walk(r: Regime, ia: number, flags: number, update: boolean): boolean {
    this.#input = ia;
    this.reads = 0;
    const gs = r.granuleShift;
    const levelBits = stride(gs);
    let level = r.startLevel;
    if (!(ia >= 0 && ia < POW2[r.inputBits])) return this.#fail(r, EVENT_TYPE.F_TRANSLATION, level);
    if (r !== this.#regime) this.#plan(r);
    if (this.#startTooBig) return this.#fail(r, EVENT_TYPE.F_ADDR_SIZE, level);
    let shift = this.#startShift;
    // Addresses in the loop are 32-bit halves (the low one as an int32 bit pattern), so the chain from one
    // descriptor to the next runs on integers, without float conversions. Input address likewise.
    let tLo = this.#startLo, tHi = this.#startHi;
    const iaLo = ia >>> 0;
    const iaHi = ((ia - iaLo) * TWO_MINUS_32) | 0; // ia < 2^52: the high half fits an int32
    const oaLimit = POW2[r.oaBits];
    const oaLimitHi = this.#oaLimitHi;
    let indexMask = this.#startMask;
    const nextIndexMask = (1 << levelBits) - 1;
    const alignLo = this.#alignLo, large = this.#large;
    const words = this.#words, wordsFirst = this.#wordsFirst, wordsLast = this.#wordsLast;
    const nested = this.tables !== null;
    const d = this.#d;
    // APTable, PXNTable and UXNTable only ever add restrictions: OR-ing the table descriptors' upper words keeps
    // every one that any level set, and the leaf decodes them once.
    let tableHi = 0;
    // The walk cache: the region's last-level chunk (a PA) when cached, so the loop starts at the last level there.
    const cache = this.trace === null && level < LAST_LEVEL ? this.cache : null;
    const regionShift = gs + CHUNK_SHIFT; // 21, 23 or 25: the region number of an address below 2^52 fits 31 bits
    const region = cache === null ? 0 : (iaHi << (WORD_BITS - regionShift)) | (iaLo >>> regionShift);
    let cached = false, chunkIpa = 0;
    if (cache !== null) {
      const chunk = cache.lookup(region);
      if (chunk >= 0) {
        cached = true;
        chunkIpa = cache.ipa;
        level = LAST_LEVEL;
        shift = gs;
        indexMask = CHUNK_OFFSET >>> DESC_SHIFT; // the descriptors of one chunk
        tLo = chunk | 0;
        tHi = (chunk * TWO_MINUS_32) | 0;
        tableHi = cache.attrs;
      }
    }
    for (;;) {
      const index = shift >= WORD_BITS
        ? (iaHi >>> (shift - WORD_BITS)) & indexMask
        : ((iaLo >>> shift) | (iaHi << (WORD_BITS - shift))) & indexMask;
      let dLo = tLo | (index << DESC_SHIFT), dHi = tHi; // tables are aligned to their size: OR adds without carry
      if (nested && cached) this.#leafIpa = chunkIpa + (index << DESC_SHIFT); // the chunk is already a PA
      else if (nested) {
        this.#leafIpa = join(dHi, dLo);
        const pa = this.#tableAddress(this.#leafIpa, update);
        if (pa < 0) {
          this.level = level;
          return false;
        }
        dLo = pa | 0;
        dHi = (pa * TWO_MINUS_32) | 0;
      }
      const at = (dLo >>> WORD_SHIFT) - wordsFirst; // word index in FlatMemory's words (which lie below 2^32)
      if (dHi === 0 && at >= 0 && at <= wordsLast) {
        d[0] = words![at];
        d[1] = words![at + 1];
      } else {
        const descAddr = join(dHi, dLo);
        if (!this.#readPair(descAddr)) return this.#fetchAborted(r, level, join(tHi, tLo), descAddr);
      }
      this.reads++;
      const lo = d[0];
      const valid = (lo & VALID) !== 0;
      const isTable = (lo & TYPE) === TABLE_OR_PAGE;
      if (!valid || (level === LAST_LEVEL && !isTable)) {
        const decision = valid ? "reserved" : "invalid";
        return this.#reject(r, level, join(tHi, tLo), join(dHi, dLo), EVENT_TYPE.F_TRANSLATION, decision);
      }
      // The next table's or the output's address: NLTA and OA share their bits; the 64 KiB format adds [51:48].
      let aLo: number, aHi: number;
      if (large) {
        aLo = lo & ADDR_64K_LO;
        aHi = (d[1] & ADDR_64K_HI) | TT_ADDR_64K.ADDR_51_48.getAddressHi(d);
      } else {
        aLo = lo & ADDR_LO & alignLo;
        aHi = d[1] & ADDR_HI;
      }
      if (!isTable || level === LAST_LEVEL) {
        if (level === LAST_LEVEL && this.trace === null && this.#likeMemo(r, lo, d[1], tableHi, flags, aHi, aLo)) {
          // A page with the attributes of the last leaf #leaf decoded: every check #leaf makes passes as it did then
          // (pages of one table mostly share their attributes), and the mapping is the page.
          this.inBase = ia - lowBits(ia, shift);
          this.outBase = join(aHi, aLo & alignLo);
          this.size = POW2[shift];
          this.allow = this.#memoAllow;
          this.global = this.#memoGlobal;
          this.device = this.#memoDevice;
          this.level = level;
        } else {
          // Addresses go to the leaf through fields: a double argument above the Smi range would be boxed.
          this.#descLo = dLo;
          this.#descHi = dHi;
          this.#tableLo = tLo;
          this.#tableHi = tHi;
          this.#leafAddr = join(aHi, aLo);
          if (!this.#leaf(r, ia, flags, update, level, shift, tableHi)) return false;
        }
        if (level === LAST_LEVEL && cache !== null && !cached) {
          // A translation through the tables above: keep where its last-level descriptors are (a walk that faults
          // keeps nothing, so a guest's next try after fixing its tables walks them afresh).
          const ipaChunk = nested ? alignDown(this.#leafIpa, CHUNK_OFFSET + 1) : join(dHi, dLo & ~CHUNK_OFFSET);
          cache.fill(region, regionShift, join(dHi, dLo & ~CHUNK_OFFSET), ipaChunk, tableHi);
        }
        return true;
      }
      if (this.trace !== null) this.#record(r, level, join(tHi, tLo), join(dHi, dLo), "table");
      if (oaLimitHi >= 0 ? aHi >= oaLimitHi : join(aHi, aLo) >= oaLimit) {
        return this.#fail(r, EVENT_TYPE.F_ADDR_SIZE, level);
      }
      tableHi |= d[1];
      tLo = aLo;
      tHi = aHi;
      level++;
      shift -= levelBits;
      indexMask = nextIndexMask;
    }
  }

  /**
   * The common miss, without the walk: the walk cache holds the last-level table of `ia`'s region, and there `ia`'s
   * descriptor is a page with the attributes of the last leaf #leaf decoded (its memo), which #leaf would decode
   * alike (permissions, nG, Device; no update, no contiguous set). True with the mapping in the fields; false when
   * that is not so, having changed nothing (the walk then goes the whole way). The input address is
   * {@link againAt}, in the regime's input range.
   */
  again(r: Regime, flags: number, cache: WalkCache): boolean {
    if (r !== this.#againRegime || this.trace !== null) return false;
    const ia = this.againAt;
    const gs = r.granuleShift, regionShift = gs + CHUNK_SHIFT;
    const iaLo = ia >>> 0, iaHi = ((ia - iaLo) * TWO_MINUS_32) | 0;
    const chunk = cache.lookup((iaHi << (WORD_BITS - regionShift)) | (iaLo >>> regionShift));
    if (chunk < 0) return false;
    const offset = ((iaLo >>> gs) & (CHUNK_OFFSET >>> DESC_SHIFT)) << DESC_SHIFT;
    if (chunk !== this.#viewChunk) this.#view(chunk);
    let lo: number, hi: number;
    if (this.#viewAt >= 0) {
      const at = this.#viewAt + (offset >>> WORD_SHIFT);
      lo = this.#viewWords[at];
      hi = this.#viewWords[at + 1];
    } else {
      if (!this.#readPair(chunk + offset)) return false;
      lo = this.#d[0];
      hi = this.#d[1];
    }
    // The memo is of a page (see #againRegime): a like descriptor is a valid page.
    const aHi = hi & ADDR_HI;
    if (!this.#likeMemo(r, lo, hi, cache.attrs, flags, aHi, lo & ADDR_LO)) return false;
    const alignLo = this.#alignLo;
    this.inBase = ia - (iaLo & ~alignLo);
    this.outBase = join(aHi, lo & ADDR_LO & alignLo);
    this.size = POW2[gs];
    this.allow = this.#memoAllow;
    this.global = this.#memoGlobal;
    this.device = this.#memoDevice;
    this.level = LAST_LEVEL;
    this.reads = 1;
    return true;
  }

  /**
   * Whether the leaf with words `lo`, `hi` (a valid page) under tables whose upper words ORed are `tables` is one #leaf
   * would decode as the last leaf it remembered, for an access of `flags`: the same attributes (so no contiguous hint:
   * #leaf remembers no leaf with one) and tables, an access the remembered permissions allow, and its output
   * `aHi`:`aLo` within the size of `r` (planned).
   */
  #likeMemo(r: Regime, lo: number, hi: number, tables: number, flags: number, aHi: number, aLo: number): boolean {
    // Allow masks have a bit for every raw ACCESS_MASK combination (permissions.ts mask()): no normalize() needed.
    const oaLimitHi = this.#oaLimitHi;
    return r === this.#memoRegime && (lo & ~ADDR_LO) === this.#memoLo && (hi & ~ADDR_HI) === this.#memoHi &&
      tables === this.#memoTables && ((this.#memoAllow >> (flags & ACCESS_MASK)) & 1) === 1 &&
      (oaLimitHi >= 0 ? aHi < oaLimitHi : join(aHi, aLo) < POW2[r.oaBits]);
  }

  /** Reads the descriptor at PA `addr` into #d through the memory's read32; false (#d as it was) when a word aborts. */
  #readPair(addr: number): boolean {
    const lo = this.#memory.read32(addr);
    if (lo === ABORT) return false;
    const hi = this.#memory.read32(addr + WORD_BYTES);
    if (hi === ABORT) return false;
    this.#d[0] = lo;
    this.#d[1] = hi;
    return true;
  }

  /** Points the chunk view at the chunk at PA `chunk`: the words holding it, if the memory lends them. */
  #view(chunk: number): void {
    this.#viewChunk = chunk;
    this.#viewAt = -1;
    // Word indexes by a multiply and by masks: a division by a module constant is a float divide in V8's code.
    const bytes = CHUNK_OFFSET + 1;
    if (this.#words !== null) {
      const at = chunk * WORD_INDEX - this.#wordsFirst;
      if (at >= 0 && at + (bytes >>> WORD_SHIFT) <= this.#words.length) {
        this.#viewWords = this.#words;
        this.#viewAt = at | 0; // an index: a small integer field, not a double one
      }
    } else if (this.#sparse !== null) {
      const words = this.#sparse.wordsAt(chunk, bytes);
      if (words !== undefined) {
        this.#viewWords = words;
        this.#viewAt = ((chunk >>> 0) & (words.byteLength - 1)) >>> WORD_SHIFT; // a power of two below 2^32
      }
    }
  }

  /** The leaf (block or page) in #d: its checks, permissions and hardware updates, and the result fields. */
  #leaf(r: Regime, ia: number, flags: number, update: boolean, level: number, shift: number, tableHi: number): boolean {
    const d = this.#d;
    const addr = this.#leafAddr;
    if (level < LAST_LEVEL && !blockAllowed(r, level)) {
      return this.#rejectLeaf(r, level, EVENT_TYPE.F_TRANSLATION, "block not allowed at this level");
    }
    const out = addr - lowBits(addr, shift);
    if (out >= POW2[r.oaBits]) return this.#rejectLeaf(r, level, EVENT_TYPE.F_ADDR_SIZE, "output too large");
    const s1 = r.stage === 1;
    const af = (s1 ? TT_PAGE_S1.AF.get(d) : TT_PAGE_S2.AF.get(d)) === 1;
    if (!af && !r.ha && !r.affd) return this.#rejectLeaf(r, level, EVENT_TYPE.F_ACCESS, "access flag 0");
    // Permissions are one lookup in a table precomputed from s1Allow / s2Allow (see S1_AT, S2_AT).
    const index = s1 ? permissionIndexS1(r, d, tableHi) : permissionIndexS2(r, d);
    let allow = (s1 ? S1_ALLOW : S2_ALLOW)[index];
    let remember = true;
    if (((allow >> normalize(flags)) & 1) === 0 || (!af && r.ha)) {
      remember = false; // the access's own outcome (an update, a fault)
      allow = this.#permitOrUpdate(r, level, index, allow, flags, af, update);
      if (allow < 0) return false;
    }
    const pageBase = ia - lowBits(ia, shift);
    // The contiguous hint may widen the mapping (a mapping of a set is not remembered: #likeMemo takes single ones).
    if ((d[CONTIGUOUS.word] & CONTIGUOUS.mask) !== 0) {
      remember = false;
      this.#contiguous(r, ia, level, shift, out, pageBase);
    } else {
      this.inBase = pageBase;
      this.outBase = out;
      this.size = POW2[shift];
    }
    this.allow = allow;
    this.global = s1 && TT_PAGE_S1.nG.get(d) === 0;
    this.device = !s1 && TT_S2MEMATTR_DEVICE[TT_PAGE_S2.MemAttr.get(d)] === true;
    this.level = level;
    if (remember) {
      this.#memoRegime = r;
      this.#againRegime = this.#large || level !== LAST_LEVEL ? null : r; // a page; walk() planned r
      this.#memoLo = d[0] & ~ADDR_LO;
      this.#memoHi = d[1] & ~ADDR_HI;
      this.#memoTables = tableHi;
      this.#memoAllow = allow;
      this.#memoGlobal = this.global;
      this.#memoDevice = this.device;
    }
    if (this.trace !== null) {
      this.#record(r, level, this.#leafTable(), this.#leafDesc(), level === LAST_LEVEL ? "page" : "block");
    }
    return true;
  }

  /** The leaf's descriptor address. */
  #leafDesc(): number {
    return join(this.#descHi, this.#descLo);
  }

  /** The address of the table holding the leaf. */
  #leafTable(): number {
    return join(this.#tableHi, this.#tableLo);
  }

  /** Rejects the leaf in #d (see {@link #reject}). */
  #rejectLeaf(r: Regime, level: number, type: number, decision: string): false {
    return this.#reject(r, level, this.#leafTable(), this.#leafDesc(), type, decision);
  }

  /**
   * The leaf's permissions `allow` (at `index`) refuse the access, or its Access flag is 0 under HA: a write to a
   * writable-clean entry (DBM) that marks it dirty, a Permission fault, or a hardware update. The allow mask the
   * access proceeds with, or -1 after a fault.
   */
  #permitOrUpdate(
    r: Regime,
    level: number,
    index: number,
    allow: number,
    flags: number,
    af: boolean,
    update: boolean,
  ): number {
    const d = this.#d, s1 = r.stage === 1;
    const access = normalize(flags);
    let dirty = false;
    const dbm = r.hd && (s1 ? TT_PAGE_S1.DBM.get(d) : TT_PAGE_S2.DBM.get(d)) === 1;
    if (dbm && ((allow >> access) & 1) === 0 && (access & ACCESS.WRITE) !== 0) {
      // Writable-clean (DBM): a write that would pass as writable marks the entry dirty (DDI 0487 D8.4.2).
      const asDirty = (s1 ? S1_ALLOW : S2_ALLOW)[index | (s1 ? S1_AS_DIRTY : S2_AS_DIRTY)];
      if (((asDirty >> access) & 1) !== 0) {
        allow = asDirty;
        dirty = true;
      }
    }
    if (((allow >> access) & 1) === 0 && (flags & ACCESS.ATS) === 0) {
      this.#rejectLeaf(r, level, EVENT_TYPE.F_PERMISSION, "permission");
      return -1;
    }
    // An ATS request updates the Access flag only when its completion grants some access (IHI 0070 13.7).
    if (((!af && r.ha) || dirty) && ((flags & ACCESS.ATS) === 0 || atsGrantsAny(allow, flags))) {
      if (!this.#updateDescriptor(r, level, r.ha && !af, dirty, this.#leafDesc(), update)) return -1;
    }
    return allow;
  }

  /**
   * A leaf with the contiguous hint: one entry covers the whole aligned set (DDI 0487 D8.6.1), if the set's output is
   * as aligned as its input and inside the output size; otherwise the set is misprogrammed (CONSTRAINED
   * UNPREDICTABLE), and this entry stands for itself alone.
   */
  #contiguous(r: Regime, ia: number, level: number, shift: number, out: number, pageBase: number): void {
    const size = POW2[shift];
    let inSize = size * (level === LAST_LEVEL ? GRANULE_CONTIGUOUS_PAGES : GRANULE_CONTIGUOUS_BLOCKS)[r.granuleShift]!;
    let inBase = alignDown(ia, inSize);
    const setOut = out - (pageBase - inBase);
    if (setOut < 0 || modPow2(setOut, inSize) !== 0 || setOut + inSize > POW2[r.oaBits]) {
      inBase = pageBase;
      inSize = size;
    }
    this.inBase = inBase;
    this.outBase = out - (pageBase - inBase);
    this.size = inSize;
  }

  /**
   * Hardware update of the leaf in #d (AF set, and/or dirty: DBM write permission): false, with the fault, when it
   * could not be made. In a nested walk the update is a stage-1 table write, so stage 2 must permit writing the
   * descriptor's IPA: else a stage-2 fault of CLASS TT with TTRnW = 0, and memory stays as it was (IHI 0070 3.13.5,
   * 7.3.16). Without `update` (a probe) the checks are made and nothing is written.
   */
  #updateDescriptor(r: Regime, level: number, setAf: boolean, dirty: boolean, descAddr: number, update: boolean) {
    const d = this.#d, s1 = r.stage === 1;
    this.level = level;
    if (this.tables !== null && s1) {
      const ipa = this.#leafIpa;
      const s2 = this.tables;
      s2.trace = this.trace;
      const ok = s2.walk(this.tablesRegime!, ipa, ACCESS.WRITE, update);
      this.reads += s2.reads;
      if (!ok) {
        this.#tableFault(ipa, false);
        return false;
      }
      if (this.#deviceTable(ipa, false)) return false;
      // The update writes the descriptor it read (at `descAddr`, through the translation the walk used).
    }
    if (!update) return true;
    if (setAf) (s1 ? TT_PAGE_S1.AF : TT_PAGE_S2.AF).set(d, 1);
    if (dirty) {
      if (s1) TT_PAGE_S1.AP.set(d, TT_AP_DIRTY[TT_PAGE_S1.AP.get(d)]);
      else TT_PAGE_S2.S2AP.set(d, TT_S2AP_DIRTY[TT_PAGE_S2.S2AP.get(d)]);
    }
    // AF, AP and S2AP are all in the descriptor's low word: the update writes that word alone.
    return this.#memory.write32(descAddr, d[0]) || this.#fail(r, EVENT_TYPE.F_WALK_EABT, level, descAddr);
  }
}
