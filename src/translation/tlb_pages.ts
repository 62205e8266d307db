/**
 * The TLB's storage: {@link TlbRows}, every cached translation of every context in one pool of rows held in typed
 * arrays, found by (StreamID, SubstreamID, {@link pageKey}) through a {@link KeyIndex}. A hit is a hash probe and
 * reads of one row: no context lookup, no object, no heap number. Each row also sits on its owner's list (so a
 * context's rows are dropped in time proportional to their number) and, for a block, on its block's list. What
 * the rows mean (contexts, tags, invalidation scopes) lives in tlb.ts.
 * @module
 */
import { home, KeyIndex } from "./tlb_index.ts";

/** Nothing: no row, no owner. */
export const NONE = -1;
/** {@link TlbRows.lookup}: a row covers the address, but does not allow the access. */
export const DENIED = -2;
/** {@link RowData.ipaBase} of a translation without stage 2: no IPA. */
export const NO_IPA = -1;

const PAGE_BYTES = 4096; // key granularity: the smallest granule
const MIN_ROWS = 64;
// Per row, `#data` holds [inBase, size, outBase, allow]: what a hit reads, side by side.
const IN = 0, SIZE = 1, OUT = 2, ALLOW = 3;
// Row flags.
const LIVE = 1, GLOBAL = 2;
/** Rows a replacement looks at before it evicts a recently used one anyway. */
const SECOND_CHANCES = 8;

/**
 * TLB key of the 4 KiB input page holding `addr`: the low 32 bits of its page number (one multiply, a floor and a
 * truncation). Pages below 2^44 keep distinct keys; above, pages may share one, so a lookup checks that the row
 * covers the address and a fill replaces a colliding row.
 */
export function pageKey(addr: number): number {
  return Math.floor(addr * PAGE_SCALE) | 0;
}
const PAGE_SCALE = 1 / PAGE_BYTES; // a multiply by 2^-12 is exact, and faster than a division

/**
 * Key of the block (or contiguous set, or page larger than 4 KiB) of `size` bytes at `base`, under the owner's
 * block keys (apart from its page keys). Distinct blocks may share a key; a row found by it is checked like any
 * other.
 */
export function blockKey(base: number, size: number): number {
  const pages = size * PAGE_SCALE; // a power of two, possibly above 2^32: both halves mixed in, no log2 call
  return pageKey(base) ^ Math.imul(pages | 0, 0x9e3779b1) ^ Math.imul((pages * 2 ** -32) | 0, 0x85ebca6b);
}
/**
 * Key spaces of an owner's rows, folded into the SubstreamID word of the key (a SubstreamID has 20 bits, or is -1,
 * so no space's key is another's): pages, blocks, and the walk caches of a CD's two ranges and of stage 2.
 */
export const SPACE = {
  PAGE: 0,
  BLOCK: 1 << 30,
  WALK_TTB0: 1 << 29,
  WALK_TTB1: (1 << 29) | (1 << 28),
  WALK_S2: 1 << 28,
} as const;

/** What a new row holds (a reused object: the caller fills it, {@link TlbRows.add} copies it). */
export interface RowData {
  inBase: number;
  size: number;
  outBase: number;
  /** Allowed accesses: bit f set when raw ACCESS flags f (0-7) may use the row. */
  allow: number;
  global: boolean;
  /** IPA of the first byte, or NO_IPA. */
  ipaBase: number;
}

/**
 * Rows of cached translations, bounded, with random second-chance replacement: a hit marks its row, and a full
 * pool evicts a random row that has not been used since it was last looked at. What is in use stays; a working
 * set larger than the pool keeps a useful part cached rather than cycling through it (as LRU would on a sweep).
 * Owners are small integers (context ids) registered with their StreamID and SubstreamID.
 */
export class TlbRows {
  /** Most rows held. */
  readonly maxRows: number;
  /**
   * `span[0]`, after a successful {@link lookup}: bytes from its address to the end of the row's range. A typed
   * array, so the hit path stores a double without touching a heap number; the translator shares it.
   */
  readonly span: Float64Array = new Float64Array(1);
  /** Rows held. */
  size = 0;
  /** Counts removals (and clears), so a reader holding a row number knows whether it may have changed. */
  removals = 0;
  readonly #index = new KeyIndex();
  /** Nested contexts' rows by (owner, IPA page or block key), for invalidation by IPA. */
  readonly #ipaIndex = new KeyIndex();
  #rows = 0; // rows allocated (free or live)
  #data = new Float64Array(0);
  #ipa = new Float64Array(0);
  #flags = new Uint8Array(0);
  #ref = new Uint8Array(0);
  #owner = new Int32Array(0);
  #space = new Int32Array(0);
  #hasIpa = new Uint8Array(0);
  #prev = new Int32Array(0); // owner list
  #next = new Int32Array(0); // owner list; the free list
  #block = new Int32Array(0); // a block's page row: the block row
  #bPrev = new Int32Array(0); // block list: a page row's previous sibling (or its block row)
  #bNext = new Int32Array(0); // block list: a block row's first page row, a page row's next sibling
  #free = NONE;
  // Per owner.
  #head = new Int32Array(0);
  #count = new Int32Array(0);
  #globals = new Int32Array(0);
  #sid = new Int32Array(0);
  #ssid = new Int32Array(0);
  #pinned = NONE;
  #seed = 0x2545f491;

  constructor(maxRows: number) {
    this.maxRows = maxRows;
  }

  /** Registers owner `owner` (a small integer) for the rows of (sid, ssid). It must hold no rows. */
  setOwner(owner: number, sid: number, ssid: number): void {
    if (owner >= this.#head.length) {
      const n = Math.max(16, this.#head.length * 2, owner + 1);
      this.#head = grow(this.#head, n, NONE);
      this.#count = grow(this.#count, n, 0);
      this.#globals = grow(this.#globals, n, 0);
      this.#sid = grow(this.#sid, n, 0);
      this.#ssid = grow(this.#ssid, n, 0);
    }
    this.#sid[owner] = sid | 0;
    this.#ssid[owner] = ssid;
  }

  /** Rows of `owner`. */
  count(owner: number): number {
    return this.#count[owner];
  }

  /** Global rows of `owner`. */
  globals(owner: number): number {
    return this.#globals[owner];
  }

  /**
   * The output address of `addr` when a page row of (sid, ssid) covers it and allows raw access flags `access`
   * (0-7), with {@link span} set; {@link DENIED} when one covers it but does not allow the access; else -1. The TLB
   * hit.
   */
  lookup(sid: number, ssid: number, addr: number, access: number): number {
    // KeyIndex.find, inline: the hit path is this probe and the row's reads.
    const index = this.#index, slots = index.slots, mask = index.mask, key = pageKey(addr), s = sid | 0;
    for (let i = home(s, ssid, key, index.shift);; i = (i + 1) & mask) {
      const at = i * 4;
      const held = slots[at + 3];
      if (held === 0) return -1;
      if (held > 0 && slots[at + 2] === key && slots[at] === s && slots[at + 1] === ssid) {
        const r = held - 1, data = this.#data, d = r * 4;
        const off = addr - data[d + IN]; // the row may belong to a colliding page: check the range
        if (!(off >= 0 && off < data[d + SIZE])) return -1;
        if (((data[d + ALLOW] >> access) & 1) === 0) return DENIED;
        this.#ref[r] = 1;
        this.span[0] = data[d + SIZE] - off;
        return data[d + OUT] + off;
      }
    }
  }

  /** The row of (sid, ssid) under `key` of {@link SPACE} `space`, or {@link NONE}. */
  find(sid: number, ssid: number, space: number, key: number): number {
    return this.#index.find(sid | 0, ssid ^ space, key);
  }

  /** The rows of `owner` under IPA key `key` of `space` (PAGE or BLOCK), appended to `out`. */
  findIpa(owner: number, space: number, key: number, out: number[]): void {
    this.#ipaIndex.findAll(owner, space, key, out);
  }

  /** Marks row `r` used (as a hit does), for replacement. */
  use(r: number): void {
    this.#ref[r] = 1;
  }

  inBase(r: number): number {
    return this.#data[r * 4 + IN];
  }
  rowSize(r: number): number {
    return this.#data[r * 4 + SIZE];
  }
  outBase(r: number): number {
    return this.#data[r * 4 + OUT];
  }
  allow(r: number): number {
    return this.#data[r * 4 + ALLOW];
  }
  ipaBase(r: number): number {
    return this.#ipa[r];
  }
  isGlobal(r: number): boolean {
    return (this.#flags[r] & GLOBAL) !== 0;
  }
  isLive(r: number): boolean {
    return (this.#flags[r] & LIVE) !== 0;
  }
  /** The {@link SPACE} of row `r`. */
  space(r: number): number {
    return this.#space[r];
  }
  /** The block row a page row was filled from, or {@link NONE}. */
  blockOf(r: number): number {
    return this.#block[r];
  }

  /** Appends the rows of `owner` to `out`. */
  rowsOf(owner: number, out: number[]): void {
    for (let r = this.#head[owner]; r !== NONE; r = this.#next[r]) out.push(r);
  }

  /**
   * Adds a row of `owner` under `key` holding `d`, replacing the row under that key; evicts when full.
   * `space`: a {@link SPACE}; `block`: the BLOCK row this page row belongs to (then `d` must be the block's), or
   * NONE; `byIpa`: index it by its IPA too, in the same space (a nested owner's pages and blocks). Returns the row.
   */
  add(owner: number, space: number, key: number, d: RowData, block: number, byIpa: boolean): number {
    const sid = this.#sid[owner], ssid = this.#ssid[owner] ^ space;
    const old = this.#index.find(sid, ssid, key);
    if (old !== NONE) this.remove(old);
    this.#pinned = block; // the block this row joins stays while the row is made
    const r = this.#take();
    this.#pinned = NONE;
    const at = r * 4;
    this.#data[at + IN] = d.inBase;
    this.#data[at + SIZE] = d.size;
    this.#data[at + OUT] = d.outBase;
    this.#data[at + ALLOW] = d.allow;
    this.#ipa[r] = d.ipaBase;
    this.#flags[r] = LIVE | (d.global ? GLOBAL : 0);
    this.#space[r] = space;
    this.#ref[r] = 0;
    this.#owner[r] = owner;
    this.#index.add(sid, ssid, key, r);
    this.#hasIpa[r] = byIpa ? 1 : 0;
    if (byIpa) {
      const ipaKey = space === SPACE.BLOCK ? blockKey(d.ipaBase, d.size) : pageKey(d.ipaBase);
      this.#ipaIndex.add(owner, space, ipaKey, r);
    }
    // First on its owner's list.
    const head = this.#head[owner];
    this.#prev[r] = NONE;
    this.#next[r] = head;
    if (head !== NONE) this.#prev[head] = r;
    this.#head[owner] = r;
    this.#count[owner]++;
    if (d.global) this.#globals[owner]++;
    this.#block[r] = block;
    this.#bNext[r] = NONE;
    this.#bPrev[r] = NONE;
    if (block !== NONE) {
      const first = this.#bNext[block];
      this.#bPrev[r] = block;
      this.#bNext[r] = first;
      if (first !== NONE) this.#bPrev[first] = r;
      this.#bNext[block] = r;
    }
    this.size++;
    return r;
  }

  /** Removes row `r`, and a block row's page rows with it. */
  remove(r: number): void {
    if ((this.#flags[r] & LIVE) === 0) return;
    if (this.#space[r] === SPACE.BLOCK) { while (this.#bNext[r] !== NONE) this.#removeOne(this.#bNext[r]); }
    this.#removeOne(r);
  }

  /** Removes every row of `owner`. */
  removeOwner(owner: number): void {
    while (this.#head[owner] !== NONE) this.remove(this.#head[owner]);
  }

  /** Removes every row, keeping the storage. */
  clear(): void {
    this.removals++;
    this.#index.clear();
    this.#ipaIndex.clear();
    this.#flags.fill(0);
    this.#head.fill(NONE);
    this.#count.fill(0);
    this.#globals.fill(0);
    this.size = 0;
    this.#free = NONE;
    for (let r = this.#rows - 1; r >= 0; r--) this.#pushFree(r);
    this.#seed = 0x2545f491; // the same choices after every full invalidation: runs stay reproducible
  }

  #removeOne(r: number): void {
    const owner = this.#owner[r];
    this.#index.remove(r);
    if (this.#hasIpa[r] !== 0) this.#ipaIndex.remove(r);
    const prev = this.#prev[r], next = this.#next[r];
    if (prev !== NONE) this.#next[prev] = next;
    else this.#head[owner] = next;
    if (next !== NONE) this.#prev[next] = prev;
    this.#count[owner]--;
    if ((this.#flags[r] & GLOBAL) !== 0) this.#globals[owner]--;
    if (this.#block[r] !== NONE) {
      const bp = this.#bPrev[r], bn = this.#bNext[r];
      this.#bNext[bp] = bn; // bp is the previous sibling or the block row, whose bNext is the first page row
      if (bn !== NONE) this.#bPrev[bn] = bp;
    }
    this.#flags[r] = 0;
    this.size--;
    this.removals++;
    this.#pushFree(r);
  }

  #pushFree(r: number): void {
    this.#next[r] = this.#free;
    this.#free = r;
  }

  /** A free row: from the free list, new storage, or an eviction. */
  #take(): number {
    if (this.#free === NONE) {
      if (this.#rows < this.maxRows) this.#grow(Math.min(this.maxRows, Math.max(MIN_ROWS, this.#rows * 2)));
      else this.remove(this.#victim());
    }
    const r = this.#free;
    this.#free = this.#next[r];
    return r;
  }

  #random(): number {
    let s = this.#seed; // xorshift32: cheap, and the same sequence in every run
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (this.#seed = s) >>> 0;
  }

  /**
   * The row to evict from a full pool (every row is live): a random one not used since it was last looked at (a
   * look clears its mark). A block with page rows counts as used: its pages hit through them, not through it.
   */
  #victim(): number {
    const ref = this.#ref, space = this.#space, bNext = this.#bNext, pinned = this.#pinned;
    for (let tries = 0;; tries++) {
      const r = Math.floor(this.#random() * this.#rows * 2 ** -32); // no integer division
      if (r === pinned) continue;
      if (tries < SECOND_CHANCES && (ref[r] !== 0 || (space[r] === SPACE.BLOCK && bNext[r] !== NONE))) {
        ref[r] = 0;
        continue;
      }
      return r;
    }
  }

  #grow(rows: number): void {
    const old = this.#rows;
    this.#data = grow(this.#data, rows * 4, 0);
    this.#ipa = grow(this.#ipa, rows, 0);
    this.#flags = grow(this.#flags, rows, 0);
    this.#ref = grow(this.#ref, rows, 0);
    this.#owner = grow(this.#owner, rows, 0);
    this.#space = grow(this.#space, rows, 0);
    this.#hasIpa = grow(this.#hasIpa, rows, 0);
    this.#prev = grow(this.#prev, rows, NONE);
    this.#next = grow(this.#next, rows, NONE);
    this.#block = grow(this.#block, rows, NONE);
    this.#bPrev = grow(this.#bPrev, rows, NONE);
    this.#bNext = grow(this.#bNext, rows, NONE);
    this.#rows = rows;
    for (let r = rows - 1; r >= old; r--) this.#pushFree(r);
  }
}

type Typed = Float64Array | Int32Array | Uint8Array;
/** A copy of `a` with `n` elements, the new ones `fill`. */
function grow<T extends Typed>(a: T, n: number, fill: number): T {
  const b = new (a.constructor as { new (n: number): T })(n);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}
