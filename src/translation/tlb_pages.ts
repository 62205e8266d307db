/**
 * The TLB's storage: {@link TlbRows}, every cached translation of every context in one pool of rows held in typed
 * arrays, found by (StreamID, SubstreamID, {@link pageKey}) through hash chains. A hit is a bucket read and reads of
 * one row: no context lookup, no object, no heap number. Each row also sits on its owner's list (so a
 * context's rows are dropped in time proportional to their number) and, for a block, on its block's list. What
 * the rows mean (contexts, tags, invalidation scopes) lives in tlb.ts.
 * @module
 */
import { GRANULE } from "../../gen/mod.ts";
import { TWO_MINUS_32, WORD_BITS } from "../core/numbers.ts";

/** Home bucket of a key: its words mixed, then Fibonacci hashing, so strided page numbers spread over the buckets. */
function home(k0: number, k1: number, k2: number, shift: number): number {
  // Three independent multiplies (they run in parallel), so the hit path waits for one.
  return (Math.imul(k2, 0x9e3779b1) ^ Math.imul(k0, 0x85ebca6b) ^ Math.imul(k1, 0x27d4eb2d)) >>> shift;
}

/** Nothing: no row, no owner. */
export const NONE = -1;
/** {@link TlbRows.lookup}: a row covers the address, but does not allow the access. */
export const DENIED = -2;
/**
 * {@link TlbRows.lookup}: no row covers the address, but one is held under its key (a page 2^44 bytes or a multiple
 * away, see {@link pageKey}): a fill of the address replaces it. Where lookup answers NONE, no row is under the key.
 */
export const COLLIDED = -4;
/** {@link RowData.ipaBase} of a translation without stage 2: no IPA. */
export const NO_IPA = -1;

const PAGE_BYTES = 2 ** GRANULE.GRAN_4K; // key granularity: the smallest granule
const MIN_ROWS = 64;
/**
 * A row is one 64-byte line of one buffer, seen as doubles (`#data`, 8 a row) and as int32s (`#meta`, 16 a row): the
 * doubles [IN, SIZE, OUT, ALLOW] a hit reads first, then the int32s a probe compares and a fill writes: the key (K0
 * StreamID, K1 SubstreamID ^ space, K2 page or block key), the next row on its hash chain, the mark a hit sets,
 * flags, owner and the row's bucket (so an eviction unchains it without hashing its key again). A hit, a fill and an
 * eviction each touch this line and little else.
 */
const ROW_BYTES = 64;
// Row r's first element is r shifted by these (log2 of the doubles, int32s and links a row has), a field's that
// ORed with the field's index: int32 operations, which V8 compiles without the overflow checks of `r * 16 + K0`.
const D_SHIFT = 3, M_SHIFT = 4, L_SHIFT = 2;
const IN = 0, SIZE = 1, OUT = 2, ALLOW = 3;
const K0 = (ALLOW + 1) * 2, K1 = K0 + 1, K2 = K1 + 1, CHAIN = K2 + 1; // int32s after the doubles (two each)
const REF = CHAIN + 1, FLAGS = REF + 1, OWNER = FLAGS + 1, BUCKET = OWNER + 1;
// Per row, `#links` holds its place on its owner's list (NEXT: the free list's too) and, for a page row of a block,
// on its block's list (a block row's B_NEXT: its first page row).
const PREV = 0, NEXT = 1, B_PREV = 2, B_NEXT = 3;
// FLAGS: these bits, ORed with the row's SPACE (bits 28-30). IN_BLOCK: a page row on its block's list.
const LIVE = 1, GLOBAL = 2, IN_BLOCK = 4;
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
  return pageKey(base) ^ Math.imul(pages | 0, 0x9e3779b1) ^ Math.imul((pages * TWO_MINUS_32) | 0, 0x85ebca6b);
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
/** The bits of a key word that hold its {@link SPACE}. */
const SPACE_BITS = SPACE.BLOCK | SPACE.WALK_TTB1;
/** The bit of a key word set in the BLOCK space only. */
const SPACE_BLOCK_BIT = SPACE.BLOCK;
/** FLAGS of a row that a removal must take off more than its hash chain and owner's list. */
const LINKED = SPACE_BLOCK_BIT | IN_BLOCK;

/** What a page row holds but its IPA ({@link TlbRows.fillPage} copies it: a walker's fields, or a RowData). */
export interface PageData {
  readonly inBase: number;
  readonly size: number;
  readonly outBase: number;
  /** Allowed accesses: bit f set when raw ACCESS flags f (0-7) may use the row. */
  readonly allow: number;
  readonly global: boolean;
}

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
 * Rows of cached translations, bounded, with random second-chance replacement: a hit marks its row, and a full pool
 * evicts a random row that has not been used since it was last looked at. What is in use stays; a working set larger
 * than the pool keeps a useful part cached rather than cycling through it (as LRU would on a sweep). Owners are small
 * integers (context ids) registered with their StreamID and SubstreamID.
 *
 * Rows are found by key through hash chains (four buckets per row the pool has, the chain through the rows), so a
 * row never moves while cached, and a fill or an eviction links or unlinks one row: no probing for room, no deletion
 * marks, no rebuilds but when the pool grows.
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
  /** Counts {@link lookup}s that answered with an address (TLB hits), so the hit path bumps one number. */
  hits = 0;
  #rows = 0; // rows allocated (free or live)
  #data = new Float64Array(0);
  #meta = new Int32Array(0);
  #links = new Int32Array(0);
  #ipa = new Float64Array(0);
  /** A page row's block row, where its FLAGS have IN_BLOCK. */
  #block = new Int32Array(0);
  /** First row of each hash chain, or NONE; a key's bucket is its {@link home} under `#shift`. */
  #buckets = new Int32Array(2).fill(NONE); // two: a shift by 32 would shift by 0
  #shift = WORD_BITS - 1;
  #free = NONE;
  // Per owner.
  #head = new Int32Array(0);
  #count = new Int32Array(0);
  #globals = new Int32Array(0);
  #sid = new Int32Array(0);
  #ssid = new Int32Array(0);
  #seed = 0x2545f491;
  /** The row {@link #victim} looks at next. */
  #candidate = 0;

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
   * (0-7), with {@link span} set and counted in {@link hits}; {@link DENIED} when one covers it but does not allow the
   * access; {@link COLLIDED} when a row under its key covers another page; else NONE (no row under its key: a fill
   * may use {@link fillPage}). The TLB hit.
   */
  lookup(sid: number, ssid: number, addr: number, access: number): number {
    const meta = this.#meta, key = pageKey(addr), s = sid | 0;
    for (let r = this.#buckets[home(s, ssid, key, this.#shift)]; r !== NONE;) {
      const m = r << M_SHIFT;
      if (meta[m | K2] === key && meta[m | K0] === s && meta[m | K1] === ssid) {
        const data = this.#data, d = r << D_SHIFT;
        const off = addr - data[d | IN]; // the row may belong to a colliding page: check the range
        if (!(off >= 0 && off < data[d | SIZE])) return COLLIDED;
        if (((data[d | ALLOW] >> access) & 1) === 0) return DENIED;
        meta[m | REF] = 1;
        this.hits++;
        this.span[0] = data[d | SIZE] - off;
        return data[d | OUT] + off;
      }
      r = meta[m | CHAIN];
    }
    return NONE;
  }

  /** The row of (sid, ssid) under `key` of {@link SPACE} `space`, or {@link NONE}. */
  find(sid: number, ssid: number, space: number, key: number): number {
    return this.#find(sid | 0, ssid ^ space, key);
  }

  #find(k0: number, k1: number, k2: number): number {
    const meta = this.#meta;
    for (let r = this.#buckets[home(k0, k1, k2, this.#shift)]; r !== NONE; r = meta[(r << M_SHIFT) | CHAIN]) {
      const m = r << M_SHIFT;
      if (meta[m | K2] === k2 && meta[m | K0] === k0 && meta[m | K1] === k1) return r;
    }
    return NONE;
  }

  /** Marks row `r` used (as a hit does), for replacement. */
  use(r: number): void {
    this.#meta[(r << M_SHIFT) | REF] = 1;
  }

  inBase(r: number): number {
    return this.#data[(r << D_SHIFT) | IN];
  }
  rowSize(r: number): number {
    return this.#data[(r << D_SHIFT) | SIZE];
  }
  outBase(r: number): number {
    return this.#data[(r << D_SHIFT) | OUT];
  }
  allow(r: number): number {
    return this.#data[(r << D_SHIFT) | ALLOW];
  }
  ipaBase(r: number): number {
    return this.#ipa[r];
  }
  isGlobal(r: number): boolean {
    return (this.#meta[(r << M_SHIFT) | FLAGS] & GLOBAL) !== 0;
  }
  isLive(r: number): boolean {
    return (this.#meta[(r << M_SHIFT) | FLAGS] & LIVE) !== 0;
  }
  /** The {@link SPACE} of row `r`. */
  space(r: number): number {
    return this.#meta[(r << M_SHIFT) | FLAGS] & SPACE_BITS;
  }
  /** The block row a page row was filled from, or {@link NONE}. */
  blockOf(r: number): number {
    return (this.#meta[(r << M_SHIFT) | FLAGS] & IN_BLOCK) !== 0 ? this.#block[r] : NONE;
  }

  /** Appends the rows of `owner` to `out`. */
  rowsOf(owner: number, out: number[]): void {
    const links = this.#links;
    for (let r = this.#head[owner]; r !== NONE; r = links[(r << L_SHIFT) | NEXT]) out.push(r);
  }

  /**
   * Adds a row of `owner` under `key` holding `d`, replacing the row under that key; evicts when full.
   * `space`: a {@link SPACE}; `block`: the BLOCK row this page row belongs to (then `d` must be the block's), or
   * NONE. Returns the row.
   */
  add(owner: number, space: number, key: number, d: RowData, block: number): number {
    const old = this.#find(this.#sid[owner], this.#ssid[owner] ^ space, key);
    if (old !== NONE) this.remove(old); // its row is the first free one: the fill takes it
    return this.#fill(owner, space, key, d, d, block);
  }

  /**
   * {@link add} of a 4 KiB page row of `owner` under `key`, of no block, where the caller knows no row is held under
   * the key (a {@link lookup} of it just answered NONE and nothing was added since: none is looked for, and a wrong
   * call leaves two rows under one key): the common miss's fill. `ipa`: for a nested owner, the translation with its
   * IPA (the row keeps its ipaBase), else null. Returns the row.
   */
  fillPage(owner: number, key: number, d: PageData, ipa: RowData | null): number {
    return this.#fill(owner, SPACE.PAGE, key, d, ipa, NONE);
  }

  /**
   * A new row of `owner` under `key` of `space`, where no row is held under it, holding `d` (and the IPA of `ipa`, or
   * none), of block row `block` or NONE; evicts when full. (One function, too big for V8 to inline into the miss that
   * calls it: that budget goes to the walker's quick path.)
   */
  #fill(owner: number, space: number, key: number, d: PageData, ipa: RowData | null, block: number): number {
    // A row evicted is taken over where it is: no trip through the free list, and it stays on its owner's list when it
    // was this owner's.
    const r = this.#free !== NONE ? this.#popFree() : this.#spare(block);
    const meta = this.#meta, m = r << M_SHIFT, flags = meta[m | FLAGS];
    let listed = false;
    if ((flags & LIVE) !== 0) {
      if ((flags & LINKED) !== 0) this.#unlinkMore(r, flags);
      this.#unchain(r);
      const held = meta[m | OWNER];
      if ((flags & GLOBAL) !== 0) this.#globals[held]--;
      if (held === owner) listed = true;
      else this.#unlist(r, held);
      this.removals++;
    } else this.size++;
    const data = this.#data, at = r << D_SHIFT, global = d.global;
    data[at | IN] = d.inBase;
    data[at | SIZE] = d.size;
    data[at | OUT] = d.outBase;
    data[at | ALLOW] = d.allow;
    this.#ipa[r] = ipa === null ? NO_IPA : ipa.ipaBase;
    const k0 = this.#sid[owner], k1 = this.#ssid[owner] ^ space;
    const bucket = home(k0, k1, key, this.#shift), buckets = this.#buckets; // after #spare: the pool may have grown
    meta[m | K0] = k0;
    meta[m | K1] = k1;
    meta[m | K2] = key;
    meta[m | CHAIN] = buckets[bucket];
    meta[m | BUCKET] = bucket;
    buckets[bucket] = r;
    meta[m | REF] = 0;
    meta[m | FLAGS] = space | LIVE | (global ? GLOBAL : 0) | (block !== NONE ? IN_BLOCK : 0);
    if (!listed) {
      // First on its owner's list.
      const links = this.#links, l = r << L_SHIFT, heads = this.#head, head = heads[owner];
      links[l | PREV] = NONE;
      links[l | NEXT] = head;
      if (head !== NONE) links[(head << L_SHIFT) | PREV] = r;
      heads[owner] = r;
      meta[m | OWNER] = owner;
      this.#count[owner]++;
    }
    if (global) this.#globals[owner]++;
    if (space === SPACE.BLOCK) this.#links[(r << L_SHIFT) | B_NEXT] = NONE; // no page rows yet
    else if (block !== NONE) {
      this.#block[r] = block;
      this.#joinBlock(r, block);
    }
    return r;
  }

  /** Puts page row `r` first on block row `block`'s list. */
  #joinBlock(r: number, block: number): void {
    const links = this.#links, l = r << L_SHIFT, first = links[(block << L_SHIFT) | B_NEXT];
    links[l | B_PREV] = block;
    links[l | B_NEXT] = first;
    if (first !== NONE) links[(first << L_SHIFT) | B_PREV] = r;
    links[(block << L_SHIFT) | B_NEXT] = r;
  }

  /** Removes row `r`, and a block row's page rows with it. */
  remove(r: number): void {
    const meta = this.#meta, m = r << M_SHIFT, flags = meta[m | FLAGS];
    if ((flags & LIVE) === 0) return;
    if ((flags & LINKED) !== 0) this.#unlinkMore(r, flags);
    this.#unchain(r);
    const owner = meta[m | OWNER];
    if ((flags & GLOBAL) !== 0) this.#globals[owner]--;
    this.#unlist(r, owner);
    meta[m | FLAGS] = 0;
    this.size--;
    this.removals++;
    this.#pushFree(r);
  }

  /** Removes every row of `owner`. */
  removeOwner(owner: number): void {
    while (this.#head[owner] !== NONE) this.remove(this.#head[owner]);
  }

  /** Removes every row, keeping the storage. */
  clear(): void {
    this.removals++;
    this.#meta.fill(0); // FLAGS 0: not live
    this.#buckets.fill(NONE);
    this.#head.fill(NONE);
    this.#count.fill(0);
    this.#globals.fill(0);
    this.size = 0;
    this.#free = NONE;
    for (let r = this.#rows - 1; r >= 0; r--) this.#pushFree(r);
    this.#seed = 0x2545f491; // the same choices after every full invalidation: runs stay reproducible
    this.#candidate = 0;
  }

  /** Takes row `r` off its hash chain. */
  #unchain(r: number): void {
    const meta = this.#meta, m = r << M_SHIFT, buckets = this.#buckets, bucket = meta[m | BUCKET];
    let p = buckets[bucket];
    if (p === r) buckets[bucket] = meta[m | CHAIN];
    else {
      while (meta[(p << M_SHIFT) | CHAIN] !== r) p = meta[(p << M_SHIFT) | CHAIN];
      meta[(p << M_SHIFT) | CHAIN] = meta[m | CHAIN];
    }
  }

  /** Takes row `r` off the list of `owner`. */
  #unlist(r: number, owner: number): void {
    const links = this.#links, l = r << L_SHIFT, prev = links[l | PREV], next = links[l | NEXT];
    if (prev !== NONE) links[(prev << L_SHIFT) | NEXT] = next;
    else this.#head[owner] = next;
    if (next !== NONE) links[(next << L_SHIFT) | PREV] = prev;
    this.#count[owner]--;
  }

  /** Takes live row `r` (of FLAGS `flags`) out of what only some rows are in: its page rows, its block. */
  #unlinkMore(r: number, flags: number): void {
    const links = this.#links, l = r << L_SHIFT;
    if ((flags & SPACE_BLOCK_BIT) !== 0) {
      while (links[l | B_NEXT] !== NONE) this.remove(links[l | B_NEXT]);
    }
    if ((flags & IN_BLOCK) !== 0) {
      const bp = links[l | B_PREV], bn = links[l | B_NEXT];
      links[(bp << L_SHIFT) | B_NEXT] = bn; // bp is the previous sibling or the block row, whose B_NEXT is the first page
      if (bn !== NONE) links[(bn << L_SHIFT) | B_PREV] = bp;
    }
  }

  #pushFree(r: number): void {
    this.#links[(r << L_SHIFT) | NEXT] = this.#free;
    this.#free = r;
  }

  #popFree(): number {
    const r = this.#free;
    this.#free = this.#links[(r << L_SHIFT) | NEXT];
    return r;
  }

  /** A row for a fill when none is free: new storage, or a live row to evict (never `pinned`, the block joined). */
  #spare(pinned: number): number {
    if (this.#rows < this.maxRows) {
      this.#grow(Math.min(this.maxRows, Math.max(MIN_ROWS, this.#rows * 2)));
      return this.#popFree();
    }
    return this.#victim(pinned);
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
  #victim(pinned: number): number {
    const meta = this.#meta, links = this.#links, scale = this.#rows * TWO_MINUS_32;
    for (let tries = 0;; tries++) {
      // The row looked at was drawn at the last look: drawn ahead, the draw's chain of dependent operations is off
      // the fill's. No integer division; |0 floors a non-negative number; rows only grow, so it is still a row.
      const r = this.#candidate, m = r << M_SHIFT;
      this.#candidate = (this.#random() * scale) | 0;
      if (r === pinned) continue;
      const used = meta[m | REF] !== 0 ||
        ((meta[m | FLAGS] & SPACE_BITS) === SPACE.BLOCK && links[(r << L_SHIFT) | B_NEXT] !== NONE);
      if (tries < SECOND_CHANCES && used) {
        meta[m | REF] = 0;
        continue;
      }
      return r;
    }
  }

  /**
   * Storage for `rows` rows (the rows held stay where they are), and four buckets per row: short chains, so a miss
   * (which walks its whole chain) is found out quickly.
   */
  #grow(rows: number): void {
    const old = this.#rows;
    const bytes = new Uint8Array(rows * ROW_BYTES);
    bytes.set(new Uint8Array(this.#data.buffer));
    this.#data = new Float64Array(bytes.buffer);
    this.#meta = new Int32Array(bytes.buffer); // FLAGS 0 in new rows: not live
    this.#links = grow(this.#links, rows << L_SHIFT, NONE);
    this.#ipa = grow(this.#ipa, rows, 0);
    this.#block = grow(this.#block, rows, 0);
    this.#rows = rows;
    for (let r = rows - 1; r >= old; r--) this.#pushFree(r);
    // Every held row rechained into the new buckets.
    let buckets = 1;
    while (buckets < rows * 4) buckets *= 2;
    this.#buckets = new Int32Array(buckets).fill(NONE);
    this.#shift = WORD_BITS - Math.log2(buckets);
    const meta = this.#meta;
    for (let r = 0; r < old; r++) {
      const m = r << M_SHIFT;
      if ((meta[m | FLAGS] & LIVE) === 0) continue;
      const bucket = home(meta[m | K0], meta[m | K1], meta[m | K2], this.#shift);
      meta[m | CHAIN] = this.#buckets[bucket];
      meta[m | BUCKET] = bucket;
      this.#buckets[bucket] = r;
    }
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
