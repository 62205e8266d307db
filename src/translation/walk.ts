/**
 * The translation-table walker: one engine for stage 1 and stage 2, every granule (VMSAv8-64, Arm DDI 0487 D8;
 * IHI 0070 3.4 address sizes, 5.4 CD fields, 5.2 STE stage-2 fields). It knows nothing of STEs, queues or
 * registers: a decoded {@link Regime} says how to walk, the result lands in the walker's fields (no allocation).
 * @module
 */
import {
  EVENT_TYPE,
  EVT_CLASS,
  TT_ADDR_64K,
  TT_APTABLE,
  TT_BLOCK_S1,
  TT_BLOCK_S2,
  TT_DESC,
  TT_PAGE_S1,
  TT_PAGE_S2,
  TT_S2XN,
  TT_TABLE,
  TT_TYPE,
} from "../../gen/mod.ts";
import type { Field } from "../../gen/mod.ts";
import { ABORT, FlatMemory } from "../core/memory.ts";
import type { GuestMemory } from "../core/memory.ts";
import { ACCESS, NO_PA } from "../core/types.ts";

/** How to walk one set of tables: a TTB range of a CD (stage 1) or an STE's stage 2. Immutable once decoded. */
export interface Regime {
  /** Translation stage this regime walks for. */
  readonly stage: 1 | 2;
  /** log2 of the granule: 12, 14 or 16. */
  readonly granuleShift: number;
  /** Input address size in bits (64 - TxSZ). */
  readonly inputBits: number;
  /** Level of the first lookup (stage 2: from S2SL0; may be a concatenated table). */
  readonly startLevel: number;
  /** Translation table base (address of the start table). */
  readonly ttb: number;
  /** Effective output size in bits (IPS or S2PS capped by OAS): larger outputs give F_ADDR_SIZE. */
  readonly oaBits: number;
  /** Hardware Access flag update (HA / S2HA, with HTTU advertised). */
  readonly ha: boolean;
  /** Hardware dirty-state update through DBM (HD / S2HD, with HTTU advertised). */
  readonly hd: boolean;
  /** AF == 0 is treated as 1 instead of faulting (AFFD / S2AFFD). */
  readonly affd: boolean;
  /** Stage 1: APTable/PXNTable/UXNTable apply (hierarchical attributes not disabled by HADx). */
  readonly hierarchical: boolean;
  /** Stage 1: single-privilege EL2 regime (StreamWorld EL2 without E2H): AP[1] and PXN do not apply. */
  readonly el2: boolean;
  /** Stage 1: Privileged Access Never (CD.PAN). */
  readonly pan: boolean;
  /** Stage 1: writable implies execute-never (CD.WXN). */
  readonly wxn: boolean;
  /** Stage 2: two-bit XN (IDR3.XNX). */
  readonly xnx: boolean;
  /** Stage 2 of a nested stream: stage-1 table walks and CD fetches to Device memory fault (STE.S2PTW). */
  readonly ptw: boolean;
}

/** {@link stage2StartLevel} of a configuration no walk can start from (ILLEGAL). */
export const NO_LEVEL = -1;

/** Start level of a stage-1 walk: the fewest levels that resolve `inputBits` (DDI 0487 D8.2). */
export function stage1StartLevel(granuleShift: number, inputBits: number): number {
  const stride = granuleShift - 3;
  return 4 - Math.ceil((inputBits - granuleShift) / stride);
}

/**
 * Start level of a stage-2 walk from S2SL0 (as VTCR_EL2.SL0), or NO_LEVEL when the combination with the granule, the
 * input size and the implementation is ILLEGAL (IHI 0070 5.2 S2SL0/S2T0SZ: as the A-profile translation system defines,
 * DDI 0487 AArch64.S2InvalidSL and AArch64.S2InconsistentSL): the 4 KiB level-3 start (SL0 = 0b11) needs small
 * translation tables (`stt`); a level-0 start with 4 KiB, or level 1 with 64 KiB, needs a 44-bit `oasBits`, level 1
 * with 16 KiB 42 bits; and the start table resolves at least one bit and at most 16 concatenated tables.
 */
export function stage2StartLevel(
  granuleShift: number,
  sl0: number,
  inputBits: number,
  stt = false,
  oasBits = 52,
): number {
  let level: number;
  if (granuleShift === 12) level = sl0 === 0 ? 2 : sl0 === 1 ? 1 : sl0 === 2 ? 0 : stt ? 3 : NO_LEVEL;
  else level = sl0 === 0 ? 3 : sl0 === 1 ? 2 : sl0 === 2 ? 1 : NO_LEVEL;
  if (level === NO_LEVEL) return NO_LEVEL;
  const minOas = granuleShift === 14 ? 42 : 44; // the deepest start (level 0 with 4 KiB, else level 1)
  if (level === (granuleShift === 12 ? 0 : 1) && oasBits < minOas) return NO_LEVEL;
  const stride = granuleShift - 3;
  const bits = inputBits - (granuleShift + (3 - level) * stride);
  return bits >= 1 && bits <= stride + 4 ? level : NO_LEVEL;
}

/** Bit masks of a descriptor field, as [low word, high word], derived from the generated layout. */
function masks(f: Field): [number, number] {
  let lo = 0, hi = 0;
  for (let b = f.lsb; b < f.lsb + f.width; b++) {
    if (b < 32) lo |= 1 << b;
    else hi |= 1 << (b - 32);
  }
  return [lo >>> 0, hi >>> 0];
}

const ADDR_LO = masks(TT_TABLE.NLTA)[0]; // output/next-level address bits [31:12]
const ADDR_HI = masks(TT_TABLE.NLTA)[1]; // output/next-level address bits [47:32]
const ADDR64K_TOP_SHIFT = TT_ADDR_64K.ADDR_51_48.lsb; // where a 64K descriptor keeps address bits [51:48]
const ADDR64K_TOP_AT = TT_ADDR_64K.ADDR_51_48.shift ?? 48;
const CONTIG_SHIFT = TT_PAGE_S1.Contiguous.lsb - 32;
// Valid and Type tested on the low word directly in the table loop (same fields as TT_DESC.Valid/Type.get).
const VALID_MASK = masks(TT_DESC.Valid)[0];
const TYPE_MASK = masks(TT_DESC.Type)[0];
const TYPE_TABLE_OR_PAGE = TT_TYPE.TABLE_OR_PAGE << TT_DESC.Type.lsb;
/** `x` rounded down to a multiple of the power of two `p`, exact for numbers below 2^53 (no float `%`). */
export function alignDown(x: number, p: number): number {
  return Math.floor(x / p) * p;
}

/** `x mod p` for a power of two `p` and x >= 0 (no float `%`, which is slow for non-int32 values). */
export function modPow2(x: number, p: number): number {
  return x - Math.floor(x / p) * p;
}

const POW2: readonly number[] = Array.from({ length: 65 }, (_, i) => 2 ** i);
/** Multiplying by 2^-32 is exact and, unlike dividing by 2^32, not a slow float division. */
const TWO_POW_MINUS_32 = 2 ** -32;

/** `x mod 2^n` for x >= 0: an integer mask below 2^32 (pages and most blocks), no float division. */
function lowBits(x: number, n: number): number {
  return n < 32 ? (x >>> 0) & (POW2[n] - 1) : x - Math.floor(x / POW2[n]) * POW2[n];
}

/** 2^n for an integer 0 <= n <= 64, by table: `2 ** n` with a variable n is a float pow call on hot paths. */
export function pow2(n: number): number {
  return POW2[n];
}
/** The address whose high 32 bits are `hi` and low 32 bits the bit pattern of `lo`. */
function join(hi: number, lo: number): number {
  return hi * POW2[32] + (lo >>> 0);
}

/** log2 of the bytes of last-level table a walk cache entry holds the address of: 4 KiB, 512 descriptors. */
const CHUNK_BYTES_SHIFT = 12;
const CHUNK_OFFSET = (1 << CHUNK_BYTES_SHIFT) - 1;
/** Descriptors per chunk, as a shift: a chunk maps 2^(granule shift + CHUNK_SHIFT) bytes of input. */
export const CHUNK_SHIFT = CHUNK_BYTES_SHIFT - 3;

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

/** Entries in a contiguous set (DDI 0487 D8.6.1), by granule shift and level (3 = page). */
function contiguousCount(granuleShift: number, level: number): number {
  if (granuleShift === 12) return 16;
  if (granuleShift === 14) return level === 3 ? 128 : 32;
  return 32;
}

/** One descriptor read, for tools (see Translator.probe). */
export interface StepRecord {
  stage: 1 | 2;
  level: number;
  /** log2 of the walk's granule: 12, 14 or 16. */
  granuleShift: number;
  /** The address the walk translates: stage 1, the IOVA within its TTB range; stage 2, the IPA. */
  inputAddr: number;
  /** Address of the table read (in a nested stage-1 walk, an IPA). */
  tableAddr: number;
  /** Address of the descriptor read (always a PA: in a nested stage-1 walk, after its stage-2 translation). */
  descAddr: number;
  descLo: number;
  descHi: number;
  decision: string;
}

/**
 * Walks tables and leaves the answer in its fields. For a nested walk, `tables` (another walker and its stage-2
 * regime) translates every stage-1 table address (an IPA) to a PA first.
 */
export class Walker {
  /** EVENT_TYPE of the fault, or 0 after a successful walk. */
  faultType = 0;
  /** The fault arose at stage 2 (a nested walk's table fetch, or a stage-2 regime). */
  faultS2 = false;
  /** For stage-2 faults: EVT_CLASS of what stage 2 was translating. */
  faultClass = 0;
  /** For stage-2 faults: the IPA that faulted. */
  faultIpa = 0;
  /** For stage-2 faults of CLASS TT: the stage-1 table access was a read (TTRnW = 1), or an HTTU write (0). */
  faultTtRead = true;
  /** For F_WALK_EABT: the descriptor address whose read aborted. */
  fetchAddr = 0;
  /** Output address of the first byte of the mapping (block, page or contiguous set). */
  outBase = 0;
  /** Input address of the first byte of the mapping. */
  inBase = 0;
  /** Size of the mapping in bytes. */
  size = 0;
  /** Permitted accesses: bit `flags` (ACCESS bits, normalized) is set when that access is allowed. */
  allow = 0;
  /** Stage 1: the mapping is global (nG == 0). */
  global = false;
  /** Stage 2: the mapping is Device memory (stage-2 MemAttr[3:2] == 0b00), which STE.S2PTW keeps from table walks. */
  device = false;
  /** Level of the leaf descriptor. */
  level = 0;
  /** Descriptor reads of the last walk (including nested stage-2 reads). */
  reads = 0;

  readonly #memory: GuestMemory;
  /** FlatMemory's words when its read32 is its own: descriptors are then read by index (same answer, no call). */
  readonly #words: Uint32Array | null = null;
  /** Word address (byte address / 4) of #words[0]. */
  readonly #wordsFirst: number = 0;
  /** Largest index into #words at which a whole descriptor can be read directly (-1: never). */
  readonly #wordsLast: number = -1;
  readonly #d = new Uint32Array(2);
  /** The leaf's descriptor address, output address (descriptor bits) and table address, for #leaf. */
  #leafDesc = 0.5;
  #leafAddr = 0.5;
  #leafTable = 0.5;
  /** Nested walks: the IPA of the last descriptor read (a hardware update writes it through stage 2 again). */
  #leafIpa = 0.5;
  readonly #tableAttrs = new Uint32Array(2);
  /** Stage-2 walker for nested table fetches, and its regime (null: stage-1 tables are in PA space). */
  tables: Walker | null = null;
  tablesRegime: Regime | null = null;
  /** The walk cache of the regime walked next (null: none); never used while tracing, which shows every read. */
  cache: WalkCache | null = null;
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
  #addrMaskLo = 0;
  /** The input address of the walk being traced (set only while tracing). */
  #tracedInput = 0.5;

  constructor(memory: GuestMemory) {
    this.#memory = memory;
    // Direct reads need the buffer below 2^32, where word addresses are integers the loop can compare.
    if (
      memory instanceof FlatMemory && memory.read32 === FlatMemory.prototype.read32 &&
      memory.base + memory.bytes.length <= POW2[32]
    ) {
      this.#words = memory.words;
      this.#wordsFirst = memory.base / 4;
      this.#wordsLast = memory.words.length - 2;
    }
  }

  #fail(type: number, level: number): false {
    this.faultType = type;
    this.level = level;
    return false;
  }

  /** Records the descriptor just read (in #d) when tracing, then fails with `type`. Kept out of the walk loop. */
  #reject(r: Regime, level: number, table: number, descAddr: number, type: number, decision: string): false {
    this.#record(r, level, table, descAddr, decision);
    return this.#fail(type, level);
  }

  #record(r: Regime, level: number, table: number, descAddr: number, decision: string): void {
    this.trace?.push(step(r, this.#tracedInput, level, table, descAddr, this.#d[0], this.#d[1], decision));
  }

  #fetchAborted(r: Regime, level: number, table: number, descAddr: number): false {
    this.fetchAddr = descAddr;
    if (r.stage === 1) this.faultClass = EVT_CLASS.TT;
    this.trace?.push(step(r, this.#tracedInput, level, table, descAddr, 0, 0, "external abort"));
    return this.#fail(EVENT_TYPE.F_WALK_EABT, level);
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
   * The stage-2 fault of the stage-1 table access to `ipa` (a read, or an HTTU write) that `tables` just reported:
   * S2 = 1, CLASS = TT, IPA = the descriptor's IPA, TTRnW = the access (IHI 0070 7.3.12, 7.3.13, 7.3.16).
   */
  #tableFault(ipa: number, read: boolean, type = this.tables!.faultType): void {
    const s2 = this.tables!;
    this.faultType = type;
    this.faultS2 = true;
    this.faultClass = EVT_CLASS.TT;
    this.faultIpa = ipa;
    this.faultTtRead = read;
    this.fetchAddr = s2.fetchAddr;
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
    const shift = gs + (3 - r.startLevel) * (gs - 3);
    const entries = POW2[r.inputBits - shift];
    // The start table is aligned to its size (at least 64 bytes); lower TTB bits are treated as zero.
    const start = alignDown(r.ttb, Math.max(entries * 8, 64));
    this.#regime = r;
    this.#startShift = shift;
    this.#startLo = start | 0;
    this.#startHi = (start * TWO_POW_MINUS_32) | 0;
    this.#startMask = (entries - 1) | 0; // int32 masks (POW2 holds doubles)
    this.#startTooBig = start >= POW2[r.oaBits];
    // Output size check on the high half when the limit is at least 2^32 (always for architectural sizes).
    this.#oaLimitHi = r.oaBits >= 32 ? POW2[r.oaBits - 32] | 0 : -1;
    // Output and next-level table addresses are granule aligned: bits below the granule are ignored (RES0 in the
    // 16K and 64K formats), which also aligns next-level tables.
    this.#addrMaskLo = ADDR_LO & -POW2[gs];
  }

  /**
   * Walks `r` for input address `ia` (0 <= ia < 2^inputBits, already range-selected) and access `flags`.
   * `update` permits hardware AF/dirty updates (false for probes). Returns true on success.
   * Only the table loop lives here; leaves and faults are in small methods, so V8 optimises this early and well.
   */
  walk(r: Regime, ia: number, flags: number, update: boolean): boolean {
    const s1 = r.stage === 1;
    if (this.trace !== null) this.#tracedInput = ia;
    this.faultType = 0;
    this.faultS2 = !s1;
    this.faultClass = EVT_CLASS.IN;
    this.faultIpa = s1 ? 0 : ia;
    this.faultTtRead = true;
    this.reads = 0;
    const gs = r.granuleShift;
    const stride = gs - 3;
    let level = r.startLevel;
    if (!(ia >= 0 && ia < POW2[r.inputBits])) return this.#fail(EVENT_TYPE.F_TRANSLATION, level);
    if (r !== this.#regime) this.#plan(r);
    if (this.#startTooBig) return this.#fail(EVENT_TYPE.F_ADDR_SIZE, level);
    let shift = this.#startShift;
    // Addresses in the loop are 32-bit halves (the low one as an int32 bit pattern), so the chain from one
    // descriptor to the next runs on integers, without float conversions. Input address likewise.
    let tLo = this.#startLo, tHi = this.#startHi;
    const iaLo = ia >>> 0;
    const iaHi = ((ia - iaLo) * TWO_POW_MINUS_32) | 0; // ia < 2^52: the high half fits an int32
    const oaLimit = POW2[r.oaBits];
    const oaLimitHi = this.#oaLimitHi;
    let indexMask = this.#startMask;
    const nextIndexMask = (1 << stride) - 1;
    const addrMaskLo = this.#addrMaskLo;
    const words = this.#words, wordsFirst = this.#wordsFirst, wordsLast = this.#wordsLast;
    const nested = this.tables !== null;
    const d = this.#d;
    // APTable, PXNTable and UXNTable only ever add restrictions: OR-ing the table descriptors' upper words keeps
    // every one that any level set, and the leaf decodes them once.
    let tableHi = 0;
    // The walk cache: the region's last-level chunk (a PA) when cached, so the loop starts at level 3 there.
    const cache = this.trace === null && level < 3 ? this.cache : null;
    const regionShift = gs + CHUNK_SHIFT; // 21, 23 or 25: the region number of an address below 2^52 fits 31 bits
    const region = cache === null ? 0 : (iaHi << (32 - regionShift)) | (iaLo >>> regionShift);
    let cached = false, chunkIpa = 0;
    if (cache !== null) {
      const chunk = cache.lookup(region);
      if (chunk >= 0) {
        cached = true;
        chunkIpa = cache.ipa;
        level = 3;
        shift = gs;
        indexMask = CHUNK_OFFSET >>> 3; // the descriptors of one chunk
        tLo = chunk | 0;
        tHi = (chunk * TWO_POW_MINUS_32) | 0;
        tableHi = cache.attrs;
      }
    }
    for (;;) {
      const index = shift >= 32
        ? (iaHi >>> (shift - 32)) & indexMask
        : ((iaLo >>> shift) | (iaHi << (32 - shift))) & indexMask;
      let dLo = tLo | (index << 3), dHi = tHi; // tables are aligned to their size: OR adds without carry
      if (nested && cached) this.#leafIpa = chunkIpa + (index << 3); // the chunk is already a PA
      else if (nested) {
        this.#leafIpa = join(dHi, dLo);
        const pa = this.#tableAddress(this.#leafIpa, update);
        if (pa < 0) {
          this.level = level;
          return false;
        }
        dLo = pa | 0;
        dHi = (pa / POW2[32]) | 0;
      }
      let lo: number, hi: number;
      const at = (dLo >>> 2) - wordsFirst; // word index in FlatMemory's words (which lie below 2^32)
      if (dHi === 0 && at >= 0 && at <= wordsLast) {
        lo = words![at];
        hi = words![at + 1];
      } else {
        const descAddr = join(dHi, dLo);
        lo = this.#memory.read32(descAddr);
        hi = lo === ABORT ? ABORT : this.#memory.read32(descAddr + 4);
        if (lo === ABORT || hi === ABORT) return this.#fetchAborted(r, level, join(tHi, tLo), descAddr);
      }
      this.reads++;
      d[0] = lo;
      d[1] = hi;
      const valid = (lo & VALID_MASK) !== 0;
      const isTable = (lo & TYPE_MASK) === TYPE_TABLE_OR_PAGE;
      if (!valid || (level === 3 && !isTable)) {
        const decision = valid ? "reserved" : "invalid";
        return this.#reject(r, level, join(tHi, tLo), join(dHi, dLo), EVENT_TYPE.F_TRANSLATION, decision);
      }
      let aHi = hi & ADDR_HI;
      if (gs === 16) aHi |= ((lo >>> ADDR64K_TOP_SHIFT) & 0xf) << (ADDR64K_TOP_AT - 32);
      const aLo = lo & addrMaskLo;
      if (!isTable || level === 3) {
        // Addresses go to the leaf through fields: a double argument above the Smi range would be boxed.
        this.#leafDesc = join(dHi, dLo);
        this.#leafAddr = join(aHi, aLo);
        this.#leafTable = join(tHi, tLo);
        if (!this.#leaf(r, ia, flags, update, level, shift, tableHi)) return false;
        if (level === 3 && cache !== null && !cached) {
          // A translation through the tables above: keep where its last-level descriptors are (a walk that faults
          // keeps nothing, so a guest's next try after fixing its tables walks them afresh).
          const ipaChunk = nested
            ? this.#leafIpa - (this.#leafIpa % (CHUNK_OFFSET + 1))
            : join(dHi, dLo & ~CHUNK_OFFSET);
          cache.fill(region, regionShift, join(dHi, dLo & ~CHUNK_OFFSET), ipaChunk, tableHi);
        }
        return true;
      }
      if (this.trace !== null) this.#record(r, level, join(tHi, tLo), join(dHi, dLo), "table");
      if (oaLimitHi >= 0 ? aHi >= oaLimitHi : join(aHi, aLo) >= oaLimit) {
        return this.#fail(EVENT_TYPE.F_ADDR_SIZE, level);
      }
      tableHi |= hi;
      tLo = aLo;
      tHi = aHi;
      level++;
      shift -= stride;
      indexMask = nextIndexMask;
    }
  }

  /** The leaf (block or page) in #d: its checks, permissions and hardware updates, and the result fields. */
  #leaf(r: Regime, ia: number, flags: number, update: boolean, level: number, shift: number, tableHi: number): boolean {
    const d = this.#d;
    const descAddr = this.#leafDesc, addr = this.#leafAddr, table = this.#leafTable;
    // A block: 4K at levels 1-2, 16K at level 2, 64K at level 2 (level 1 only with 52-bit output).
    if (level < 3 && !blockAllowed(r.granuleShift, level, r.oaBits)) {
      return this.#reject(r, level, table, descAddr, EVENT_TYPE.F_TRANSLATION, "block not allowed at this level");
    }
    const size = POW2[shift];
    const out = addr - lowBits(addr, shift);
    if (out >= POW2[r.oaBits]) {
      return this.#reject(r, level, table, descAddr, EVENT_TYPE.F_ADDR_SIZE, "output too large");
    }
    const s1 = r.stage === 1;
    const af = (s1 ? TT_PAGE_S1.AF.get(d) : TT_PAGE_S2.AF.get(d)) === 1;
    if (!af && !r.ha && !r.affd) return this.#reject(r, level, table, descAddr, EVENT_TYPE.F_ACCESS, "access flag 0");
    // Permissions are one lookup in a table precomputed from s1Allow / s2Allow (see permissionIndex*).
    let index: number;
    if (s1) {
      let tableBits = 0;
      if (r.hierarchical) {
        const t = this.#tableAttrs;
        t[1] = tableHi;
        tableBits = TT_TABLE.APTable.get(t) | (TT_TABLE.PXNTable.get(t) << 2) | (TT_TABLE.UXNTable.get(t) << 3);
      }
      index = permissionIndexS1(r, d, tableBits);
    } else index = permissionIndexS2(r, d);
    const allowTable = s1 ? S1_ALLOW : S2_ALLOW;
    let allow = allowTable[index];
    const dbm = r.hd && (s1 ? TT_PAGE_S1.DBM.get(d) : TT_PAGE_S2.DBM.get(d)) === 1;
    let dirty = false;
    const access = normalize(flags);
    if (dbm && ((allow >> access) & 1) === 0 && (access & ACCESS.WRITE) !== 0) {
      // Writable-clean (DBM): a write that would pass as writable marks the entry dirty (DDI 0487 D8.4.2).
      const asDirty = allowTable[index | (s1 ? AS_DIRTY_S1 : AS_DIRTY_S2)];
      if (((asDirty >> access) & 1) !== 0) {
        allow = asDirty;
        dirty = true;
      }
    }
    if (((allow >> access) & 1) === 0 && (flags & ACCESS.ATS) === 0) {
      return this.#reject(r, level, table, descAddr, EVENT_TYPE.F_PERMISSION, "permission");
    }
    // An ATS request updates the Access flag only when its completion grants some access (IHI 0070 13.7).
    if (((!af && r.ha) || dirty) && ((flags & ACCESS.ATS) === 0 || atsGrantsAny(allow, flags))) {
      const fault = this.#updateDescriptor(s1, r.ha && !af, dirty, descAddr, update);
      if (fault !== 0) return this.#fail(fault, level);
    }
    // The contiguous hint lets one entry cover the whole aligned set (DDI 0487 D8.6.1).
    let inSize = size;
    const pageBase = ia - lowBits(ia, shift);
    let inBase = pageBase;
    if (((d[1] >>> CONTIG_SHIFT) & 1) === 1) {
      inSize = size * contiguousCount(r.granuleShift, level);
      inBase = alignDown(ia, inSize);
      // The set's output must be as aligned as its input and inside the output size; otherwise the set is
      // misprogrammed (CONSTRAINED UNPREDICTABLE), and this entry stands for itself alone.
      const setOut = out - (pageBase - inBase);
      if (setOut < 0 || modPow2(setOut, inSize) !== 0 || setOut + inSize > POW2[r.oaBits]) {
        inBase = pageBase;
        inSize = size;
      }
    }
    this.inBase = inBase;
    this.outBase = out - (pageBase - inBase);
    this.size = inSize;
    this.allow = allow;
    this.global = s1 && TT_PAGE_S1.nG.get(d) === 0;
    this.device = !s1 && TT_PAGE_S2.MemAttr.get(d) >>> 2 === 0;
    this.level = level;
    if (this.trace !== null) this.#record(r, level, table, descAddr, level === 3 ? "page" : "block");
    return true;
  }

  /**
   * Hardware update of the leaf in #d (AF set, and/or dirty: DBM write permission): 0, or the fault that stopped it.
   * In a nested walk the update is a stage-1 table write, so stage 2 must permit writing the descriptor's IPA: else a
   * stage-2 fault of CLASS TT with TTRnW = 0, and memory stays as it was (IHI 0070 3.13.5, 7.3.16). Without `update`
   * (a probe) the checks are made and nothing is written.
   */
  #updateDescriptor(s1: boolean, setAf: boolean, dirty: boolean, descAddr: number, update: boolean): number {
    const d = this.#d;
    if (this.tables !== null && s1) {
      const ipa = this.#leafIpa;
      const s2 = this.tables;
      s2.trace = this.trace;
      const ok = s2.walk(this.tablesRegime!, ipa, ACCESS.WRITE, update);
      this.reads += s2.reads;
      if (!ok) {
        this.#tableFault(ipa, false);
        return this.faultType;
      }
      if (this.#deviceTable(ipa, false)) return this.faultType;
      // The update writes the descriptor it read (at `descAddr`, through the translation the walk used).
    }
    if (!update) return 0;
    if (setAf) (s1 ? TT_PAGE_S1.AF : TT_PAGE_S2.AF).set(d, 1);
    if (dirty) {
      if (s1) TT_PAGE_S1.AP.set(d, TT_PAGE_S1.AP.get(d) & 1); // AP[2] = 0: writable
      else TT_PAGE_S2.S2AP.set(d, TT_PAGE_S2.S2AP.get(d) | 2); // S2AP[1] = 1: writable
    }
    if (this.#memory.write32(descAddr, d[0])) return 0;
    this.fetchAddr = descAddr;
    if (s1) this.faultClass = EVT_CLASS.TT;
    return EVENT_TYPE.F_WALK_EABT;
  }
}

/** A block descriptor is allowed here: 4K at levels 1-2, 16K at level 2, 64K at level 2 (level 1 with 52-bit OA). */
function blockAllowed(granuleShift: number, level: number, oaBits: number): boolean {
  if (granuleShift === 12) return level >= 1;
  if (granuleShift === 14) return level === 2;
  return level === 2 || (level === 1 && oaBits === 52);
}

/**
 * Whether an allow mask grants an ATS request anything at the request's (effective) privilege (IHI 0070 13.7.1): W
 * where writable; R where readable, or where executable under STE.INSTCFG instruction (ACCESS.ATS_INSTR). Exe is never
 * granted without R, so an execute-only page asked for Exe grants nothing ("An execute-only (XO) translation grants
 * no access to ATS").
 */
export function atsGrantsAny(allow: number, flags: number): boolean {
  const p = flags & ACCESS.PRIV;
  const read = (allow >> (p | ((flags & ACCESS.ATS_INSTR) !== 0 ? ACCESS.EXEC : 0))) & 1;
  return read + ((allow >> (p | ACCESS.WRITE)) & 1) > 0;
}

/** Access flags as permission checks see them: a write is never an instruction fetch. */
export function normalize(flags: number): number {
  return (flags & ACCESS.WRITE) !== 0 ? flags & ~ACCESS.EXEC & 7 : flags & 7;
}

/** The 8-bit allow mask from per-privilege read/write/execute permissions (bit = normalized access flags). */
function mask(userR: boolean, userW: boolean, userX: boolean, privR: boolean, privW: boolean, privX: boolean): number {
  return (+userR) | (+userW << 1) | (+userX << 2) | (+userW << 3) | (+privR << 4) | (+privW << 5) | (+privX << 6) |
    (+privW << 7);
}

/** Stage-1 permissions of a leaf (DDI 0487 D8.4: AP, APTable, UXN/PXN, WXN, PAN; IHI 0070 5.4 CD.PAN/WXN). */
function s1Allow(
  el2: boolean,
  wxn: boolean,
  pan: boolean,
  ap: number,
  uxnLeaf: boolean,
  pxnLeaf: boolean,
  apTable: number,
  pxnTable: boolean,
  uxnTable: boolean,
  asDirty: boolean,
): number {
  const noEl0 = apTable === TT_APTABLE.NO_EL0 || apTable === TT_APTABLE.RO_NO_EL0;
  const readOnlyTable = apTable === TT_APTABLE.RO || apTable === TT_APTABLE.RO_NO_EL0;
  const readOnly = (!asDirty && (ap >> 1) === 1) || readOnlyTable;
  const uxn = uxnLeaf || uxnTable;
  if (el2) {
    // One privilege level: AP[1] and PXN are ignored, UXN is XN (IHI 0070 5.4 UWXN/PAN notes).
    const w = !readOnly;
    const x = !uxn && !(wxn && w);
    return mask(true, w, x, true, w, x);
  }
  const userR = (ap & 1) === 1 && !noEl0;
  const userW = userR && !readOnly;
  const privW = !readOnly;
  const userX = !uxn && !(wxn && userW);
  const privX = !(pxnLeaf || pxnTable || userW || (wxn && privW));
  const panBlocks = pan && userR;
  return mask(userR, userW, userX, !panBlocks, privW && !panBlocks, privX);
}

/** Stage-2 permissions of a leaf (DDI 0487 D8.4.4: S2AP, XN with or without FEAT_XNX). */
function s2Allow(xnx: boolean, s2ap: number, xn: number, asDirty: boolean): number {
  const read = (s2ap & 1) === 1;
  const write = (s2ap & 2) === 2 || asDirty;
  let userX: boolean, privX: boolean;
  if (xnx) {
    userX = xn === TT_S2XN.EXEC || xn === TT_S2XN.PXN;
    privX = xn === TT_S2XN.EXEC || xn === TT_S2XN.UXN;
  } else {
    userX = privX = (xn & TT_S2XN.XN) === 0;
  }
  return mask(read, write, userX, read, write, privX);
}

// Permission tables: every input of s1Allow / s2Allow packed into an index, so a leaf's permissions cost one
// array read. Index bits, stage 1: AP (2), UXN, PXN, APTable (2), PXNTable, UXNTable, as-dirty, el2, wxn, pan.
// Stage 2: S2AP (2), XN (2), as-dirty, xnx.
const AS_DIRTY_S1 = 1 << 8;
const AS_DIRTY_S2 = 1 << 4;
const bit = (i: number, b: number) => ((i >> b) & 1) === 1;
const S1_ALLOW = Uint8Array.from({ length: 1 << 12 }, (_, i) => {
  const [el2, wxn, pan, asDirty] = [bit(i, 9), bit(i, 10), bit(i, 11), bit(i, 8)];
  return s1Allow(el2, wxn, pan, i & 3, bit(i, 2), bit(i, 3), (i >> 4) & 3, bit(i, 6), bit(i, 7), asDirty);
});
const S2_ALLOW = Uint8Array.from({ length: 1 << 6 }, (_, i) => s2Allow(bit(i, 5), i & 3, (i >> 2) & 3, bit(i, 4)));

/** Index into S1_ALLOW of the leaf in `d` with table attributes `tableBits` (APTable | PXNTable << 2 | UXNTable << 3). */
function permissionIndexS1(r: Regime, d: Uint32Array, tableBits: number): number {
  const regime = (r.el2 ? 1 << 9 : 0) | (r.wxn ? 1 << 10 : 0) | (r.pan ? 1 << 11 : 0);
  return regime | (tableBits << 4) | (TT_BLOCK_S1.PXN.get(d) << 3) | (TT_BLOCK_S1.UXN.get(d) << 2) |
    TT_BLOCK_S1.AP.get(d);
}

/** Index into S2_ALLOW of the leaf in `d`. */
function permissionIndexS2(r: Regime, d: Uint32Array): number {
  return (r.xnx ? 1 << 5 : 0) | (TT_BLOCK_S2.XN.get(d) << 2) | TT_BLOCK_S2.S2AP.get(d);
}

function step(
  r: Regime,
  inputAddr: number,
  level: number,
  tableAddr: number,
  descAddr: number,
  descLo: number,
  descHi: number,
  decision: string,
): StepRecord {
  return {
    stage: r.stage,
    level,
    granuleShift: r.granuleShift,
    inputAddr,
    tableAddr,
    descAddr,
    descLo,
    descHi,
    decision,
  };
}
