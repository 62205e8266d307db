/**
 * {@link KeyIndex}: a hash index from a key of three 32-bit integers to row numbers, for the TLB's rows.
 * @module
 */

import { WORD_BITS } from "../core/numbers.ts";

const MIN_SLOTS = 16;
const STRIDE = 4; // per slot: the key's three words, then the row + 1 (0: empty)
const EMPTY = 0;

/** Home slot of a key: its words mixed, then Fibonacci hashing, so strided page numbers spread over the table. */
export function home(k0: number, k1: number, k2: number, shift: number): number {
  // Three independent multiplies (they run in parallel), so the hit path waits for one.
  return (Math.imul(k2, 0x9e3779b1) ^ Math.imul(k0, 0x85ebca6b) ^ Math.imul(k1, 0x27d4eb2d)) >>> shift;
}

/**
 * Key (three int32s) → row, open addressing with linear probing in one Int32Array, a slot's key beside its row so a
 * probe reads one cache line. At most half full, and a removal moves the slots after it back towards their homes
 * (no deletion marks): a probe for a key not held, which every TLB fill makes, stays about two slots long whatever
 * the churn, and the table is rebuilt only to grow. A key may be held more than once (different rows): {@link find}
 * gives one, {@link findAll} all.
 */
export class KeyIndex {
  /** The slots, `mask` and `shift` of the table: public for a hit path that probes inline (read them, never write). */
  slots = new Int32Array(MIN_SLOTS * STRIDE);
  mask = MIN_SLOTS - 1;
  shift = WORD_BITS - Math.log2(MIN_SLOTS);
  #size = 0;
  /** The slot each held row is in, so a removal needs no search. */
  #slotOf = new Int32Array(0);

  /** A row held under the key, or -1. */
  find(k0: number, k1: number, k2: number): number {
    const slots = this.slots, mask = this.mask;
    for (let i = home(k0, k1, k2, this.shift);; i = (i + 1) & mask) {
      const at = i * STRIDE;
      const held = slots[at + 3];
      if (held === EMPTY) return -1;
      if (slots[at + 2] === k2 && slots[at] === k0 && slots[at + 1] === k1) return held - 1;
    }
  }

  /** Appends every row held under the key to `out`. */
  findAll(k0: number, k1: number, k2: number, out: number[]): void {
    const slots = this.slots, mask = this.mask;
    for (let i = home(k0, k1, k2, this.shift);; i = (i + 1) & mask) {
      const at = i * STRIDE;
      const held = slots[at + 3];
      if (held === EMPTY) return;
      if (slots[at + 2] === k2 && slots[at] === k0 && slots[at + 1] === k1) out.push(held - 1);
    }
  }

  add(k0: number, k1: number, k2: number, row: number): void {
    if ((this.#size + 1) * 2 > this.mask + 1) this.#rehash((this.mask + 1) * 2);
    if (row >= this.#slotOf.length) {
      const grown = new Int32Array(Math.max(64, this.#slotOf.length * 2, row + 1));
      grown.set(this.#slotOf);
      this.#slotOf = grown;
    }
    this.#put(k0, k1, k2, row + 1);
    this.#size++;
  }

  /** Removes `row` (it must be held), moving back each slot after it that would otherwise be cut off from its home. */
  remove(row: number): void {
    const slots = this.slots, mask = this.mask, shift = this.shift, slotOf = this.#slotOf;
    let hole = slotOf[row];
    for (let i = (hole + 1) & mask;; i = (i + 1) & mask) {
      const at = i * STRIDE;
      const held = slots[at + 3];
      if (held === EMPTY) break;
      // The slot stays when its home lies cyclically in (hole, i]: its probe does not cross the hole.
      const h = home(slots[at], slots[at + 1], slots[at + 2], shift);
      if (hole <= i ? hole < h && h <= i : hole < h || h <= i) continue;
      const to = hole * STRIDE;
      slots[to] = slots[at];
      slots[to + 1] = slots[at + 1];
      slots[to + 2] = slots[at + 2];
      slots[to + 3] = held;
      slotOf[held - 1] = hole;
      hole = i;
    }
    slots[hole * STRIDE + 3] = EMPTY;
    this.#size--;
  }

  /** Empties the index, keeping its storage. */
  clear(): void {
    this.slots.fill(0);
    this.#size = 0;
  }

  /** Puts (key, held) into the first empty slot from its home on. */
  #put(k0: number, k1: number, k2: number, held: number): void {
    const slots = this.slots, mask = this.mask;
    let i = home(k0, k1, k2, this.shift);
    while (slots[i * STRIDE + 3] !== EMPTY) i = (i + 1) & mask;
    const at = i * STRIDE;
    slots[at] = k0;
    slots[at + 1] = k1;
    slots[at + 2] = k2;
    slots[at + 3] = held;
    this.#slotOf[held - 1] = i;
  }

  /** Rehashes the held slots into a table of `n` slots. */
  #rehash(n: number): void {
    const old = this.slots;
    this.slots = new Int32Array(n * STRIDE);
    this.mask = n - 1;
    this.shift = WORD_BITS - Math.log2(n);
    for (let at = 0; at < old.length; at += STRIDE) {
      if (old[at + 3] !== EMPTY) this.#put(old[at], old[at + 1], old[at + 2], old[at + 3]);
    }
  }
}
