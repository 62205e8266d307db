/**
 * The circular queues (IHI 0070 3.5): each queue's registers, and {@link Ring}, the one home of their arithmetic:
 * geometry from LOG2SIZE and ADDR, the index and wrap bit of PROD and CONS, slot addresses, entry counts, full and
 * empty, and the consistency of PROD with CONS. The device's queues, the guest driver and the tools all use it.
 * @module
 */
import {
  CMDQ_BASE,
  CMDQ_CONS,
  CMDQ_PROD,
  COMMAND_BYTES,
  EVENT_BYTES,
  EVENTQ_BASE,
  EVENTQ_CONS,
  EVENTQ_PROD,
  IDR1,
  PRI_RECORD_BYTES,
  PRIQ_BASE,
  PRIQ_CONS,
  PRIQ_PROD,
  REG,
} from "../../gen/mod.ts";
import type { Field } from "../../gen/mod.ts";
import { word } from "./regfile.ts";

/** One circular queue's registers and limits (IHI 0070 3.5). */
export interface QueueRegs {
  readonly name: "CMDQ" | "EVENTQ" | "PRIQ";
  /** Offsets of its BASE, PROD and CONS registers. */
  readonly base: number;
  readonly prod: number;
  readonly cons: number;
  /** Bytes per entry. */
  readonly entryBytes: number;
  /** IDR1 field holding the largest LOG2SIZE. */
  readonly maxLog2: Field;
  /** BASE.LOG2SIZE and BASE.ADDR. */
  readonly log2: Field;
  readonly addr: Field & { getAddress(w: Uint32Array, o?: number): number };
  /** Index+wrap field of PROD and of CONS. */
  readonly wr: Field;
  readonly rd: Field;
  /** For the queues the SMMU produces: PROD.OVFLG, and CONS.OVACKFLG that acknowledges it (IHI 0070 7.4, 8.1). */
  readonly ovflg?: Field;
  readonly ovackflg?: Field;
}

export const CMDQ: QueueRegs = {
  name: "CMDQ",
  base: REG.CMDQ_BASE,
  prod: REG.CMDQ_PROD,
  cons: REG.CMDQ_CONS,
  entryBytes: COMMAND_BYTES,
  maxLog2: IDR1.CMDQS,
  log2: CMDQ_BASE.LOG2SIZE,
  addr: CMDQ_BASE.ADDR,
  wr: CMDQ_PROD.WR,
  rd: CMDQ_CONS.RD,
};
export const EVENTQ: QueueRegs = {
  name: "EVENTQ",
  base: REG.EVENTQ_BASE,
  prod: REG.EVENTQ_PROD,
  cons: REG.EVENTQ_CONS,
  entryBytes: EVENT_BYTES,
  maxLog2: IDR1.EVENTQS,
  log2: EVENTQ_BASE.LOG2SIZE,
  addr: EVENTQ_BASE.ADDR,
  wr: EVENTQ_PROD.WR,
  rd: EVENTQ_CONS.RD,
  ovflg: EVENTQ_PROD.OVFLG,
  ovackflg: EVENTQ_CONS.OVACKFLG,
};
export const PRIQ: QueueRegs = {
  name: "PRIQ",
  base: REG.PRIQ_BASE,
  prod: REG.PRIQ_PROD,
  cons: REG.PRIQ_CONS,
  entryBytes: PRI_RECORD_BYTES,
  maxLog2: IDR1.PRIQS,
  log2: PRIQ_BASE.LOG2SIZE,
  addr: PRIQ_BASE.ADDR,
  wr: PRIQ_PROD.WR,
  rd: PRIQ_CONS.RD,
  ovflg: PRIQ_PROD.OVFLG,
  ovackflg: PRIQ_CONS.OVACKFLG,
};
export const QUEUES: readonly QueueRegs[] = [CMDQ, EVENTQ, PRIQ];

/** The bits of a PROD or CONS value for a queue of 2^log2 entries: the index, and the wrap bit above it. */
export const indexMask = (log2: number): number => 2 ** (log2 + 1) - 1;

/** {@link indexMask} of queue `q` at the LOG2SIZE its BASE register in `words` (the register file) holds. */
export function queueIndexMask(words: Uint32Array, q: QueueRegs): number {
  return indexMask(q.log2.get(words, word(q.base)));
}

/**
 * One queue's geometry and index arithmetic: 2^log2 slots of `entryBytes` from a base aligned to the queue's size,
 * and PROD and CONS values of log2 + 1 bits (the slot index, then the wrap bit). Set it from the BASE register's
 * value ({@link load}) or from a driver's own choice ({@link set}); every method is a few integer operations.
 */
export class Ring {
  /** LOG2SIZE: the queue has 2^log2 slots. */
  log2 = 0;
  /** Number of slots. */
  size = 1;
  /** Mask of a PROD or CONS value: index and wrap bits. */
  mask = 1;
  /** Address of slot 0. */
  base = 0;

  constructor(readonly entryBytes: number) {}

  /**
   * A queue of 2^log2 slots at `addr`. The effective base is aligned to the queue's size: ADDR bits below it are
   * ignored (IHI 0070 6.3.26, 6.3.29).
   */
  set(log2: number, addr: number): this {
    this.log2 = log2;
    this.size = 2 ** log2;
    this.mask = indexMask(log2);
    const bytes = this.size * this.entryBytes;
    this.base = addr - (addr % bytes);
    return this;
  }

  /** The queue `q`'s BASE register says: its value at word `o` of `w` (by default, `w` is the register file). */
  load(q: QueueRegs, w: Uint32Array, o: number = word(q.base)): this {
    return this.set(q.log2.get(w, o), q.addr.getAddress(w, o));
  }

  /** A PROD or CONS value reduced to its index and wrap bits. */
  index(v: number): number {
    return v & this.mask;
  }

  /** The value after `v`: the next slot, and past the last one the first with the wrap bit toggled. */
  next(v: number): number {
    return (v + 1) & this.mask;
  }

  /** Address of the slot a PROD or CONS value `v` points at. */
  slot(v: number): number {
    return this.base + (v & (this.size - 1)) * this.entryBytes;
  }

  /**
   * Entries from `cons` to `prod`, or -1 when the two are inconsistent: more entries than the queue holds (IHI 0070
   * 3.5.1). The SMMU may then consume or produce at UNKNOWN positions, or not at all; this model does not.
   */
  entries(prod: number, cons: number): number {
    const n = this.distance(prod, cons);
    return n <= this.size ? n : -1;
  }

  /** Steps from PROD or CONS value `from` forward to `to`, modulo the wrap: 0 to 2 * size - 1. */
  distance(to: number, from: number): number {
    return (to - from) & this.mask;
  }

  /** Whether the queue is empty: the same index and the same wrap bit. */
  empty(prod: number, cons: number): boolean {
    return ((prod ^ cons) & this.mask) === 0;
  }

  /** Whether the queue is full: the same index, the wrap bits differing (IHI 0070 3.5.1). */
  full(prod: number, cons: number): boolean {
    return ((prod ^ cons) & this.mask) === this.size;
  }
}
