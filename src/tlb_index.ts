/**
 * {@link KeyIndex}: a hash index from a key of three 32-bit integers to row numbers, for the TLB's rows.
 * @module
 */

const MIN_SLOTS = 16;
const STRIDE = 4; // per slot: the key's three words, then the row + 1 (0: empty)

/** Home slot of a key: its words mixed, then Fibonacci hashing, so strided page numbers spread over the table. */
export function home(k0: number, k1: number, k2: number, shift: number): number {
  // Three independent multiplies (they run in parallel), so the hit path waits for one.
  return (Math.imul(k2, 0x9e3779b1) ^ Math.imul(k0, 0x85ebca6b) ^ Math.imul(k1, 0x27d4eb2d)) >>> shift;
}

/**
 * Key (three int32s) → row, open addressing with linear probing in one Int32Array, a slot's key beside its row
 * so a probe reads one cache line. Load stays at most 1/2; deletion shifts later slots back, so there are no
 * tombstones. A key may be held more than once (different rows): {@link find} gives one, {@link findAll} all.
 */
export class KeyIndex {
  #slots = new Int32Array(MIN_SLOTS * STRIDE);
  #mask = MIN_SLOTS - 1;
  #shift = 32 - Math.log2(MIN_SLOTS);
  #size = 0;

  /** The slots, for a caller that inlines {@link find}: per slot k0, k1, k2, row + 1 (0: empty). */
  get slots(): Int32Array {
    return this.#slots;
  }
  get mask(): number {
    return this.#mask;
  }
  get shift(): number {
    return this.#shift;
  }

  /** A row held under the key, or -1. */
  find(k0: number, k1: number, k2: number): number {
    const slots = this.#slots, mask = this.#mask;
    for (let i = home(k0, k1, k2, this.#shift);; i = (i + 1) & mask) {
      const at = i * STRIDE;
      const row = slots[at + 3] - 1;
      if (row < 0 || (slots[at + 2] === k2 && slots[at] === k0 && slots[at + 1] === k1)) return row;
    }
  }

  /** Appends every row held under the key to `out`. */
  findAll(k0: number, k1: number, k2: number, out: number[]): void {
    const slots = this.#slots, mask = this.#mask;
    for (let i = home(k0, k1, k2, this.#shift);; i = (i + 1) & mask) {
      const at = i * STRIDE;
      const row = slots[at + 3] - 1;
      if (row < 0) return;
      if (slots[at + 2] === k2 && slots[at] === k0 && slots[at + 1] === k1) out.push(row);
    }
  }

  add(k0: number, k1: number, k2: number, row: number): void {
    if ((this.#size + 1) * 2 > this.#mask + 1) this.#resize((this.#mask + 1) * 2);
    this.#put(k0, k1, k2, row);
    this.#size++;
  }

  /** Removes `row` from under the key (it must be there). */
  remove(k0: number, k1: number, k2: number, row: number): void {
    const slots = this.#slots, mask = this.#mask, shift = this.#shift;
    let i = home(k0, k1, k2, shift);
    while (slots[i * STRIDE + 3] !== row + 1) i = (i + 1) & mask;
    // Shift back every later slot of the run whose home does not lie cyclically in (i, j].
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      const at = j * STRIDE;
      if (slots[at + 3] === 0) break;
      const h = home(slots[at], slots[at + 1], slots[at + 2], shift);
      if (i <= j ? i < h && h <= j : i < h || h <= j) continue;
      const to = i * STRIDE;
      slots[to] = slots[at];
      slots[to + 1] = slots[at + 1];
      slots[to + 2] = slots[at + 2];
      slots[to + 3] = slots[at + 3];
      i = j;
    }
    slots[i * STRIDE + 3] = 0;
    this.#size--;
  }

  /** Empties the index, keeping its storage. */
  clear(): void {
    this.#slots.fill(0);
    this.#size = 0;
  }

  #put(k0: number, k1: number, k2: number, row: number): void {
    const slots = this.#slots, mask = this.#mask;
    let i = home(k0, k1, k2, this.#shift);
    while (slots[i * STRIDE + 3] !== 0) i = (i + 1) & mask;
    const at = i * STRIDE;
    slots[at] = k0;
    slots[at + 1] = k1;
    slots[at + 2] = k2;
    slots[at + 3] = row + 1;
  }

  #resize(n: number): void {
    const old = this.#slots;
    this.#slots = new Int32Array(n * STRIDE);
    this.#mask = n - 1;
    this.#shift = 32 - Math.log2(n);
    for (let at = 0; at < old.length; at += STRIDE) {
      if (old[at + 3] !== 0) this.#put(old[at], old[at + 1], old[at + 2], old[at + 3] - 1);
    }
  }
}
