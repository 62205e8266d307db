/**
 * Interrupts: wired lines, MSI writes and the GERROR/GERRORN error protocol (IHI 0070 3.18, 6.3.19–6.3.23).
 *
 * Why edge callbacks: the SMMU's wired interrupt outputs are edge-triggered (IHI 0070 3.18.2; the Linux binding
 * describes them as rising-edge), and an MSI is by nature a single write. So each notification is one call of the
 * host's sink, and there is no line level to keep or to restore.
 *
 * The sinks and `onMsi` are deferred callbacks (src/core/host_calls.ts): an MSI's write to guest memory happens when it is
 * raised, the host hears of it when the device call ends, in order.
 * @module
 */
import { GERROR, GERROR_IRQ_CFG0, GERROR_IRQ_CFG1, IDR0, IRQ_CTRLACK, REG } from "../../gen/mod.ts";
import type { Field } from "../../gen/mod.ts";
import { HostCalls } from "../core/host_calls.ts";
import type { GuestMemory } from "../core/memory.ts";
import type { RegisterFile } from "../registers/regfile.ts";
import { word } from "../registers/regfile.ts";

/** The host's interrupt sinks: one edge callback per wired interrupt kind (IHI 0070 3.18.2). */
export interface InterruptSinks {
  /** Event queue interrupt: new records were written (gated by IRQ_CTRL.EVENTQ_IRQEN). */
  eventq?(): void;
  /** Global error interrupt: a GERROR bit became active (gated by IRQ_CTRL.GERROR_IRQEN). */
  gerror?(): void;
  /** PRI queue interrupt (gated by IRQ_CTRL.PRIQ_IRQEN). */
  priq?(): void;
  /** CMD_SYNC completion interrupt (CS = SIG_IRQ, with or without an MSI address). */
  cmdqSync?(): void;
  /** A WFE wake-up event (CMD_SYNC with CS = SIG_SEV, when IDR0.SEV is advertised). */
  sev?(): void;
}

/** Called for every MSI the device sends, after its 32-bit write to guest memory succeeded. */
export type MsiSink = (addr: number, data: number) => void;

const W_IRQ_CTRLACK = word(REG.IRQ_CTRLACK);
const W_GERROR = word(REG.GERROR);
const W_GERRORN = word(REG.GERRORN);

/** How a queue's interrupt is signalled: its IRQ_CTRL enable, MSI registers, wired sink and MSI abort error. */
export interface IrqSource {
  readonly enable: Field;
  readonly cfg0: number;
  readonly cfg1: number;
  readonly wired: keyof InterruptSinks;
  readonly msiAbort: Field;
}

export const EVENTQ_IRQ: IrqSource = {
  enable: IRQ_CTRLACK.EVENTQ_IRQEN,
  cfg0: REG.EVENTQ_IRQ_CFG0,
  cfg1: REG.EVENTQ_IRQ_CFG1,
  wired: "eventq",
  msiAbort: GERROR.MSI_EVENTQ_ABT_ERR,
};
export const PRIQ_IRQ: IrqSource = {
  enable: IRQ_CTRLACK.PRIQ_IRQEN,
  cfg0: REG.PRIQ_IRQ_CFG0,
  cfg1: REG.PRIQ_IRQ_CFG1,
  wired: "priq",
  msiAbort: GERROR.MSI_PRIQ_ABT_ERR,
};
const GERROR_IRQ: IrqSource = {
  enable: IRQ_CTRLACK.GERROR_IRQEN,
  cfg0: REG.GERROR_IRQ_CFG0,
  cfg1: REG.GERROR_IRQ_CFG1,
  wired: "gerror",
  msiAbort: GERROR.MSI_GERROR_ABT_ERR,
};

/** Wired lines, MSIs and global errors. */
export class Interrupts {
  /** MSIs sent (successfully written), for tests and tools. */
  msiCount = 0;

  readonly #regs: RegisterFile;
  readonly #memory: GuestMemory;
  readonly #sinks: Readonly<InterruptSinks>;
  readonly #onMsi: MsiSink | undefined;
  readonly #calls: HostCalls;
  readonly #sinksThis: unknown;

  constructor(
    regs: RegisterFile,
    memory: GuestMemory,
    sinks: Readonly<InterruptSinks>,
    onMsi: MsiSink | undefined,
    /** The device's calls, which run the deferred sinks (alone: no device call, so at once). */
    calls: HostCalls = new HostCalls(),
    /** The object the sinks are called on (the host's, of which `sinks` is a copy taken at construction). */
    sinksThis: unknown = sinks,
  ) {
    this.#regs = regs;
    this.#memory = memory;
    this.#sinks = sinks;
    this.#onMsi = onMsi;
    this.#calls = calls;
    this.#sinksThis = sinksThis;
  }

  /** Whether global error `f` is active (GERROR and GERRORN differ in its bit). */
  errorActive(f: Field): boolean {
    return f.get(this.#regs.words, W_GERROR) !== f.get(this.#regs.words, W_GERRORN);
  }

  /** Activates global error `f` (toggles its GERROR bit unless already active) and signals the GERROR interrupt. */
  raise(f: Field): void {
    if (this.errorActive(f)) return; // an active error stays active until acknowledged; it is not raised twice
    f.set(this.#regs.words, f.get(this.#regs.words, W_GERROR) ^ 1, W_GERROR);
    this.#signal(GERROR_IRQ);
  }

  /** Signals a queue's interrupt, if enabled in IRQ_CTRL (acknowledged in IRQ_CTRLACK). */
  signal(src: IrqSource): void {
    if (src.enable.get(this.#regs.words, W_IRQ_CTRLACK)) this.#signal(src);
  }

  /**
   * An enabled source pulses its wired output and, when MSIs are advertised and its ADDR is not zero, also sends its
   * MSI: "This allows an implementation that supports both MSIs and wired interrupts to use both types concurrently"
   * (IHI 0070 3.18.2).
   */
  #signal(src: IrqSource): void {
    if (src === GERROR_IRQ && !src.enable.get(this.#regs.words, W_IRQ_CTRLACK)) return;
    const w = this.#regs.words;
    this.pulse(src.wired);
    const addr = this.msiSupported() ? GERROR_IRQ_CFG0.ADDR.getAddress(w, word(src.cfg0)) : 0;
    if (addr === 0) return;
    if (!this.sendMsi(addr, GERROR_IRQ_CFG1.DATA.get(w, word(src.cfg1)))) {
      // MSI_GERROR_ABT_ERR raised by a failing GERROR MSI signals nothing more: that would fail the same way.
      if (src === GERROR_IRQ) {
        if (!this.errorActive(src.msiAbort)) {
          src.msiAbort.set(w, src.msiAbort.get(w, W_GERROR) ^ 1, W_GERROR);
        }
      } else this.raise(src.msiAbort);
    }
  }

  /** Whether MSIs are advertised (IDR0.MSI). */
  msiSupported(): boolean {
    return IDR0.MSI.get(this.#regs.words, word(REG.IDR0)) !== 0;
  }

  /** One MSI: a 32-bit write of `data` to `addr`; false when the write aborted. */
  sendMsi(addr: number, data: number): boolean {
    if (!this.#memory.write32(addr, data >>> 0)) return false;
    this.msiCount++;
    if (this.#onMsi !== undefined) this.#calls.defer(this.#onMsi, undefined, addr, data >>> 0);
    return true;
  }

  /** A wired notification with no gating (CMD_SYNC completion, SEV). */
  pulse(kind: keyof InterruptSinks): void {
    const sink = this.#sinks[kind];
    if (sink !== undefined) this.#calls.defer(sink, this.#sinksThis);
  }
}
