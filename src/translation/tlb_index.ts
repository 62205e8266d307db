/**
 * {@link KeyIndex}: a hash index from a key of three 32-bit integers to row numbers, for the TLB's rows.
 * @module
 */

import { WORD_BITS } from "../core/numbers.ts";

const MIN_SLOTS = 16;
const STRIDE = 4; // per slot: the key's three words, then the row + 1 (0: empty, -1: deleted)
const EMPTY = 0;
const DELETED = -1;

/** Home slot of a key: its words mixed, then Fibonacci hashing, so strided page numbers spread over the table. */
export function home(k0: number, k1: number, k2: number, shift: number): number {
  // Three independent multiplies (they run in parallel), so the hit path waits for one.
  return (Math.imul(k2, 0x9e3779b1) ^ Math.imul(k0, 0x85ebca6b) ^ Math.imul(k1, 0x27d4eb2d)) >>> shift;
}

/**
 * Key (three int32s) → row, open addressing with linear probing in one Int32Array, a slot's key beside its row
 * so a probe reads one cache line. A removal leaves a deleted mark that a later insertion reuses (no shifting);
 * held and deleted slots together stay within three quarters of the table, rebuilt to at most a quarter when they
 * would not. A key may be held more than once (different rows): {@link find} gives one, {@link findAll} all.
 */
export class KeyIndex {
  /** The slots, `mask` and `shift` of the table: public for a hit path that probes inline (read them, never write). */
  slots = new Int32Array(MIN_SLOTS * STRIDE);
  mask = MIN_SLOTS - 1;
  shift = WORD_BITS - Math.log2(MIN_SLOTS);
  #size = 0;
  #deleted = 0;
  #spare = new Int32Array(0);
  /** The slot each held row is in (slots stay put between rebuilds), so a removal needs no search. */
  #slotOf = new Int32Array(0);

  /** A row held under the key, or -1. */
  find(k0: number, k1: number, k2: number): number {
    const slots = this.slots, mask = this.mask;
    for (let i = home(k0, k1, k2, this.shift);; i = (i + 1) & mask) {
      const at = i * STRIDE;
      const held = slots[at + 3];
      if (held === EMPTY) return -1;
      if (held > 0 && slots[at + 2] === k2 && slots[at] === k0 && slots[at + 1] === k1) return held - 1;
    }
  }

  /** Appends every row held under the key to `out`. */
  findAll(k0: number, k1: number, k2: number, out: number[]): void {
    const slots = this.slots, mask = this.mask;
    for (let i = home(k0, k1, k2, this.shift);; i = (i + 1) & mask) {
      const at = i * STRIDE;
      const held = slots[at + 3];
      if (held === EMPTY) return;
      if (held > 0 && slots[at + 2] === k2 && slots[at] === k0 && slots[at + 1] === k1) out.push(held - 1);
    }
  }

  add(k0: number, k1: number, k2: number, row: number): void {
    if ((this.#size + this.#deleted + 1) * 4 > (this.mask + 1) * 3) {
      // Rebuilt without the deleted slots, at most a quarter full: a rebuild every (slots / 2) removals at most.
      const slots = (this.#size + 1) * 4 > this.mask + 1 ? (this.mask + 1) * 2 : this.mask + 1;
      this.#rebuild(slots);
    }
    const slots = this.slots, mask = this.mask;
    let i = home(k0, k1, k2, this.shift);
    while (slots[i * STRIDE + 3] > 0) i = (i + 1) & mask;
    const at = i * STRIDE;
    if (slots[at + 3] === DELETED) this.#deleted--;
    slots[at] = k0;
    slots[at + 1] = k1;
    slots[at + 2] = k2;
    slots[at + 3] = row + 1;
    this.#size++;
    if (row >= this.#slotOf.length) {
      const grown = new Int32Array(Math.max(64, this.#slotOf.length * 2, row + 1));
      grown.set(this.#slotOf);
      this.#slotOf = grown;
    }
    this.#slotOf[row] = i;
  }

  /** Removes `row` (it must be held). */
  remove(row: number): void {
    this.slots[this.#slotOf[row] * STRIDE + 3] = DELETED;
    this.#size--;
    this.#deleted++;
  }

  /** Empties the index, keeping its storage. */
  clear(): void {
    this.slots.fill(0);
    this.#size = 0;
    this.#deleted = 0;
  }

  /** Rehashes the held slots into a table of `n` slots (the previous table of that size is reused, zeroed). */
  #rebuild(n: number): void {
    const old = this.slots;
    let slots = this.#spare;
    if (slots.length === n * STRIDE) slots.fill(0);
    else slots = new Int32Array(n * STRIDE);
    this.#spare = old;
    this.slots = slots;
    this.mask = n - 1;
    this.shift = WORD_BITS - Math.log2(n);
    this.#deleted = 0;
    const mask = this.mask;
    for (let at = 0; at < old.length; at += STRIDE) {
      if (old[at + 3] <= 0) continue;
      let i = home(old[at], old[at + 1], old[at + 2], this.shift);
      while (slots[i * STRIDE + 3] !== EMPTY) i = (i + 1) & mask;
      const to = i * STRIDE;
      slots[to] = old[at];
      slots[to + 1] = old[at + 1];
      slots[to + 2] = old[at + 2];
      slots[to + 3] = old[at + 3];
      this.#slotOf[old[at + 3] - 1] = i;
    }
  }
}
