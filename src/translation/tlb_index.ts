/**
 * {@link KeyIndex}: a hash index from a key of three 32-bit integers to row numbers, for the TLB's rows.
 * @module
 */

import { WORD_BITS } from "../core/numbers.ts";

const MIN_BUCKETS = 16;
// Per row: the key's three words, then the row's bucket (a removal unchains it without hashing its key again).
const K0 = 0, K1 = 1, K2 = 2, BUCKET = 3;
const ROW_SHIFT = 2; // row r's words start at r << ROW_SHIFT
/** No row: an empty bucket, a chain's end. */
const END = -1;
/** In `#next`: the row is not held. */
const NOT_HELD = -2;

/** Home slot of a key: its words mixed, then Fibonacci hashing, so strided page numbers spread over the table. */
export function home(k0: number, k1: number, k2: number, shift: number): number {
  // Three independent multiplies (they run in parallel), so the hit path waits for one.
  return (Math.imul(k2, 0x9e3779b1) ^ Math.imul(k0, 0x85ebca6b) ^ Math.imul(k1, 0x27d4eb2d)) >>> shift;
}

/**
 * Key (three int32s) → rows, by hash chains through the rows: per row its key and the next row on its chain, a
 * bucket per two held rows at least. An add links its row at the head of its chain, a removal unlinks it (chains are
 * short): no probing, no deletion marks, no rebuild but when the buckets double. A key may be held by several rows:
 * {@link find} gives one, {@link findAll} all.
 */
export class KeyIndex {
  #buckets = new Int32Array(MIN_BUCKETS).fill(END);
  #shift = WORD_BITS - Math.log2(MIN_BUCKETS);
  #keys = new Int32Array(0);
  /** The next row on each held row's chain (END at its end), NOT_HELD for rows not held. */
  #next = new Int32Array(0);
  #size = 0;

  /** A row held under the key, or -1. */
  find(k0: number, k1: number, k2: number): number {
    const keys = this.#keys, next = this.#next;
    for (let r = this.#buckets[home(k0, k1, k2, this.#shift)]; r !== END; r = next[r]) {
      const at = r << ROW_SHIFT;
      if (keys[at | K2] === k2 && keys[at | K0] === k0 && keys[at | K1] === k1) return r;
    }
    return -1;
  }

  /** Appends every row held under the key to `out`. */
  findAll(k0: number, k1: number, k2: number, out: number[]): void {
    const keys = this.#keys, next = this.#next;
    for (let r = this.#buckets[home(k0, k1, k2, this.#shift)]; r !== END; r = next[r]) {
      const at = r << ROW_SHIFT;
      if (keys[at | K2] === k2 && keys[at | K0] === k0 && keys[at | K1] === k1) out.push(r);
    }
  }

  /** Holds `row` (a small integer, not held) under the key. */
  add(k0: number, k1: number, k2: number, row: number): void {
    if (row >= this.#next.length) this.#growRows(row + 1);
    if ((this.#size + 1) * 2 > this.#buckets.length) this.#rehash(this.#buckets.length * 2);
    const keys = this.#keys, at = row << ROW_SHIFT, bucket = home(k0, k1, k2, this.#shift);
    keys[at | K0] = k0;
    keys[at | K1] = k1;
    keys[at | K2] = k2;
    keys[at | BUCKET] = bucket;
    this.#next[row] = this.#buckets[bucket];
    this.#buckets[bucket] = row;
    this.#size++;
  }

  /** Removes `row` (it must be held). */
  remove(row: number): void {
    const next = this.#next, bucket = this.#keys[(row << ROW_SHIFT) | BUCKET];
    let p = this.#buckets[bucket];
    if (p === row) this.#buckets[bucket] = next[row];
    else {
      while (next[p] !== row) p = next[p];
      next[p] = next[row];
    }
    next[row] = NOT_HELD;
    this.#size--;
  }

  /** Empties the index, keeping its storage. */
  clear(): void {
    this.#buckets.fill(END);
    this.#next.fill(NOT_HELD);
    this.#size = 0;
  }

  /** Room for rows below `n`. */
  #growRows(n: number): void {
    const rows = Math.max(64, this.#next.length * 2, n);
    const keys = new Int32Array(rows << ROW_SHIFT);
    keys.set(this.#keys);
    this.#keys = keys;
    const next = new Int32Array(rows).fill(NOT_HELD);
    next.set(this.#next);
    this.#next = next;
  }

  /** `n` buckets, every held row rechained. */
  #rehash(n: number): void {
    this.#buckets = new Int32Array(n).fill(END);
    this.#shift = WORD_BITS - Math.log2(n);
    const keys = this.#keys, next = this.#next;
    for (let r = 0; r < next.length; r++) {
      if (next[r] === NOT_HELD) continue; // read before the relink below overwrites this row's link (and no other's)
      const at = r << ROW_SHIFT, bucket = home(keys[at | K0], keys[at | K1], keys[at | K2], this.#shift);
      keys[at | BUCKET] = bucket;
      next[r] = this.#buckets[bucket];
      this.#buckets[bucket] = r;
    }
  }
}
