/**
 * Register access semantics (IHI 0070 6.2, 6.3): access widths, RO/RW/RAZ-WI, when a register may be written, and
 * the side effects of each write: CR0 → CR0ACK, IRQ_CTRL → IRQ_CTRLACK, the GBPA Update handshake, GERRORN
 * acknowledgement, queue geometry, and the command queue. Stored values obey {@link sanitize}.
 * @module
 */
import { CMDQ_CONS, CR0, GBPA, GERROR, IRQ_CTRL, REG } from "../../gen/mod.ts";
import type { Field, RegisterInfo } from "../../gen/mod.ts";
import { type AccessSize, isWide, registerAt, type RegisterFile, word } from "../registers/regfile.ts";
import { DWORD_BYTES, WORD_BYTES } from "../core/numbers.ts";
import type { SmmuObserver, TranslationEngine } from "../core/types.ts";
import type { CommandQueue } from "./commands.ts";
import type { Interrupts } from "./irq.ts";
import { ALIASES, sanitize } from "../registers/rules.ts";
import { queueIndexMask, QUEUES } from "../registers/ring.ts";

const W_CR0 = word(REG.CR0);
const W_CR0ACK = word(REG.CR0ACK);
const W_IRQ_CTRL = word(REG.IRQ_CTRL);
const W_IRQ_CTRLACK = word(REG.IRQ_CTRLACK);

/** Registers whose change the engine must see (it reads them directly): any change flushes its caches. */
const ENGINE_INPUTS = new Set<number>([REG.CR0, REG.CR1, REG.CR2, REG.GBPA, REG.STRTAB_BASE, REG.STRTAB_BASE_CFG]);

/** For MSI configuration registers: the IRQ_CTRL enable while which they are read-only. */
const IRQ_CFG_LOCK = new Map<number, Field>([
  [REG.GERROR_IRQ_CFG0, IRQ_CTRL.GERROR_IRQEN],
  [REG.GERROR_IRQ_CFG1, IRQ_CTRL.GERROR_IRQEN],
  [REG.GERROR_IRQ_CFG2, IRQ_CTRL.GERROR_IRQEN],
  [REG.EVENTQ_IRQ_CFG0, IRQ_CTRL.EVENTQ_IRQEN],
  [REG.EVENTQ_IRQ_CFG1, IRQ_CTRL.EVENTQ_IRQEN],
  [REG.EVENTQ_IRQ_CFG2, IRQ_CTRL.EVENTQ_IRQEN],
  [REG.PRIQ_IRQ_CFG0, IRQ_CTRL.PRIQ_IRQEN],
  [REG.PRIQ_IRQ_CFG1, IRQ_CTRL.PRIQ_IRQEN],
  [REG.PRIQ_IRQ_CFG2, IRQ_CTRL.PRIQ_IRQEN],
]);

/** The CR0 enable that makes a queue's BASE (and, for producer-owned queues, PROD) read-only. */
const QUEUE_ENABLE = new Map<string, Field>([["CMDQ", CR0.CMDQEN], ["EVENTQ", CR0.EVENTQEN], ["PRIQ", CR0.PRIQEN]]);

/** The register a read of `size` bytes at `offset` reads, or undefined when the frame does not support the access. */
function readable(offset: number, size: AccessSize): RegisterInfo | undefined {
  const r = registerAt(offset);
  if (r === undefined || offset % size !== 0 || r.access === "RAZ/WI") return undefined;
  if (size === DWORD_BYTES && (!isWide(r) || r.offset !== offset)) return undefined; // no 64-bit access to 32-bit ones
  return r;
}

/** The register frame's behaviour under guest accesses. */
export class RegisterSemantics {
  readonly #regs: RegisterFile;
  readonly #engine: TranslationEngine;
  readonly #cmdq: CommandQueue;
  readonly #irq: Interrupts;
  readonly #observers: readonly SmmuObserver[];

  constructor(
    regs: RegisterFile,
    engine: TranslationEngine,
    cmdq: CommandQueue,
    irq: Interrupts,
    observers: readonly SmmuObserver[],
  ) {
    this.#regs = regs;
    this.#engine = engine;
    this.#cmdq = cmdq;
    this.#irq = irq;
    this.#observers = observers;
  }

  /** A read of `size` bytes at `offset` as [low word, high word]; zero for an access the frame does not support. */
  read(offset: number, size: AccessSize): [number, number] {
    const r = readable(offset, size);
    if (r?.offset === REG.CMDQ_CONS) this.#cmdq.consume(); // a polling guest lets a long batch make progress
    return this.peek(offset, size);
  }

  /** What {@link read} returns, without the side effects of a read. */
  peek(offset: number, size: AccessSize): [number, number] {
    if (readable(offset, size) === undefined) return [0, 0];
    const w = this.#regs.words;
    const at = word(ALIASES.get(offset) ?? offset);
    return size === DWORD_BYTES ? [w[at], w[at + 1]] : [w[at], 0];
  }

  /** A write; ignored where the architecture ignores it (RO, RAZ/WI, misaligned, wrong width, locked). */
  write(offset: number, size: AccessSize, lo: number, hi: number): void {
    const r = registerAt(offset);
    if (r === undefined || offset % size !== 0 || r.access !== "RW") return;
    if (size === DWORD_BYTES && (!isWide(r) || r.offset !== offset)) return;
    const canonical = ALIASES.get(r.offset) ?? r.offset;
    const w = this.#regs.words;
    const at = word(canonical);
    let [vlo, vhi] = [lo, hi];
    if (isWide(r) && size === WORD_BYTES) {
      // 32-bit access to half of a 64-bit register (IHI 0070 6.2): the other half keeps its value.
      [vlo, vhi] = offset === r.offset ? [lo, w[at + 1]] : [w[at], lo];
    }
    if (!this.#writable(canonical)) return;
    const [slo, shi] = sanitize(w, canonical, vlo, vhi);
    this.#store(canonical, slo, shi);
    this.#mirror();
  }

  /** Whether the architecture lets the guest write `offset` now (IHI 0070 6.3: "RO when ..." clauses). */
  #writable(offset: number): boolean {
    const w = this.#regs.words;
    const en = (f: Field) => f.get(w, W_CR0) !== 0 || f.get(w, W_CR0ACK) !== 0;
    switch (offset) {
      case REG.CR2:
      case REG.STRTAB_BASE:
      case REG.STRTAB_BASE_CFG:
        return !en(CR0.SMMUEN);
      case REG.CR1: // only while the SMMU and every queue are disabled (IHI 0070 6.3.11)
        return !en(CR0.SMMUEN) && !en(CR0.CMDQEN) && !en(CR0.EVENTQEN) && !en(CR0.PRIQEN);
    }
    const lock = IRQ_CFG_LOCK.get(offset);
    if (lock !== undefined) return lock.get(w, W_IRQ_CTRL) === 0 && lock.get(w, W_IRQ_CTRLACK) === 0;
    for (const q of QUEUES) {
      const enable = QUEUE_ENABLE.get(q.name)!;
      // BASE is RO while the queue is enabled. The SMMU owns the producer index of the event and PRI queues while
      // they run (a guest write then is CONSTRAINED UNPREDICTABLE; we ignore it). A CONS write to a running command
      // queue is CONSTRAINED UNPREDICTABLE too; we take it (as QEMU does), so a guest may skip a failed command.
      if (offset === q.base || (offset === q.prod && q.name !== "CMDQ")) return !en(enable);
    }
    return true;
  }

  #store(offset: number, lo: number, hi: number): void {
    const w = this.#regs.words;
    const at = word(offset);
    const old = w[at];
    switch (offset) {
      case REG.CR0: {
        // ATSCHK and VMW may change only while SMMUEN is 0, or in the write that clears it (IHI 0070 6.3.9).
        const v = new Uint32Array([lo]);
        const wasEnabled = CR0.SMMUEN.get(w, at);
        if (wasEnabled && CR0.SMMUEN.get(v)) {
          CR0.ATSCHK.set(v, CR0.ATSCHK.get(w, at));
          CR0.VMW.set(v, CR0.VMW.get(w, at));
        }
        w[at] = v[0];
        w[W_CR0ACK] = v[0]; // every change takes effect at once
        if (CR0.SMMUEN.get(v) !== wasEnabled) {
          this.#engine.flushAll();
          for (const o of this.#observers) o.globalChanged?.();
        } else if (v[0] !== old) this.#engine.flushAll();
        this.#cmdq.consume();
        return;
      }
      case REG.GBPA: {
        // The Update handshake: the fields change only in a write with Update = 1; Update then reads 0 at once.
        const v = new Uint32Array([lo]);
        if (!GBPA.Update.get(v)) return;
        GBPA.Update.set(v, 0);
        w[at] = v[0];
        if (v[0] !== old) this.#engine.flushAll();
        return;
      }
      case REG.IRQ_CTRL:
        w[at] = lo;
        w[W_IRQ_CTRLACK] = lo;
        return;
      case REG.GERRORN:
        w[at] = lo;
        // IHI 0070 4.1.3: acknowledging CMDQ_ERR lets the queue resume from CONS (which the guest may have moved).
        if (!this.#irq.errorActive(GERROR.CMDQ_ERR)) this.#cmdq.consume();
        return;
      case REG.CMDQ_CONS: {
        const v = new Uint32Array([lo]);
        CMDQ_CONS.ERR.set(v, CMDQ_CONS.ERR.get(w, at)); // ERR is read-only
        w[at] = v[0];
        this.#cmdq.consume();
        return;
      }
    }
    const wide = isWide(registerAt(offset)!);
    const changed = w[at] !== lo || (wide && w[at + 1] !== hi);
    w[at] = lo;
    if (wide) w[at + 1] = hi;
    if (offset === REG.CMDQ_PROD) return this.#cmdq.consume();
    for (const q of QUEUES) {
      if (offset === q.base) {
        // PROD and CONS keep only the index and wrap bits of the new size.
        const mask = queueIndexMask(w, q);
        q.wr.set(w, q.wr.get(w, word(q.prod)) & mask, word(q.prod));
        q.rd.set(w, q.rd.get(w, word(q.cons)) & mask, word(q.cons));
      }
    }
    if (changed && ENGINE_INPUTS.has(offset)) {
      this.#engine.flushAll();
      if (offset === REG.STRTAB_BASE || offset === REG.STRTAB_BASE_CFG) {
        for (const o of this.#observers) o.globalChanged?.();
      }
    }
  }

  /** Recomputes every derived register from the stored ones (after reset and restore). */
  rederive(): void {
    const w = this.#regs.words;
    w[W_CR0ACK] = w[W_CR0];
    w[W_IRQ_CTRLACK] = w[W_IRQ_CTRL];
    this.#mirror();
  }

  /** Page-0 aliases mirror their page-1 registers. */
  #mirror(): void {
    const w = this.#regs.words;
    for (const [alias, reg] of ALIASES) w[word(alias)] = w[word(reg)];
  }
}
