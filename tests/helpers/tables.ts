/**
 * Builds SMMU structures in guest memory the way a driver would, through gen/ accessors only: register setup,
 * linear and 2-level stream tables, STEs, CDs, CD tables, and translation tables for every granule and stage.
 */
import {
  CD,
  CR0,
  CR2,
  GBPA,
  IDR0,
  IDR1,
  IDR3,
  IDR5,
  L1CD,
  L1STD,
  REG,
  STE,
  STRTAB_BASE,
  STRTAB_BASE_CFG,
  TT_ADDR_64K,
  TT_AP,
  TT_BLOCK_S1,
  TT_BLOCK_S2,
  TT_DESC,
  TT_PAGE_S1,
  TT_S2AP,
  TT_TABLE,
  TT_TYPE,
} from "../../gen/mod.ts";
import type { Field } from "../../gen/mod.ts";
import type { GuestMemory } from "../../src/memory.ts";
import { RegisterFile, word } from "../../src/regfile.ts";

type Fields = Record<string, Field & { setAddress?: (w: Uint32Array, a: number, o?: number) => void }>;

/** Field values by name; names ending in "Addr" are given as addresses (setAddress). */
export type Values = Record<string, number>;

/** Writes a structure built from field values to memory. */
export function writeStruct(mem: GuestMemory, addr: number, fields: Fields, nwords: number, values: Values): void {
  const w = new Uint32Array(nwords);
  for (const [name, v] of Object.entries(values)) {
    const f = fields[name];
    if (f === undefined) throw new Error(`no field ${name}`);
    if (f.setAddress) f.setAddress(w, v);
    else f.set(w, v);
  }
  for (let i = 0; i < nwords; i++) mem.write32(addr + 4 * i, w[i]);
}

/** Reads a structure's words. */
export function readWords(mem: GuestMemory, addr: number, n: number): Uint32Array {
  const w = new Uint32Array(n);
  for (let i = 0; i < n; i++) w[i] = mem.read32(addr + 4 * i) >>> 0;
  return w;
}

export const steAt = (mem: GuestMemory, addr: number, v: Values) =>
  writeStruct(mem, addr, STE as unknown as Fields, 16, v);
export const cdAt = (mem: GuestMemory, addr: number, v: Values) =>
  writeStruct(mem, addr, CD as unknown as Fields, 16, v);

/** A bump allocator over guest physical memory (everything starts zeroed). */
export class Allocator {
  constructor(public next = 0x4000_0000) {}
  alloc(bytes: number, align = 4096): number {
    this.next = Math.ceil(this.next / align) * align;
    const a = this.next;
    this.next += bytes;
    return a;
  }
}

/** ID register defaults: stage 1 and 2, AArch64 tables, HTTU access+dirty, 16-bit IDs, 2-level tables. */
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
}

/** Sets up ID registers (as the device does at construction) and enables the SMMU with a stream table. */
export function setupRegs(regs: RegisterFile, o: IdOptions = {}): void {
  const w = regs.words;
  const i0 = word(REG.IDR0);
  IDR0.S1P.set(w, o.s1p ?? 1, i0);
  IDR0.S2P.set(w, o.s2p ?? 1, i0);
  IDR0.TTF.set(w, 2, i0);
  IDR0.HTTU.set(w, o.httu ?? 2, i0);
  IDR0.ASID16.set(w, 1, i0);
  IDR0.VMID16.set(w, 1, i0);
  IDR0.CD2L.set(w, o.cd2l ?? 1, i0);
  IDR0.Hyp.set(w, o.hyp ?? 1, i0);
  IDR0.ST_LEVEL.set(w, 1, i0);
  IDR0.TTENDIAN.set(w, 2, i0);
  IDR0.STALL_MODEL.set(w, o.stallModel ?? 1, i0);
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
  IDR5.OAS.set(w, o.oas ?? 6, i5);
  IDR5.GRAN4K.set(w, 1, i5);
  IDR5.GRAN16K.set(w, 1, i5);
  IDR5.GRAN64K.set(w, 1, i5);
  IDR5.VAX.set(w, 1, i5);
  CR2.RECINVSID.set(w, 1, word(REG.CR2));
}

export function enable(regs: RegisterFile, on = true): void {
  CR0.SMMUEN.set(regs.words, on ? 1 : 0, word(REG.CR0));
}

export function setGbpaAbort(regs: RegisterFile, abort: boolean): void {
  GBPA.ABORT.set(regs.words, abort ? 1 : 0, word(REG.GBPA));
}

/** A linear stream table of 2^log2size STEs; returns the address of STE n. */
export function linearStreamTable(regs: RegisterFile, alloc: Allocator, log2size: number): (sid: number) => number {
  const base = alloc.alloc(64 * 2 ** log2size, 64 * 2 ** log2size > 4096 ? 4096 : 64);
  STRTAB_BASE.ADDR.setAddress(regs.words, base, word(REG.STRTAB_BASE));
  const c = word(REG.STRTAB_BASE_CFG);
  STRTAB_BASE_CFG.FMT.set(regs.words, 0, c);
  STRTAB_BASE_CFG.LOG2SIZE.set(regs.words, log2size, c);
  return (sid) => base + sid * 64;
}

/** A 2-level stream table; `steAddr(sid)` allocates the level-2 array (full span) on first use. */
export function twoLevelStreamTable(
  regs: RegisterFile,
  mem: GuestMemory,
  alloc: Allocator,
  log2size: number,
  split: number,
): (sid: number) => number {
  const l1 = alloc.alloc(8 * 2 ** Math.max(0, log2size - split), 64);
  STRTAB_BASE.ADDR.setAddress(regs.words, l1, word(REG.STRTAB_BASE));
  const c = word(REG.STRTAB_BASE_CFG);
  STRTAB_BASE_CFG.FMT.set(regs.words, 1, c);
  STRTAB_BASE_CFG.SPLIT.set(regs.words, split, c);
  STRTAB_BASE_CFG.LOG2SIZE.set(regs.words, log2size, c);
  const l2 = new Map<number, number>();
  return (sid) => {
    const i = Math.floor(sid / 2 ** split);
    let base = l2.get(i);
    if (base === undefined) {
      base = alloc.alloc(64 * 2 ** split, 64 * 2 ** split);
      l2.set(i, base);
      writeStruct(mem, l1 + 8 * i, L1STD as unknown as Fields, 2, { Span: split + 1, L2Ptr: base });
    }
    return base + (sid % 2 ** split) * 64;
  };
}

/** A CD table for S1CDMax = cdMax: linear (split 0) or 2-level (split 6 or 10); returns CD address by SSID. */
export function cdTable(
  mem: GuestMemory,
  alloc: Allocator,
  cdMax: number,
  split = 0,
): { ptr: number; cd: (ssid: number) => number } {
  if (split === 0) {
    const ptr = alloc.alloc(64 * 2 ** cdMax, 64);
    return { ptr, cd: (ssid) => ptr + ssid * 64 };
  }
  const ptr = alloc.alloc(8 * 2 ** Math.max(0, cdMax - split), 64);
  const l2 = new Map<number, number>();
  return {
    ptr,
    cd: (ssid) => {
      const i = Math.floor(ssid / 2 ** split);
      let base = l2.get(i);
      if (base === undefined) {
        base = alloc.alloc(64 * 2 ** split, 4096);
        l2.set(i, base);
        writeStruct(mem, ptr + 8 * i, L1CD as unknown as Fields, 2, { V: 1, L2Ptr: base });
      }
      return base + (ssid % 2 ** split) * 64;
    },
  };
}

/** Leaf attributes for {@link PageTable.map}, as gen/ field names of TT_PAGE_S1 / TT_PAGE_S2. */
export type Leaf = Values;

/** Translation tables of one regime, allocated from `alloc` (addresses are PAs, or IPAs via `toPa` for nested). */
export class PageTable {
  readonly root: number;
  readonly stride: number;
  constructor(
    readonly mem: GuestMemory,
    readonly alloc: Allocator,
    readonly granuleShift: number,
    readonly inputBits: number,
    readonly startLevel: number,
    /** Where a table address (as written in descriptors) lives in PA space (identity unless nested). */
    readonly toPa: (addr: number) => number = (a) => a,
  ) {
    this.stride = granuleShift - 3;
    const entries = 2 ** (inputBits - this.shift(startLevel));
    this.root = alloc.alloc(Math.max(entries * 8, 64), Math.max(entries * 8, 64));
  }
  shift(level: number): number {
    return this.granuleShift + (3 - level) * this.stride;
  }
  #index(ia: number, level: number): number {
    const entries = level === this.startLevel ? 2 ** (this.inputBits - this.shift(level)) : 2 ** this.stride;
    return Math.floor(ia / 2 ** this.shift(level)) % entries;
  }
  #readDesc(addr: number): Uint32Array {
    return readWords(this.mem, this.toPa(addr), 2);
  }
  #writeDesc(addr: number, w: Uint32Array): void {
    this.mem.write32(this.toPa(addr), w[0]);
    this.mem.write32(this.toPa(addr) + 4, w[1]);
  }
  #setAddr(w: Uint32Array, addr: number): void {
    if (this.granuleShift === 16) {
      TT_ADDR_64K.ADDR.setAddress(w, addr);
      TT_ADDR_64K.ADDR_51_48.setAddress(w, addr);
    } else TT_TABLE.NLTA.setAddress(w, addr);
  }
  /** The descriptor address for `ia` at `level`, creating tables on the way (table attributes from `table`). */
  descAddr(ia: number, level: number, table: Values = {}): number {
    let t = this.root;
    for (let l = this.startLevel; l < level; l++) {
      const a = t + 8 * this.#index(ia, l);
      const w = this.#readDesc(a);
      if (TT_DESC.Valid.get(w) === 1 && TT_DESC.Type.get(w) === TT_TYPE.TABLE_OR_PAGE) {
        t = this.#nextTable(w);
        continue;
      }
      const next = this.alloc.alloc(2 ** this.granuleShift, 2 ** this.granuleShift);
      w[0] = w[1] = 0;
      TT_TABLE.Valid.set(w, 1);
      TT_TABLE.Type.set(w, TT_TYPE.TABLE_OR_PAGE);
      this.#setAddr(w, next);
      for (const [k, v] of Object.entries(table)) (TT_TABLE as unknown as Fields)[k].set(w, v);
      this.#writeDesc(a, w);
      t = next;
    }
    return t + 8 * this.#index(ia, level);
  }
  #nextTable(w: Uint32Array): number {
    if (this.granuleShift === 16) return TT_ADDR_64K.ADDR.getAddress(w) + TT_ADDR_64K.ADDR_51_48.getAddress(w);
    return TT_TABLE.NLTA.getAddress(w) - (TT_TABLE.NLTA.getAddress(w) % 2 ** this.granuleShift);
  }
  /** Maps the `level` block or page containing `ia` to `oa`; `leaf` holds extra fields (AF defaults to 1). */
  map(ia: number, oa: number, level = 3, leaf: Leaf = {}, stage: 1 | 2 = 1, table: Values = {}): number {
    const a = this.descAddr(ia, level, table);
    const w = new Uint32Array(2);
    const fields = (stage === 1 ? TT_BLOCK_S1 : TT_BLOCK_S2) as unknown as Fields;
    fields.Valid.set(w, 1);
    fields.Type.set(w, level === 3 ? TT_TYPE.TABLE_OR_PAGE : TT_TYPE.BLOCK);
    fields.AF.set(w, 1);
    if (stage === 2) fields.S2AP.set(w, TT_S2AP.RW);
    else fields.AP.set(w, TT_AP.RW_ANY); // as drivers map DMA buffers (unprivileged read/write)
    this.#setAddr(w, oa - (oa % 2 ** this.shift(level)));
    for (const [k, v] of Object.entries(leaf)) fields[k].set(w, v);
    this.#writeDesc(a, w);
    return a;
  }
  /** Writes a raw descriptor (for invalid/reserved encodings). */
  raw(ia: number, level: number, lo: number, hi = 0): number {
    const a = this.descAddr(ia, level);
    this.#writeDesc(a, Uint32Array.of(lo, hi));
    return a;
  }
  /** Reads the leaf descriptor words at `level` for `ia` (after hardware updates). */
  leaf(ia: number, level = 3): Uint32Array {
    return this.#readDesc(this.descAddr(ia, level));
  }
}

/** A stage-1 leaf's AP and AF, read back through gen/ accessors. */
export function s1Leaf(w: Uint32Array): { ap: number; af: number } {
  return { ap: TT_PAGE_S1.AP.get(w), af: TT_PAGE_S1.AF.get(w) };
}

export { RegisterFile };

import { SparseMemory } from "../../src/memory.ts";
import type { Fault, Invalidation, SmmuObserver } from "../../src/types.ts";
import { Translator } from "../../src/translate.ts";
import type { CacheLimits } from "../../src/translate.ts";

/** A translator over sparse memory, with events captured as copies. */
export function makeEnv(ids: IdOptions = {}, limits: CacheLimits = {}, observers: SmmuObserver[] = []) {
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
  env: ReturnType<typeof makeEnv>,
  ste: number,
  opts: { gs?: number; tsz?: number; cd?: Values; ste?: Values } = {},
): PageTable {
  const gs = opts.gs ?? 12, tsz = opts.tsz ?? 16;
  const tg0 = gs === 12 ? 0 : gs === 16 ? 1 : 2;
  const ib = 64 - tsz;
  const pt = new PageTable(env.mem, env.alloc, gs, ib, 4 - Math.ceil((ib - gs) / (gs - 3)));
  const cd = env.alloc.alloc(64, 64);
  cdAt(env.mem, cd, {
    V: 1,
    AA64: 1,
    A: 1,
    R: 1,
    T0SZ: tsz,
    TG0: tg0,
    IPS: 5,
    EPD1: 1,
    TTB0: pt.root,
    ASID: 1,
    ...opts.cd,
  });
  steAt(env.mem, ste, { V: 1, Config: 5, S1ContextPtr: cd, ...opts.ste });
  return pt;
}

export type { Invalidation };
