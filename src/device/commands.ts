/**
 * The command queue consumer (IHI 0070 chapter 4, 3.5): reads commands from CMDQ_CONS up to CMDQ_PROD while
 * CR0.CMDQEN is set, decodes each through gen/, and stops at the first error with CMDQ_CONS.ERR and GERROR.CMDQ_ERR.
 *
 * One batch runs at most min(budget, queue entries) commands, so every access's work is bounded by the ring size
 * (2^CMDQS entries at most, IHI 0070 6.3.2). What is left is resumed by the host's continuation, when it gave one
 * (`onBacklog`), and by the next access that can make progress (a PROD write, a CONS read, the GERRORN
 * acknowledgement, a CR0 write).
 *
 * Re-entrancy (src/core/host_calls.ts): observers and endpoint hooks run in the middle of a command and may write the
 * queue's registers. A batch is never nested in another: a PROD write from a callback is taken up by the running
 * batch. The registers are re-read for every command, and CONS advances past a command only if it still points at
 * it (a guest's CONS write during the command wins), so no command runs twice and CONS never moves backwards.
 * @module
 */
import {
  CFGI_RANGE,
  CMD_ATC_INV,
  CMD_CFGI_CD,
  CMD_CFGI_CD_ALL,
  CMD_CFGI_STE,
  CMD_CFGI_STE_RANGE,
  CMD_PREFETCH_ADDR,
  CMD_PREFETCH_CONFIG,
  CMD_PRI_RESP,
  CMD_PRI_RESP_RESP,
  CMD_PRI_RESP_RESP_CODE,
  CMD_RESUME,
  CMD_RESUME_AC,
  CMD_STALL_TERM,
  CMD_SYNC,
  CMD_SYNC_CS,
  CMD_TLBI_EL2_ASID,
  CMD_TLBI_EL2_VA,
  CMD_TLBI_NH_ALL,
  CMD_TLBI_NH_ASID,
  CMD_TLBI_NH_VA,
  CMD_TLBI_RANGE,
  CMD_TLBI_S12_VMALL,
  CMD_TLBI_S2_IPA,
  CMD_TLBI_TG,
  CMD_TLBI_TTL,
  CMD_TLBI_VA,
  CMDQ_CONS,
  CMDQ_CONS_ERR,
  CMDQ_PROD,
  COMMAND,
  COMMAND_LAYOUT,
  CR0ACK,
  CR2,
  GERROR,
  IDR0,
  IDR0_ASID16_BITS,
  IDR0_STALL_MODEL,
  IDR0_VMID16_BITS,
  IDR3,
  IMPL_STATE,
  OPCODE,
  REG,
} from "../../gen/mod.ts";
import { ABORT, type GuestMemory } from "../core/memory.ts";
import type { RegisterFile } from "../registers/regfile.ts";
import { word } from "../registers/regfile.ts";
import { NO_SSID } from "../core/types.ts";
import { lowBits, WORD_BYTES } from "../core/numbers.ts";
import type { Invalidation, SmmuObserver, TlbRange, TranslationEngine } from "../core/types.ts";
import type { Interrupts } from "./irq.ts";
import { HostCalls } from "../core/host_calls.ts";
import { CMDQ, Ring } from "../registers/ring.ts";
import type { Stalls } from "./stall.ts";

/** An ATS invalidation for an endpoint (CMD_ATC_INV), as the host's ATS model receives it. */
export interface AtcInvalidation {
  /** StreamID (PCIe Requester ID) of the endpoint. */
  sid: number;
  /** PASID, or -1 for none. */
  ssid: number;
  /** First address of the span. */
  addr: number;
  /** Span as log2 of the number of 4 KiB pages (52: everything). */
  size: number;
  /** Global Invalidate flag (with a PASID). */
  global: boolean;
}

/** A page request group response (CMD_PRI_RESP), as the host's PRI model receives it. */
export interface PriResponse {
  /** StreamID of the endpoint. */
  sid: number;
  /** PASID, or -1 for none. */
  ssid: number;
  /** Page request group index. */
  prgIndex: number;
  /** Response code as CMD_PRI_RESP encodes it (gen/ CMD_PRI_RESP_RESP). */
  resp: number;
  /** The PRG Response Message's ResponseCode the endpoint receives (gen/ PRG_RESPONSE_CODE, IHI 0070 8.3). */
  code: number;
  /** Sent by the SMMU itself (IHI 0070 8.1, 8.2: the PRI queue could not take the request), not by CMD_PRI_RESP. */
  auto: boolean;
}

/** Host models of the endpoints behind the SMMU, for the commands that reach them. */
export interface EndpointHooks {
  /** CMD_ATC_INV: return false when the endpoint did not complete it (the next CMD_SYNC fails, CERROR_ATC_INV_SYNC). */
  atcInvalidate?(inv: AtcInvalidation): boolean | void;
  /** A PRG response: CMD_PRI_RESP, or an automatic response to a request the PRI queue could not take. */
  priResponse?(resp: PriResponse): void;
}

const W_IDR0 = word(REG.IDR0);
const W_IDR3 = word(REG.IDR3);
const W_CR0ACK = word(REG.CR0ACK);
const W_CR2 = word(REG.CR2);
const W_IMPL_STATE = word(REG.IMPL_STATE);
/**
 * The commands that need stage 1: the stage-1 TLBIs (IHI 0070 4.4.2: "On a stage 2-only SMMU, they result in
 * CERROR_ILL"), CMD_CFGI_CD and CMD_CFGI_CD_ALL (4.3.3, 4.3.4: "raises CERROR_ILL when stage 1 is not implemented").
 */
const STAGE1_ONLY: ReadonlySet<number> = new Set([
  OPCODE.TLBI_NH_ALL,
  OPCODE.TLBI_NH_ASID,
  OPCODE.TLBI_NH_VA,
  OPCODE.TLBI_NH_VAA,
  OPCODE.TLBI_EL2_ALL,
  OPCODE.TLBI_EL2_ASID,
  OPCODE.TLBI_EL2_VA,
  OPCODE.TLBI_EL2_VAA,
  OPCODE.CFGI_CD,
  OPCODE.CFGI_CD_ALL,
]);
/** The TLBI commands that carry the range fields (NUM, SCALE, TTL, TG). */
const RANGE_TLBI: ReadonlySet<number> = new Set([
  OPCODE.TLBI_NH_VA,
  OPCODE.TLBI_NH_VAA,
  OPCODE.TLBI_EL2_VA,
  OPCODE.TLBI_EL2_VAA,
  OPCODE.TLBI_S2_IPA,
]);
const W_CMDQ_PROD = word(REG.CMDQ_PROD);
const W_CMDQ_CONS = word(REG.CMDQ_CONS);

/** Default number of commands one access or continuation may execute when the host gives a continuation hook. */
export const COMMAND_BUDGET = 1024;

/** The command queue consumer. */
export class CommandQueue {
  /** Commands executed, for tests and tools. */
  executed = 0;
  /** The stall model's transactions, for CMD_RESUME and CMD_STALL_TERM (set by the device). */
  stalls: Stalls | null = null;
  readonly #cmd = new Uint32Array(COMMAND_LAYOUT.words);
  /** Whether a batch is running (a callback's queue write must not start another inside it). */
  #running = false;
  /** The queue as its registers described it when last read (#load). */
  readonly #ring = new Ring(CMDQ.entryBytes);

  readonly #regs: RegisterFile;
  readonly #memory: GuestMemory;
  readonly #engine: TranslationEngine;
  readonly #irq: Interrupts;
  readonly #observers: readonly SmmuObserver[];
  readonly #hooks: EndpointHooks;
  readonly #budget: number;
  readonly #onBacklog: () => void;
  readonly #calls: HostCalls;

  constructor(
    regs: RegisterFile,
    memory: GuestMemory,
    engine: TranslationEngine,
    irq: Interrupts,
    observers: readonly SmmuObserver[],
    hooks: EndpointHooks = {},
    /** Most commands one batch runs (beside the ring size). */
    budget = Infinity,
    /** Told when a batch stopped at its bound with commands still published. */
    onBacklog: () => void = () => {},
    /** The device's calls: a callback that called the device may have changed the queue's registers. */
    calls: HostCalls = new HostCalls(),
  ) {
    this.#regs = regs;
    this.#memory = memory;
    this.#engine = engine;
    this.#irq = irq;
    this.#observers = observers;
    this.#hooks = hooks;
    this.#budget = budget;
    this.#onBacklog = onBacklog;
    this.#calls = calls;
  }

  /**
   * Reads the queue's geometry from its registers; false when no batch can run: the queue disabled, CMDQ_ERR active,
   * or PROD more than a queue ahead of CONS, which is inconsistent (IHI 0070 3.5.1): nothing runs until it is not.
   */
  #load(): boolean {
    const w = this.#regs.words;
    if (!CR0ACK.CMDQEN.get(w, W_CR0ACK) || this.#irq.errorActive(GERROR.CMDQ_ERR)) return false;
    const published = this.#ring.load(CMDQ, w).entries(
      CMDQ_PROD.WR.get(w, W_CMDQ_PROD),
      CMDQ_CONS.RD.get(w, W_CMDQ_CONS),
    );
    return published >= 0;
  }

  /**
   * Runs a batch: commands from CONS towards PROD, stopping at the first error, at most min(budget, queue entries).
   * From inside a running batch (a callback's register write) it does nothing: the running batch goes on.
   */
  consume(): void {
    if (this.#running || !this.#load()) return;
    this.#running = true;
    const ring = this.#ring;
    try {
      const limit = Math.min(this.#budget, ring.size);
      for (let n = 0; n < limit; n++) {
        const w = this.#regs.words;
        const cons = ring.index(CMDQ_CONS.RD.get(w, W_CMDQ_CONS));
        if (ring.empty(CMDQ_PROD.WR.get(w, W_CMDQ_PROD), cons)) return;
        const entered = this.#calls.entered;
        if (!this.#step(cons)) return;
        // A callback called the device: it may have disabled the queue, raised an error or moved its base or PROD.
        if (this.#calls.entered !== entered && !this.#load()) return;
      }
      const w = this.#regs.words;
      if (!ring.empty(CMDQ_PROD.WR.get(w, W_CMDQ_PROD), CMDQ_CONS.RD.get(w, W_CMDQ_CONS))) this.#onBacklog();
    } finally {
      this.#running = false;
    }
  }

  /** Runs the command at `cons`; false when it failed (the queue stops there). */
  #step(cons: number): boolean {
    const w = this.#regs.words;
    const at = this.#ring.slot(cons);
    let err: number = CMDQ_CONS_ERR.CERROR_NONE;
    for (let i = 0; i < this.#cmd.length && err === CMDQ_CONS_ERR.CERROR_NONE; i++) {
      const v = this.#memory.read32(at + WORD_BYTES * i);
      if (v === ABORT) err = CMDQ_CONS_ERR.CERROR_ABT;
      else this.#cmd[i] = v;
    }
    if (err === CMDQ_CONS_ERR.CERROR_NONE) {
      try {
        err = this.#execute(this.#cmd);
      } catch (e) {
        this.#complete(cons); // a host callback threw: the command itself was carried out
        throw e;
      }
    }
    if (err !== CMDQ_CONS_ERR.CERROR_NONE) {
      // IHI 0070 4.1.3: CONS stays at the failed command; ERR says why; CMDQ_ERR becomes active.
      CMDQ_CONS.ERR.set(w, err, W_CMDQ_CONS);
      this.#irq.raise(GERROR.CMDQ_ERR);
      return false;
    }
    this.#complete(cons);
    return true;
  }

  /** The command at `cons` ran: CONS moves past it, unless the guest wrote CONS meanwhile (its write wins). */
  #complete(cons: number): void {
    const w = this.#regs.words;
    const ring = this.#ring;
    this.executed++;
    if (ring.index(CMDQ_CONS.RD.get(w, W_CMDQ_CONS)) === cons) CMDQ_CONS.RD.set(w, ring.next(cons), W_CMDQ_CONS);
  }

  #feature(f: { get(w: Uint32Array, o?: number): number }, w: number): boolean {
    return f.get(this.#regs.words, w) !== 0;
  }

  /** Executes one command; returns a CMDQ_CONS.ERR code (CERROR_NONE on success). */
  #execute(c: Uint32Array): number {
    const ILL = CMDQ_CONS_ERR.CERROR_ILL;
    const op = COMMAND.Opcode.get(c);
    const w = this.#regs.words;
    const s1 = this.#feature(IDR0.S1P, W_IDR0);
    const s2 = this.#feature(IDR0.S2P, W_IDR0);
    const hyp = this.#feature(IDR0.Hyp, W_IDR0);
    // With 8-bit VMIDs and ASIDs, the upper 8 bits of a command's VMID and ASID are RES0: ignored (IHI 0070 4.4).
    const vmid = (v: number) => (s2 ? lowBits(v, IDR0_VMID16_BITS[IDR0.VMID16.get(w, W_IDR0)]) : 0);
    const asid = (v: number) => lowBits(v, IDR0_ASID16_BITS[IDR0.ASID16.get(w, W_IDR0)]);
    const inv = (scope: Invalidation) => (this.#engine.invalidate(scope), CMDQ_CONS_ERR.CERROR_NONE);
    // Stage-1 invalidations need stage 1, and a range TLBI whose TG selects a granule must not have NUM, SCALE and
    // (effective) TTL all zero: that encoding is reserved (CERROR_ILL, IHI 0070 4.4.1.1).
    if (STAGE1_ONLY.has(op) && !s1) return ILL;
    if (RANGE_TLBI.has(op) && this.#reservedRange(c)) return ILL;
    switch (op) {
      case OPCODE.PREFETCH_CONFIG: // a hint: nothing to prefetch into in this model
        return CMD_PREFETCH_CONFIG.SSec.get(c) ? ILL : CMDQ_CONS_ERR.CERROR_NONE;
      case OPCODE.PREFETCH_ADDR:
        return CMD_PREFETCH_ADDR.SSec.get(c) ? ILL : CMDQ_CONS_ERR.CERROR_NONE;
      case OPCODE.CFGI_STE:
        if (CMD_CFGI_STE.SSec.get(c)) return ILL;
        return inv({ kind: "ste", sid: CMD_CFGI_STE.StreamID.get(c), leaf: CMD_CFGI_STE.Leaf.get(c) === 1 });
      case OPCODE.CFGI_STE_RANGE: {
        if (CMD_CFGI_STE_RANGE.SSec.get(c)) return ILL;
        const range = CMD_CFGI_STE_RANGE.Range.get(c);
        // Range 31 is CMD_CFGI_ALL (IHI 0070 4.3.6).
        return inv(
          range === CFGI_RANGE.ALL ? { kind: "cfg_all" } : {
            kind: "ste_range",
            sid: CMD_CFGI_STE_RANGE.StreamID.get(c),
            range,
          },
        );
      }
      case OPCODE.CFGI_CD:
        if (CMD_CFGI_CD.SSec.get(c)) return ILL;
        return inv({
          kind: "cd",
          sid: CMD_CFGI_CD.StreamID.get(c),
          ssid: CMD_CFGI_CD.SubstreamID.get(c),
          leaf: CMD_CFGI_CD.Leaf.get(c) === 1,
        });
      case OPCODE.CFGI_CD_ALL:
        if (CMD_CFGI_CD_ALL.SSec.get(c)) return ILL;
        return inv({ kind: "cd_all", sid: CMD_CFGI_CD_ALL.StreamID.get(c) });
      case OPCODE.TLBI_NH_ALL:
        return inv({ kind: "nh_all", vmid: vmid(CMD_TLBI_NH_ALL.VMID.get(c)) });
      case OPCODE.TLBI_NH_ASID:
        return inv({
          kind: "nh_asid",
          vmid: vmid(CMD_TLBI_NH_ASID.VMID.get(c)),
          asid: asid(CMD_TLBI_NH_ASID.ASID.get(c)),
        });
      case OPCODE.TLBI_NH_VA:
      case OPCODE.TLBI_NH_VAA:
        return inv({
          kind: "nh_va",
          vmid: vmid(CMD_TLBI_NH_VA.VMID.get(c)),
          asid: op === OPCODE.TLBI_NH_VA ? asid(CMD_TLBI_NH_VA.ASID.get(c)) : null,
          addr: CMD_TLBI_VA.Address.getAddress(c),
          leaf: CMD_TLBI_RANGE.Leaf.get(c) === 1,
          range: this.#range(c),
        });
      case OPCODE.TLBI_EL2_ALL:
        return hyp ? inv({ kind: "el2_all" }) : ILL;
      case OPCODE.TLBI_EL2_ASID:
        return hyp ? inv({ kind: "el2_asid", asid: asid(CMD_TLBI_EL2_ASID.ASID.get(c)) }) : ILL;
      case OPCODE.TLBI_EL2_VA:
      case OPCODE.TLBI_EL2_VAA: {
        if (!hyp) return ILL;
        // The ASID is used only in the E2H regime (CR2.E2H = 1, IHI 0070 4.4.2.8).
        const e2h = CR2.E2H.get(this.#regs.words, W_CR2) === 1;
        return inv({
          kind: "el2_va",
          asid: op === OPCODE.TLBI_EL2_VA && e2h ? asid(CMD_TLBI_EL2_VA.ASID.get(c)) : null,
          addr: CMD_TLBI_VA.Address.getAddress(c),
          leaf: CMD_TLBI_RANGE.Leaf.get(c) === 1,
          range: this.#range(c),
        });
      }
      case OPCODE.TLBI_S12_VMALL:
        return s2 ? inv({ kind: "s12_vmall", vmid: vmid(CMD_TLBI_S12_VMALL.VMID.get(c)) }) : ILL;
      case OPCODE.TLBI_S2_IPA:
        if (!s2) return ILL;
        return inv({
          kind: "s2_ipa",
          vmid: vmid(CMD_TLBI_S2_IPA.VMID.get(c)),
          addr: CMD_TLBI_S2_IPA.Address.getAddress(c),
          leaf: CMD_TLBI_RANGE.Leaf.get(c) === 1,
          range: this.#range(c),
        });
      case OPCODE.TLBI_NSNH_ALL:
        return inv({ kind: "nsnh_all" });
      case OPCODE.ATC_INV:
        return this.#feature(IDR0.ATS, W_IDR0) ? this.#atcInv(c) : ILL;
      case OPCODE.PRI_RESP: {
        const resp = CMD_PRI_RESP.Resp.get(c);
        if (!this.#feature(IDR0.PRI, W_IDR0) || !(resp in CMD_PRI_RESP_RESP_VALUES)) return ILL;
        // IHI 0070 6.3.9.6: with SMMUEN 0 "CMD_ATC_INV and CMD_PRI_RESP commands are ignored".
        if (!this.#feature(CR0ACK.SMMUEN, W_CR0ACK)) return CMDQ_CONS_ERR.CERROR_NONE;
        this.#hooks.priResponse?.({
          sid: CMD_PRI_RESP.StreamID.get(c),
          ssid: CMD_PRI_RESP.SSV.get(c) ? CMD_PRI_RESP.SubstreamID.get(c) : NO_SSID,
          prgIndex: CMD_PRI_RESP.PRGIndex.get(c),
          resp,
          code: CMD_PRI_RESP_RESP_CODE[resp]!,
          auto: false,
        });
        return CMDQ_CONS_ERR.CERROR_NONE;
      }
      case OPCODE.RESUME:
      case OPCODE.STALL_TERM: {
        // IHI 0070 4.7.1, 4.7.2: CERROR_ILL with STALL_MODEL 0b01, and for SSec 1 on the Non-secure queue (4.1.6).
        const terminateOnly = IDR0.STALL_MODEL.get(this.#regs.words, W_IDR0) === IDR0_STALL_MODEL.TERMINATE_ONLY;
        const ssec = op === OPCODE.RESUME ? CMD_RESUME.SSec : CMD_STALL_TERM.SSec;
        if (terminateOnly || ssec.get(c)) return ILL;
        // Both take effect as they are consumed; the transactions end when this batch is over (src/device/stall.ts).
        if (op === OPCODE.STALL_TERM) this.stalls?.terminateStream(CMD_STALL_TERM.StreamID.get(c));
        else {
          const retry = CMD_RESUME.Ac.get(c) === CMD_RESUME_AC.RETRY; // Ab is IGNORED: TERM_MODEL 1 always aborts
          this.stalls?.resume(CMD_RESUME.StreamID.get(c), CMD_RESUME.STAG.get(c), retry);
        }
        return CMDQ_CONS_ERR.CERROR_NONE;
      }
      case OPCODE.SYNC:
        return this.#sync(c);
      // CFGI_VMS_PIDM needs IDR3.MPAM; TLBI_EL3_* belong to the Secure queue: neither is available here, so each is
      // CERROR_ILL (IHI 0070 4.3.5, 4.4.2.5). So is every opcode the architecture does not define.
      default:
        return ILL;
    }
  }

  /** A range TLBI (RIL advertised, TG non-zero) with NUM, SCALE and effective TTL all zero: a reserved encoding. */
  #reservedRange(c: Uint32Array): boolean {
    return this.#isRange(c) && CMD_TLBI_RANGE.NUM.get(c) === 0 && CMD_TLBI_RANGE.SCALE.get(c) === 0 &&
      this.#ttl(c) === CMD_TLBI_TTL.ANY;
  }

  /**
   * The effective TTL hint: with TG = 16 KiB, TTL = 0b01 (level 1) is Reserved without 52-bit 16 KiB tables (IDR5.DS,
   * not implemented here) and "hardware treats TTL == 0b01 as though TTL == 0b00" (IHI 0070 4.4.1.1).
   */
  #ttl(c: Uint32Array): number {
    const ttl = CMD_TLBI_RANGE.TTL.get(c);
    const reserved = ttl === CMD_TLBI_TTL.LEVEL_1 && CMD_TLBI_RANGE.TG.get(c) === CMD_TLBI_TG.GRAN_16K;
    return reserved ? CMD_TLBI_TTL.ANY : ttl;
  }

  /** Whether a TLBI uses its range form: RIL advertised and TG non-zero (else the fields are RES0, ignored). */
  #isRange(c: Uint32Array): boolean {
    return CMD_TLBI_RANGE.TG.get(c) !== CMD_TLBI_TG.ANY && this.#feature(IDR3.RIL, W_IDR3);
  }

  /** The range form of a TLBI (see #isRange), or null. */
  #range(c: Uint32Array): TlbRange | null {
    if (!this.#isRange(c)) return null;
    return {
      num: CMD_TLBI_RANGE.NUM.get(c),
      scale: CMD_TLBI_RANGE.SCALE.get(c),
      tg: CMD_TLBI_RANGE.TG.get(c),
      ttl: this.#ttl(c),
    };
  }

  #atcInv(c: Uint32Array): number {
    // IHI 0070 6.3.9.6: with SMMUEN 0 "CMD_ATC_INV and CMD_PRI_RESP commands are ignored".
    if (!this.#feature(CR0ACK.SMMUEN, W_CR0ACK)) return CMDQ_CONS_ERR.CERROR_NONE;
    const ssv = CMD_ATC_INV.SSV.get(c) === 1;
    const ok = this.#hooks.atcInvalidate?.({
      sid: CMD_ATC_INV.StreamID.get(c),
      ssid: ssv ? CMD_ATC_INV.SubstreamID.get(c) : NO_SSID,
      addr: CMD_ATC_INV.Address.getAddress(c),
      size: CMD_ATC_INV.Size.get(c),
      global: ssv && CMD_ATC_INV.Global.get(c) === 1, // IHI 0070 4.5.1: "IGNORED when SSV == 0"
    });
    // Saved state (IMPL_STATE): a CMD_SYNC after a restore still fails.
    if (ok === false) IMPL_STATE.ATC_INV_FAILED.set(this.#regs.words, 1, W_IMPL_STATE);
    return CMDQ_CONS_ERR.CERROR_NONE;
  }

  #sync(c: Uint32Array): number {
    const cs = CMD_SYNC.CS.get(c);
    if (!(cs in CMD_SYNC_CS_VALUES)) return CMDQ_CONS_ERR.CERROR_ILL; // CS = 0b11 is reserved
    if (IMPL_STATE.ATC_INV_FAILED.get(this.#regs.words, W_IMPL_STATE) === 1) {
      // IHI 0070 7.1: a CMD_SYNC that cannot complete an earlier CMD_ATC_INV fails, CONS at the CMD_SYNC.
      IMPL_STATE.ATC_INV_FAILED.set(this.#regs.words, 0, W_IMPL_STATE);
      return CMDQ_CONS_ERR.CERROR_ATC_INV_SYNC;
    }
    for (const o of this.#observers) o.synced?.();
    if (cs === CMD_SYNC_CS.SIG_IRQ) {
      // IHI 0070 4.7.3 SIG_IRQ: an MSI when supported and MSIAddress is non-zero; and "an event on a unique wired
      // interrupt output is asserted on this signal, regardless of the value of MSIAddress".
      this.#irq.pulse("cmdqSync");
      const addr = this.#irq.msiSupported() ? CMD_SYNC.MSIAddress.getAddress(c) : 0;
      if (addr !== 0 && !this.#irq.sendMsi(addr, CMD_SYNC.MSIData.get(c))) this.#irq.raise(GERROR.MSI_CMDQ_ABT_ERR);
    } else if (cs === CMD_SYNC_CS.SIG_SEV && this.#feature(IDR0.SEV, W_IDR0)) {
      this.#irq.pulse("sev");
    }
    return CMDQ_CONS_ERR.CERROR_NONE;
  }
}

const CMD_SYNC_CS_VALUES: Readonly<Record<number, true>> = Object.fromEntries(
  Object.values(CMD_SYNC_CS).map((v) => [v, true]),
);
const CMD_PRI_RESP_RESP_VALUES: Readonly<Record<number, true>> = Object.fromEntries(
  Object.values(CMD_PRI_RESP_RESP).map((v) => [v, true]),
);
