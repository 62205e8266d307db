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
}

/** Guest memory as the device sees it, recording each call's accesses. */
export class RecordingMemory implements GuestMemory {
  /** Accesses in this call. */
  words = 0;
  /** Whether this call went past RUNAWAY (the device's guard may have swallowed the Runaway thrown then). */
  runaway = false;
  /** Word addresses read in this call. */
  readonly reads = new Set<number>();
  readonly writes: Write[] = [];
  constructor(private readonly inner: GuestMemory, private readonly ram: GuestMemory) {}

  /** Starts a new call. */
  begin(): void {
    this.words = 0;
    this.runaway = false;
    this.reads.clear();
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
    return this.inner.read32(addr);
  }
  write32(addr: number, value: number): boolean {
    this.#count(1);
    this.writes.push({ addr, len: 4, value, old: this.ram.read32(addr) });
    return this.inner.write32(addr, value);
  }
  read(addr: number, dst: Uint8Array): boolean {
    this.#count(1);
    return this.inner.read(addr, dst);
  }
  write(addr: number, src: Uint8Array): boolean {
    this.#count(1);
    this.writes.push({ addr, len: src.length, value: -1, old: ABORT });
    return this.inner.write(addr, src);
  }
}
