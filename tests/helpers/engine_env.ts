/**
 * A test bench for the translation engine without the device model: ID and control registers set directly in a
 * {@link RegisterFile}, stream tables pointed at from it, and a {@link Translator} over sparse memory. For tests and
 * benchmarks of src/translation/translate.ts and below; a guest goes through `Smmu` and src/guest/driver.ts instead.
 * @module
 */
import {
  CD_BYTES,
  CD_IPS,
  CD_TG0_BY_GRANULE,
  CR0,
  CR2,
  GBPA,
  IDR0,
  IDR0_ASID16,
  IDR0_HTTU,
  IDR0_ST_LEVEL,
  IDR0_STALL_MODEL,
  IDR0_TTENDIAN,
  IDR0_TTF,
  IDR0_VMID16,
  IDR1,
  IDR3,
  IDR5,
  IDR5_OAS,
  IDR5_VAX,
  L1STD,
  L1STD_BYTES,
  L1STD_LAYOUT,
  REG,
  STE_BYTES,
  STE_CONFIG,
  STRTAB_BASE,
  STRTAB_BASE_CFG,
  STRTAB_BASE_CFG_FMT,
} from "../../gen/mod.ts";
import { type GuestMemory, SparseMemory } from "../../src/core/memory.ts";
import { RegisterFile, word } from "../../src/registers/regfile.ts";
import { type CacheLimits, Translator } from "../../src/translation/translate.ts";
import type { Fault, Invalidation, SmmuObserver } from "../../src/core/types.ts";
import { stage1StartLevel } from "../../src/translation/regime.ts";
import { Allocator, cdAt, type Fields, PageTable, steAt, type Values, writeStruct } from "../../src/guest/tables.ts";

export { RegisterFile };
export type { Invalidation };

/** Alignment of a stream table base: STRTAB_BASE.ADDR holds address bits [51:6]. */
const STRTAB_ALIGN = 2 ** STRTAB_BASE.ADDR.shift;
/** A linear stream table larger than a page is page aligned here. */
const PAGE = 4096;

/** ID register fields to override; the defaults advertise nearly everything the engine implements. */
export interface IdOptions {
  s1p?: number;
  s2p?: number;
  httu?: number;
  cd2l?: number;
  sidsize?: number;
  ssidsize?: number;
  oas?: number;
  stt?: number;
  xnx?: number;
  had?: number;
  e0pd?: number;
  hyp?: number;
  termModel?: number;
  stallModel?: number;
  permsOvr?: number;
  ril?: number;
  asid16?: number;
  vmid16?: number;
}

/** Sets the ID registers (stage 1 and 2, AArch64 tables, HTTU access+dirty, 2-level tables, 52-bit OAS). */
export function setupRegs(regs: RegisterFile, o: IdOptions = {}): void {
  const w = regs.words;
  const i0 = word(REG.IDR0);
  IDR0.S1P.set(w, o.s1p ?? 1, i0);
  IDR0.S2P.set(w, o.s2p ?? 1, i0);
  IDR0.TTF.set(w, IDR0_TTF.AARCH64, i0);
  IDR0.HTTU.set(w, o.httu ?? IDR0_HTTU.ACCESS_DIRTY, i0);
  IDR0.ASID16.set(w, o.asid16 ?? IDR0_ASID16.BITS_16, i0);
  IDR0.VMID16.set(w, o.vmid16 ?? IDR0_VMID16.BITS_16, i0);
  IDR0.CD2L.set(w, o.cd2l ?? 1, i0);
  IDR0.Hyp.set(w, o.hyp ?? 1, i0);
  IDR0.ST_LEVEL.set(w, IDR0_ST_LEVEL.TWO_LEVEL, i0);
  IDR0.TTENDIAN.set(w, IDR0_TTENDIAN.LITTLE, i0);
  IDR0.STALL_MODEL.set(w, o.stallModel ?? IDR0_STALL_MODEL.TERMINATE_ONLY, i0);
  IDR0.TERM_MODEL.set(w, o.termModel ?? 1, i0);
  const i1 = word(REG.IDR1);
  IDR1.SIDSIZE.set(w, o.sidsize ?? 16, i1);
  IDR1.SSIDSIZE.set(w, o.ssidsize ?? 20, i1);
  IDR1.ATTR_PERMS_OVR.set(w, o.permsOvr ?? 1, i1);
  const i3 = word(REG.IDR3);
  IDR3.STT.set(w, o.stt ?? 1, i3);
  IDR3.XNX.set(w, o.xnx ?? 1, i3);
  IDR3.HAD.set(w, o.had ?? 1, i3);
  IDR3.E0PD.set(w, o.e0pd ?? 1, i3);
  IDR3.RIL.set(w, o.ril ?? 1, i3);
  const i5 = word(REG.IDR5);
  IDR5.OAS.set(w, o.oas ?? IDR5_OAS.BITS_52, i5);
  IDR5.GRAN4K.set(w, 1, i5);
  IDR5.GRAN16K.set(w, 1, i5);
  IDR5.GRAN64K.set(w, 1, i5);
  IDR5.VAX.set(w, IDR5_VAX.VA_52, i5);
  CR2.RECINVSID.set(w, 1, word(REG.CR2));
}

/** Sets CR0.SMMUEN. */
export function enable(regs: RegisterFile, on = true): void {
  CR0.SMMUEN.set(regs.words, on ? 1 : 0, word(REG.CR0));
}

/** Sets GBPA.ABORT. */
export function setGbpaAbort(regs: RegisterFile, abort: boolean): void {
  GBPA.ABORT.set(regs.words, abort ? 1 : 0, word(REG.GBPA));
}

/** A linear stream table of 2^log2size STEs; returns the address of STE n. */
export function linearStreamTable(regs: RegisterFile, alloc: Allocator, log2size: number): (sid: number) => number {
  const bytes = STE_BYTES * 2 ** log2size;
  const base = alloc.alloc(bytes, bytes > PAGE ? PAGE : STRTAB_ALIGN);
  STRTAB_BASE.ADDR.setAddress(regs.words, base, word(REG.STRTAB_BASE));
  const c = word(REG.STRTAB_BASE_CFG);
  STRTAB_BASE_CFG.FMT.set(regs.words, STRTAB_BASE_CFG_FMT.LINEAR, c);
  STRTAB_BASE_CFG.LOG2SIZE.set(regs.words, log2size, c);
  return (sid) => base + sid * STE_BYTES;
}

/** A 2-level stream table; `steAddr(sid)` allocates the level-2 array (full span) on first use. */
export function twoLevelStreamTable(
  regs: RegisterFile,
  mem: GuestMemory,
  alloc: Allocator,
  log2size: number,
  split: number,
): (sid: number) => number {
  const l1 = alloc.alloc(L1STD_BYTES * 2 ** Math.max(0, log2size - split), STRTAB_ALIGN);
  STRTAB_BASE.ADDR.setAddress(regs.words, l1, word(REG.STRTAB_BASE));
  const c = word(REG.STRTAB_BASE_CFG);
  STRTAB_BASE_CFG.FMT.set(regs.words, STRTAB_BASE_CFG_FMT.TWO_LEVEL, c);
  STRTAB_BASE_CFG.SPLIT.set(regs.words, split, c);
  STRTAB_BASE_CFG.LOG2SIZE.set(regs.words, log2size, c);
  const l2 = new Map<number, number>();
  return (sid) => {
    const i = Math.floor(sid / 2 ** split);
    let base = l2.get(i);
    if (base === undefined) {
      base = alloc.alloc(STE_BYTES * 2 ** split, STE_BYTES * 2 ** split);
      l2.set(i, base);
      writeStruct(mem, l1 + L1STD_BYTES * i, L1STD as unknown as Fields, L1STD_LAYOUT.words, {
        Span: split + 1,
        L2Ptr: base,
      });
    }
    return base + (sid % 2 ** split) * STE_BYTES;
  };
}

/** The bench: memory (a hole at 4 GiB that aborts), registers, an allocator, the engine and its event records. */
export interface EngineEnv {
  mem: SparseMemory;
  regs: RegisterFile;
  alloc: Allocator;
  /** Copies of the faults the engine reported as events. */
  events: Fault[];
  t: Translator;
}

/** A translator over sparse memory with the SMMU enabled, events captured as copies. */
export function makeEnv(ids: IdOptions = {}, limits: CacheLimits = {}, observers: SmmuObserver[] = []): EngineEnv {
  const mem = new SparseMemory({ holes: [[0x1_0000_0000, 0x1_1000_0000]] });
  const regs = new RegisterFile();
  setupRegs(regs, ids);
  enable(regs);
  const alloc = new Allocator();
  const events: Fault[] = [];
  const t = new Translator(regs, mem, { report: (f) => events.push({ ...f }) }, observers, limits);
  return { mem, regs, alloc, events, t };
}

/** A stage-1 stream: STE at `ste` pointing at one CD with the given fields over a fresh page table. */
export function s1Stream(
  env: EngineEnv,
  ste: number,
  opts: { gs?: 12 | 14 | 16; tsz?: number; cd?: Values; ste?: Values } = {},
): PageTable {
  const gs = opts.gs ?? 12, tsz = opts.tsz ?? 16;
  const ib = 64 - tsz;
  const pt = new PageTable(env.mem, env.alloc, gs, ib, stage1StartLevel(gs, ib));
  const cd = env.alloc.alloc(CD_BYTES, CD_BYTES);
  cdAt(env.mem, cd, {
    V: 1,
    AA64: 1,
    A: 1,
    R: 1,
    T0SZ: tsz,
    TG0: CD_TG0_BY_GRANULE[gs]!, // every granule has a TG0 encoding
    IPS: CD_IPS.BITS_48,
    EPD1: 1,
    TTB0: pt.root,
    ASID: 1,
    ...opts.cd,
  });
  steAt(env.mem, ste, { V: 1, Config: STE_CONFIG.S1_TRANS, S1ContextPtr: cd, ...opts.ste });
  return pt;
}
