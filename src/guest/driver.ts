/**
 * A small Linux-like SMMUv3 driver (the sequence of drivers/iommu/arm/arm-smmu-v3 probe and reset): probe the ID
 * registers, allocate the stream table and queues in guest memory, enable, issue commands, consume events.
 * Everything goes through the public MMIO API and guest memory, with gen/ accessors for every field.
 * @module
 */
import {
  CFGI_RANGE,
  CMD_ATC_INV,
  CMD_CFGI_CD,
  CMD_CFGI_STE,
  CMD_CFGI_STE_RANGE,
  CMD_PRI_RESP,
  CMD_RESUME,
  CMD_RESUME_AC,
  CMD_STALL_TERM,
  CMDQ_BASE,
  CMDQ_CONS,
  CMDQ_PROD,
  COMMAND,
  COMMAND_LAYOUT,
  CR0,
  CR2,
  EVENTQ_BASE,
  GBPA,
  IDR0,
  IDR1,
  OPCODE,
  PRIQ_BASE,
  REG,
  STE,
  STE_BYTES,
  STE_CONFIG,
  STE_LAYOUT,
  STRTAB_BASE,
  STRTAB_BASE_CFG,
  STRTAB_BASE_CFG_FMT,
  STRTAB_BASE_LAYOUT,
} from "../../gen/mod.ts";
import type { Smmu } from "../device/smmu.ts";
import { HostError } from "../core/errors.ts";
import type { GuestMemory } from "../core/memory.ts";
import { CMDQ, EVENTQ, PRIQ, type QueueRegs, Ring } from "../registers/ring.ts";
import { DWORD_BYTES, WORD_BITS, WORD_BYTES } from "../core/numbers.ts";

/** Where the driver puts its structures in guest memory. */
export interface DriverLayout {
  /** Base of the linear stream table. */
  strtab: number;
  /** Base of the command queue. */
  cmdq: number;
  /** Base of the event queue. */
  eventq: number;
  /** Log2 of the command queue entries the driver asks for (clamped to IDR1.CMDQS). */
  cmdqLog2: number;
  /** Log2 of the event queue entries the driver asks for (clamped to IDR1.EVENTQS). */
  eventqLog2: number;
  /** StreamID bits of the linear stream table. */
  sidBits: number;
  /** Base of the PRI queue (used when the SMMU advertises PRI). */
  priq: number;
  /** Log2 of the PRI queue entries the driver asks for (clamped to IDR1.PRIQS). */
  priqLog2: number;
}

/** The layout {@link Driver} uses unless told otherwise. */
export const DEFAULT_LAYOUT: DriverLayout = {
  strtab: 0x4100_0000,
  cmdq: 0x4200_0000,
  eventq: 0x4210_0000,
  cmdqLog2: 8,
  eventqLog2: 5,
  sidBits: 8,
  priq: 0x4220_0000,
  priqLog2: 5,
};

/** SMMU_CR2 as Linux programs it: record invalid StreamIDs (C_BAD_STREAMID), no broadcast TLB maintenance. */
export const LINUX_CR2: number = (() => {
  const w = new Uint32Array(1);
  CR2.RECINVSID.set(w, 1);
  CR2.PTM.set(w, 1);
  return w[0];
})();

const u32 = (v: bigint) => Number(BigInt.asUintN(WORD_BITS, v));

/** One command as its words: `opcode`, then whatever `fill` sets with gen/ accessors. */
export function command(opcode: number, fill?: (w: Uint32Array) => void): Uint32Array {
  const w = new Uint32Array(COMMAND_LAYOUT.words);
  COMMAND.Opcode.set(w, opcode);
  fill?.(w);
  return w;
}

/** The driver's view of one device. */
export class Driver {
  /** Where the structures go. */
  readonly layout: DriverLayout;
  /** SMMU_IDR0 as probed. */
  idr0 = 0;
  /** SMMU_IDR1 as probed. */
  idr1 = 0;
  /** Log2 of the command queue entries in use (after {@link probe}). */
  cmdqLog2 = 0;
  /** Log2 of the event queue entries in use (after {@link probe}). */
  eventqLog2 = 0;
  /** Log2 of the PRI queue entries in use (after {@link probe}; meaningful with PRI). */
  priqLog2 = 0;
  readonly #cmdq = new Ring(CMDQ.entryBytes);
  readonly #eventq = new Ring(EVENTQ.entryBytes);
  readonly #priq = new Ring(PRIQ.entryBytes);

  /** A driver for `smmu` (or anything that takes its register accesses, a VMM's MMIO trap), whose guest memory is
   * `memory`. */
  constructor(
    readonly smmu: Pick<Smmu, "mmioRead" | "mmioWrite">,
    readonly memory: GuestMemory,
    layout: Partial<DriverLayout> = {},
  ) {
    this.layout = { ...DEFAULT_LAYOUT, ...layout };
  }

  /** A 32-bit register read. */
  read(offset: number): number {
    return u32(this.smmu.mmioRead(offset, WORD_BYTES));
  }
  /** A 32-bit register write. */
  write(offset: number, value: number): void {
    this.smmu.mmioWrite(offset, WORD_BYTES, BigInt(value >>> 0));
  }
  /** A 64-bit register write from its halves. */
  write64(offset: number, lo: number, hi: number): void {
    this.smmu.mmioWrite(offset, DWORD_BYTES, (BigInt(hi >>> 0) << BigInt(WORD_BITS)) | BigInt(lo >>> 0));
  }

  /** Reads the ID registers and picks queue sizes within them (arm_smmu_device_hw_probe). */
  probe(): void {
    this.idr0 = this.read(REG.IDR0);
    this.idr1 = this.read(REG.IDR1);
    const id = new Uint32Array([this.idr0, this.idr1]);
    this.cmdqLog2 = Math.min(this.layout.cmdqLog2, IDR1.CMDQS.get(id, 1));
    this.eventqLog2 = Math.min(this.layout.eventqLog2, IDR1.EVENTQS.get(id, 1));
    this.priqLog2 = Math.min(this.layout.priqLog2, IDR1.PRIQS.get(id, 1));
  }

  /** Whether the probed SMMU advertises `feature` (an IDR0 field, e.g. IDR0.PRI). */
  has(feature: { get(w: Uint32Array): number }): boolean {
    return feature.get(new Uint32Array([this.idr0])) !== 0;
  }

  /** The address of STE `sid` in the linear stream table. */
  steAddress(sid: number): number {
    return this.layout.strtab + sid * STE_BYTES;
  }

  /** Writes STE `sid` of the linear stream table with `config` (gen/ STE_CONFIG), valid; `fill` sets the rest. */
  writeSte(sid: number, config: number = STE_CONFIG.BYPASS, fill?: (ste: Uint32Array) => void): void {
    const ste = new Uint32Array(STE_LAYOUT.words);
    STE.V.set(ste, 1);
    STE.Config.set(ste, config);
    fill?.(ste);
    const at = this.steAddress(sid);
    for (let i = 0; i < ste.length; i++) this.memory.write32(at + WORD_BYTES * i, ste[i]);
  }

  /**
   * The arm_smmu_device_reset sequence: disable, program tables and queues, enable queues, invalidate, enable.
   * `cr2` is written if given (Linux writes {@link LINUX_CR2}); `irqs` goes to IRQ_CTRL; `smmuen` (default true).
   * With `pri` the PRI queue is programmed and enabled, with `atschk` ATS checking (safe mode) is on, as Linux does
   * where the SMMU offers PRI and ATS (both need the feature advertised).
   */
  reset(options: { smmuen?: boolean; irqs?: number; cr2?: number; pri?: boolean; atschk?: boolean } = {}): void {
    const { strtab, cmdq, eventq, sidBits } = this.layout;
    this.write(REG.CR0, 0);
    if (options.cr2 !== undefined) this.write(REG.CR2, options.cr2);
    const r = new Uint32Array(STRTAB_BASE_LAYOUT.words);
    STRTAB_BASE.ADDR.setAddress(r, strtab);
    STRTAB_BASE.RA.set(r, 1);
    this.write64(REG.STRTAB_BASE, r[0], r[1]);
    const cfg = new Uint32Array(1);
    STRTAB_BASE_CFG.FMT.set(cfg, STRTAB_BASE_CFG_FMT.LINEAR);
    STRTAB_BASE_CFG.LOG2SIZE.set(cfg, sidBits);
    this.write(REG.STRTAB_BASE_CFG, cfg[0]);
    r.fill(0);
    CMDQ_BASE.ADDR.setAddress(r, cmdq);
    CMDQ_BASE.LOG2SIZE.set(r, this.cmdqLog2);
    this.write64(REG.CMDQ_BASE, r[0], r[1]);
    this.write(REG.CMDQ_PROD, 0);
    this.write(REG.CMDQ_CONS, 0);
    r.fill(0);
    EVENTQ_BASE.ADDR.setAddress(r, eventq);
    EVENTQ_BASE.LOG2SIZE.set(r, this.eventqLog2);
    this.write64(REG.EVENTQ_BASE, r[0], r[1]);
    this.write(REG.EVENTQ_PROD, 0);
    this.write(REG.EVENTQ_CONS, 0);
    const pri = options.pri === true && this.has(IDR0.PRI);
    if (pri) {
      r.fill(0);
      PRIQ_BASE.ADDR.setAddress(r, this.layout.priq);
      PRIQ_BASE.LOG2SIZE.set(r, this.priqLog2);
      this.write64(REG.PRIQ_BASE, r[0], r[1]);
      this.write(REG.PRIQ_PROD, 0);
      this.write(REG.PRIQ_CONS, 0);
    }
    const cr0 = new Uint32Array(1);
    CR0.CMDQEN.set(cr0, 1);
    this.enable(cr0[0]);
    this.invalidateAll();
    CR0.EVENTQEN.set(cr0, 1);
    // Linux enables the PRI queue with the event queue, and ATS checking (safe mode) where ATS is offered.
    if (pri) CR0.PRIQEN.set(cr0, 1);
    if (options.atschk === true && this.has(IDR0.ATS)) CR0.ATSCHK.set(cr0, 1);
    this.enable(cr0[0]);
    this.write(REG.IRQ_CTRL, options.irqs ?? 0);
    if (options.smmuen ?? true) {
      CR0.SMMUEN.set(cr0, 1);
      this.enable(cr0[0]);
    }
  }

  /** Writes CR0 and polls CR0ACK (arm_smmu_write_reg_sync); throws {@link HostError} if the ack never matches. */
  enable(cr0: number): void {
    this.write(REG.CR0, cr0);
    if (this.read(REG.CR0ACK) !== cr0) throw new HostError(`CR0ACK ${this.read(REG.CR0ACK)} != ${cr0}`);
  }

  /** Writes GBPA with Update and polls Update clear (arm_smmu_update_gbpa). */
  updateGbpa(value: number): void {
    const v = new Uint32Array([value]);
    GBPA.Update.set(v, 1);
    this.write(REG.GBPA, v[0]);
    if (GBPA.Update.get(new Uint32Array([this.read(REG.GBPA)]))) throw new HostError("GBPA.Update stuck");
  }

  /** Places one command at PROD and publishes PROD (with its wrap bit). */
  issue(cmd: Uint32Array): void {
    const ring = this.#cmdq.set(this.cmdqLog2, this.layout.cmdq);
    const prod = ring.index(CMDQ_PROD.WR.get(new Uint32Array([this.read(REG.CMDQ_PROD)])));
    const at = ring.slot(prod);
    for (let i = 0; i < COMMAND_LAYOUT.words; i++) this.memory.write32(at + WORD_BYTES * i, cmd[i]);
    this.write(REG.CMDQ_PROD, ring.next(prod));
  }

  /** Issues CMD_SYNC (optionally with fields) and returns whether CONS caught up with PROD. */
  sync(fill?: (w: Uint32Array) => void): boolean {
    this.issue(command(OPCODE.SYNC, fill));
    const prod = CMDQ_PROD.WR.get(new Uint32Array([this.read(REG.CMDQ_PROD)]));
    return this.#cmdq.empty(prod, this.consIndex());
  }

  /** CMD_CFGI_ALL, CMD_TLBI_NSNH_ALL, CMD_SYNC: forget every cached configuration and translation. */
  invalidateAll(): boolean {
    this.issue(command(OPCODE.CFGI_STE_RANGE, (w) => CMD_CFGI_STE_RANGE.Range.set(w, CFGI_RANGE.ALL)));
    this.issue(command(OPCODE.TLBI_NSNH_ALL));
    return this.sync();
  }

  /** CMD_CFGI_STE for `sid` (after rewriting its STE), then CMD_SYNC (arm_smmu_sync_ste_for_sid). */
  invalidateSte(sid: number): boolean {
    this.issue(command(OPCODE.CFGI_STE, (w) => CMD_CFGI_STE.StreamID.set(w, sid)));
    return this.sync();
  }

  /** CMD_CFGI_CD for `sid`/`ssid` (after rewriting its CD), then CMD_SYNC. */
  invalidateCd(sid: number, ssid: number): boolean {
    this.issue(command(OPCODE.CFGI_CD, (w) => {
      CMD_CFGI_CD.StreamID.set(w, sid);
      CMD_CFGI_CD.SubstreamID.set(w, ssid);
    }));
    return this.sync();
  }

  /** CMDQ_CONS.RD. */
  consIndex(): number {
    return CMDQ_CONS.RD.get(new Uint32Array([this.read(REG.CMDQ_CONS)]));
  }

  /** CMDQ_CONS.ERR. */
  consError(): number {
    return CMDQ_CONS.ERR.get(new Uint32Array([this.read(REG.CMDQ_CONS)]));
  }

  /** Reads every pending event record and advances EVENTQ_CONS past them (arm_smmu_evtq_thread). */
  events(): Uint32Array[] {
    return this.#drain(EVENTQ, this.#eventq.set(this.eventqLog2, this.layout.eventq));
  }

  /**
   * Reads every pending PRI queue record and advances PRIQ_CONS past them, acknowledging an overflow
   * (arm_smmu_priq_thread).
   */
  pageRequests(): Uint32Array[] {
    return this.#drain(PRIQ, this.#priq.set(this.priqLog2, this.layout.priq));
  }

  /**
   * Reads every record of queue `q` from CONS to PROD, then moves CONS past them and acknowledges an overflow by
   * copying OVFLG into OVACKFLG, as Linux does.
   */
  #drain(q: QueueRegs, ring: Ring): Uint32Array[] {
    const out: Uint32Array[] = [];
    const prodValue = new Uint32Array([this.read(q.prod)]);
    const consValue = new Uint32Array([this.read(q.cons)]);
    const prod = ring.index(q.wr.get(prodValue));
    let cons = ring.index(q.rd.get(consValue));
    while (!ring.empty(prod, cons)) {
      const rec = new Uint32Array(ring.entryBytes / WORD_BYTES);
      const at = ring.slot(cons);
      for (let i = 0; i < rec.length; i++) rec[i] = this.memory.read32(at + WORD_BYTES * i);
      out.push(rec);
      cons = ring.next(cons);
    }
    q.rd.set(consValue, cons);
    q.ovackflg!.set(consValue, q.ovflg!.get(prodValue));
    this.write(q.cons, consValue[0]);
    return out;
  }

  /** CMD_PRI_RESP for page request group `group` of `sid` (and `ssid`, -1 for none) with `resp`, then CMD_SYNC. */
  priResponse(sid: number, ssid: number, group: number, resp: number): boolean {
    this.issue(command(OPCODE.PRI_RESP, (w) => {
      CMD_PRI_RESP.StreamID.set(w, sid);
      if (ssid >= 0) CMD_PRI_RESP.SSV.set(w, 1), CMD_PRI_RESP.SubstreamID.set(w, ssid);
      CMD_PRI_RESP.PRGIndex.set(w, group);
      CMD_PRI_RESP.Resp.set(w, resp);
    }));
    return this.sync();
  }

  /**
   * CMD_ATC_INV for endpoint `sid` (PASID `ssid`, -1 for none) over 4096 * 2^`size` bytes at `addr` (52: all), then
   * CMD_SYNC (arm_smmu_atc_inv_domain); false when the CMD_SYNC did not complete (CERROR_ATC_INV_SYNC).
   */
  atcInvalidate(sid: number, ssid: number, addr: number, size: number): boolean {
    this.issue(command(OPCODE.ATC_INV, (w) => {
      CMD_ATC_INV.StreamID.set(w, sid);
      if (ssid >= 0) CMD_ATC_INV.SSV.set(w, 1), CMD_ATC_INV.SubstreamID.set(w, ssid);
      CMD_ATC_INV.Address.setAddress(w, addr);
      CMD_ATC_INV.Size.set(w, size);
    }));
    return this.sync();
  }

  /**
   * CMD_RESUME for the stalled transaction `stag` of `sid`: retry, or terminate (abort), then CMD_SYNC
   * (arm_smmu_page_response for a stall-capable master).
   */
  resume(sid: number, stag: number, retry: boolean): boolean {
    this.issue(command(OPCODE.RESUME, (w) => {
      CMD_RESUME.StreamID.set(w, sid);
      CMD_RESUME.STAG.set(w, stag);
      CMD_RESUME.Ac.set(w, retry ? CMD_RESUME_AC.RETRY : CMD_RESUME_AC.TERMINATE);
      if (!retry) CMD_RESUME.Ab.set(w, 1);
    }));
    return this.sync();
  }

  /** CMD_STALL_TERM for `sid`, then CMD_SYNC. */
  stallTerm(sid: number): boolean {
    this.issue(command(OPCODE.STALL_TERM, (w) => CMD_STALL_TERM.StreamID.set(w, sid)));
    return this.sync();
  }

  /** The GERROR bits that are active (GERROR xor GERRORN). */
  activeErrors(): number {
    return (this.read(REG.GERROR) ^ this.read(REG.GERRORN)) >>> 0;
  }

  /** Acknowledges every active error (writes GERRORN = GERROR). */
  ackErrors(): void {
    this.write(REG.GERRORN, this.read(REG.GERROR));
  }
}
