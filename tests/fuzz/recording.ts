/**
 * Guest memory as the fuzz oracle sees the device use it: every access of a call counted and recorded (reads by word
 * address, writes with the value they replaced), and a hard stop when a call goes on far past any bound.
 * @module
 */
import { ABORT, type GuestMemory } from "../../mod.ts";

/** Most memory accesses one call may make before the oracle calls it a runaway (far above any legitimate bound). */
export const RUNAWAY = 200_000;
/** A device access that went on far past any bound: a hang in the making. */
export class Runaway extends Error {}

export interface Write {
  readonly addr: number;
  readonly len: number;
  /** The 32-bit value written (write32), or -1 for a byte copy. */
  readonly value: number;
  /** The word there before (write32), or ABORT. */
  readonly old: number;
  /** The bytes there before (a byte copy), or null. */
  readonly before: Uint8Array | null;
}

/** Guest memory as the device sees it, recording each call's accesses. */
export class RecordingMemory implements GuestMemory {
  /** Accesses in this call. */
  words = 0;
  /** Whether this call went past RUNAWAY (the device's guard may have swallowed the Runaway thrown then). */
  runaway = false;
  /** Word addresses read in this call. */
  readonly reads = new Set<number>();
  /** When set, every read32 of the call in order, as address and value pairs in `readLog`. */
  logReads = false;
  readonly readLog: number[] = [];
  readonly writes: Write[] = [];
  readonly #inner: GuestMemory;
  readonly #ram: GuestMemory;

  constructor(inner: GuestMemory, ram: GuestMemory) {
    this.#inner = inner;
    this.#ram = ram;
  }

  /** Starts a new call. */
  begin(): void {
    this.words = 0;
    this.runaway = false;
    this.reads.clear();
    this.readLog.length = 0;
    this.writes.length = 0;
  }
  #count(n: number): void {
    this.words += n;
    if (this.words > RUNAWAY) {
      this.runaway = true;
      throw new Runaway(`more than ${RUNAWAY} memory accesses in one call`);
    }
  }
  read32(addr: number): number {
    this.#count(1);
    this.reads.add(addr);
    const v = this.#inner.read32(addr);
    if (this.logReads) this.readLog.push(addr, v);
    return v;
  }
  write32(addr: number, value: number): boolean {
    this.#count(1);
    this.writes.push({ addr, len: 4, value, old: this.#ram.read32(addr), before: null });
    return this.#inner.write32(addr, value);
  }
  read(addr: number, dst: Uint8Array): boolean {
    this.#count(1);
    return this.#inner.read(addr, dst);
  }
  write(addr: number, src: Uint8Array): boolean {
    this.#count(1);
    const before = new Uint8Array(src.length);
    this.writes.push({
      addr,
      len: src.length,
      value: -1,
      old: ABORT,
      before: this.#ram.read(addr, before) ? before : null,
    });
    return this.#inner.write(addr, src);
  }

  /** The word at `addr` as it was before this call's writes (they are undone, last first, over what is there now). */
  wordBefore(addr: number): number {
    const bytes = new Uint8Array(4);
    if (!this.#ram.read(addr, bytes)) return ABORT;
    for (let i = this.writes.length - 1; i >= 0; i--) {
      const w = this.writes[i];
      if (w.addr >= addr + 4 || w.addr + w.len <= addr) continue;
      if (w.value >= 0) {
        if (w.old === ABORT) continue;
        new DataView(bytes.buffer).setUint32(0, w.old, true); // a word write covers this word exactly
      } else if (w.before !== null) {
        for (let b = 0; b < 4; b++) {
          const k = addr + b - w.addr;
          if (k >= 0 && k < w.len) bytes[b] = w.before![k];
        }
      }
    }
    return new DataView(bytes.buffer).getUint32(0, true);
  }
}
