/**
 * The TLB's storage: a cached translation ({@link TlbEntry}) and {@link PageMap}, the per-context hash table from
 * input page key to entry that a TLB hit reads. Keys are small integers (see {@link pageKey}) so a hit stays on
 * V8's fast paths; the caches and invalidation scopes built on it live in tlb.ts.
 * @module
 */

/** A cached translation of an aligned input range. */
export class TlbEntry {
  constructor(
    /** First input address (IOVA; IPA for stage-2-only streams). */
    readonly inBase: number,
    /** Size of the range in bytes. */
    readonly size: number,
    /** Physical address of the first byte. */
    readonly outBase: number,
    /** Permitted accesses: bit (normalized ACCESS flags). */
    readonly allow: number,
    /** Stage 1: global entry (nG == 0), matched by every ASID. */
    readonly global: boolean,
    /** IPA of the first byte when stage 2 applies (-1 otherwise), for TLBI_S2_IPA. */
    readonly ipaBase: number,
  ) {}
}

const EMPTY = -1; // no key: pageKey gives 0 .. 2^30 - 1
const MIN_SLOTS = 8;
const NO_KEYS: number[] = new Array(MIN_SLOTS).fill(EMPTY);
const NO_VALUES: (TlbEntry | undefined)[] = new Array(MIN_SLOTS).fill(undefined);
const NO_DATA: number[] = new Array(MIN_SLOTS * 4).fill(0.5); // 0.5: a double array from the start

// Per slot, `data` keeps a flat copy of the entry: [inBase, size, outBase, allow].
const IN = 0, SIZE = 1, OUT = 2, ALLOW = 3;

/**
 * A context's TLB: {@link pageKey} → entry, open addressing with linear probing. A hit ({@link lookup}) is a
 * multiply, a key compare and reads of the slot's flat copy of the entry in an unboxed double array: no builtin
 * call (as Map.get is) and no entry object or heap numbers to chase. Keys are a plain array of Smis (measured
 * faster to read and to allocate than an Int32Array). Load stays at most 1/2; deletion shifts later keys back,
 * so there are no tombstones.
 */
export class PageMap {
  // Empty maps share these (never written), so a context that never fills its TLB allocates nothing for it.
  #keys = NO_KEYS;
  #values = NO_VALUES;
  #data = NO_DATA;
  #shift = 32 - Math.log2(MIN_SLOTS);
  /** Number of keys held. */
  size = 0;
  /** After a successful {@link lookup}: bytes from its address to the end of the entry. */
  span = 0;

  /** Home slot of `key`: Fibonacci hashing, so strided page numbers spread over the table. */
  #home(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> this.#shift;
  }

  get(key: number): TlbEntry | undefined {
    const keys = this.#keys, mask = keys.length - 1;
    for (let i = this.#home(key);; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === key) return this.#values[i];
      if (k === EMPTY) return undefined;
    }
  }

  /**
   * The output address of `addr` when the entry under its key covers it and allows access bit `access` (raw
   * ACCESS flags: allow masks have a bit for each combination), with {@link span} set; else -1.
   */
  lookup(addr: number, access: number): number {
    const key = pageKey(addr);
    const keys = this.#keys, mask = keys.length - 1;
    for (let i = this.#home(key);; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === key) {
        const data = this.#data, at = i * 4;
        const off = addr - data[at + IN]; // the entry may belong to a colliding page: check the range
        if (!(off >= 0 && off < data[at + SIZE]) || ((data[at + ALLOW] >> access) & 1) === 0) return -1;
        this.span = data[at + SIZE] - off;
        return data[at + OUT] + off;
      }
      if (k === EMPTY) return -1;
    }
  }

  set(key: number, value: TlbEntry): void {
    if (this.#keys === NO_KEYS) this.#resize(MIN_SLOTS);
    else if ((this.size + 1) * 2 > this.#keys.length) this.#resize(this.#keys.length * 2);
    const keys = this.#keys, mask = keys.length - 1;
    let i = this.#home(key);
    while (keys[i] !== key && keys[i] !== EMPTY) i = (i + 1) & mask;
    if (keys[i] === EMPTY) this.size++;
    keys[i] = key;
    this.#values[i] = value;
    const data = this.#data, at = i * 4;
    data[at + IN] = value.inBase;
    data[at + SIZE] = value.size;
    data[at + OUT] = value.outBase;
    data[at + ALLOW] = value.allow;
  }

  delete(key: number): boolean {
    const keys = this.#keys, values = this.#values, data = this.#data, mask = keys.length - 1;
    let i = this.#home(key);
    while (keys[i] !== key) {
      if (keys[i] === EMPTY) return false;
      i = (i + 1) & mask;
    }
    // Shift back every later key of the run whose home slot does not lie cyclically in (i, j].
    for (let j = (i + 1) & mask; keys[j] !== EMPTY; j = (j + 1) & mask) {
      const home = this.#home(keys[j]);
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue;
      keys[i] = keys[j];
      values[i] = values[j];
      for (let f = 0; f < 4; f++) data[i * 4 + f] = data[j * 4 + f];
      i = j;
    }
    keys[i] = EMPTY;
    values[i] = undefined;
    this.size--;
    return true;
  }

  clear(): void {
    this.#keys = NO_KEYS;
    this.#values = NO_VALUES;
    this.#data = NO_DATA;
    this.#shift = 32 - Math.log2(MIN_SLOTS);
    this.size = 0;
  }

  /** The distinct entries held (an entry is stored under each page key it was hit through), for inspection. */
  entries(): TlbEntry[] {
    const distinct = new Set<TlbEntry>();
    for (const v of this.#values) if (v !== undefined) distinct.add(v);
    return [...distinct];
  }

  /** Removes the keys whose entry `match` selects; returns how many. */
  removeWhere(match: (e: TlbEntry) => boolean): number {
    const doomed: number[] = [];
    const keys = this.#keys, values = this.#values;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY && match(values[i]!)) doomed.push(keys[i]);
    for (const key of doomed) this.delete(key);
    return doomed.length;
  }

  #resize(slots: number): void {
    const keys = this.#keys, values = this.#values;
    this.#keys = new Array(slots).fill(EMPTY);
    this.#values = new Array(slots).fill(undefined);
    this.#data = new Array(slots * 4).fill(0.5);
    this.#shift = 32 - Math.log2(slots);
    this.size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) this.set(keys[i], values[i]!);
  }
}

/**
 * TLB key of the 4 KiB input page holding `addr`: the page number folded into 30 bits, so keys are small
 * integers (V8 Smis, the fastest Map keys) rather than heap numbers. Pages below 2^42 keep distinct keys; above,
 * pages may share one, so a lookup checks that the entry covers the address and a fill replaces a colliding entry.
 */
export function pageKey(addr: number): number {
  const lo = addr >>> 0; // low 32 bits (two's complement for the negative upper-range addresses)
  const hi = ((addr - lo) / 4294967296) | 0;
  return ((lo >>> 12) ^ (hi << 20) ^ (hi >>> 10)) & 0x3fffffff;
}

/** `e` maps input address `addr` (an entry found by {@link pageKey} may belong to a colliding page). */
export function covers(e: TlbEntry, addr: number): boolean {
  const off = addr - e.inBase;
  return off >= 0 && off < e.size;
}
