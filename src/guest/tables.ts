/**
 * Builds SMMU structures in guest memory the way a driver does, through gen/ accessors only: STEs, CDs, linear and
 * 2-level CD tables, and VMSAv8-64 translation tables for every granule and both stages (IHI 0070 5.2, 5.4;
 * DDI 0487 D8). Host-side helpers for demos, tools and test benches: they trust their caller.
 * @module
 */
import {
  CD,
  CD_BYTES,
  CD_LAYOUT,
  GRANULE,
  GRANULE_MIN_TABLE_BYTES,
  L1CD,
  L1CD_BYTES,
  L1CD_LAYOUT,
  STE,
  STE_LAYOUT,
  TT_ADDR_64K,
  TT_AP,
  TT_BLOCK_S1,
  TT_BLOCK_S2,
  TT_DESC,
  TT_DESC_BYTES,
  TT_DESC_LAYOUT,
  TT_LEVEL,
  TT_PAGE_S1,
  TT_S2AP,
  TT_TABLE,
  TT_TYPE,
} from "../../gen/mod.ts";
import type { Field } from "../../gen/mod.ts";
import { HostError } from "../core/errors.ts";
import type { GuestMemory } from "../core/memory.ts";
import { WORD_BYTES } from "../core/numbers.ts";

const LAST_LEVEL = TT_LEVEL.LEVEL_3;
/** The smallest granule: where a guest puts its tables and buffers, page aligned. */
const PAGE = 2 ** GRANULE.GRAN_4K;

/** A layout's fields by name, as gen/ exports them (`STE`, `CD`, `TT_PAGE_S1`, …). */
export type Fields = Record<string, Field & { setAddress?: (w: Uint32Array, a: number, o?: number) => void }>;

/** Field values by name; address fields (those with `setAddress`) are given as addresses. */
export type Values = Record<string, number>;

/** Writes a structure of `nwords` 32-bit words built from field values to guest memory at `addr`. */
export function writeStruct(mem: GuestMemory, addr: number, fields: Fields, nwords: number, values: Values): void {
  const w = new Uint32Array(nwords);
  for (const [name, v] of Object.entries(values)) {
    const f = fields[name];
    if (f === undefined) throw new HostError(`writeStruct: no field ${name}`);
    if (f.setAddress) f.setAddress(w, v);
    else f.set(w, v);
  }
  for (let i = 0; i < nwords; i++) mem.write32(addr + WORD_BYTES * i, w[i]);
}

/** Reads `n` 32-bit words of guest memory at `addr` (an aborted read gives 0xffffffff). */
export function readWords(mem: GuestMemory, addr: number, n: number): Uint32Array {
  const w = new Uint32Array(n);
  for (let i = 0; i < n; i++) w[i] = mem.read32(addr + WORD_BYTES * i) >>> 0;
  return w;
}

/** Writes a 64-byte STE with the given field values (gen/ `STE` field names) at `addr`. */
export const steAt = (mem: GuestMemory, addr: number, v: Values): void =>
  writeStruct(mem, addr, STE as unknown as Fields, STE_LAYOUT.words, v);

/** Writes a 64-byte CD with the given field values (gen/ `CD` field names) at `addr`. */
export const cdAt = (mem: GuestMemory, addr: number, v: Values): void =>
  writeStruct(mem, addr, CD as unknown as Fields, CD_LAYOUT.words, v);

/** A bump allocator over guest physical memory (which starts zeroed). */
export class Allocator {
  /** Allocation starts at `next` (by default 1 GiB, where the demos' guest RAM starts: no architectural address). */
  constructor(public next = 0x4000_0000) {}
  /** `bytes` bytes aligned to `align`; returns their address. */
  alloc(bytes: number, align = PAGE): number {
    this.next = Math.ceil(this.next / align) * align;
    const a = this.next;
    this.next += bytes;
    return a;
  }
}

/** A CD table and where each substream's CD lives. */
export interface CdTable {
  /** The table's address, for STE.S1ContextPtr. */
  ptr: number;
  /** The address of the CD of `ssid` (for a 2-level table, allocating its leaf table on first use). */
  cd: (ssid: number) => number;
}

/** A CD table for STE.S1CDMax = `cdMax`: linear (split 0) or 2-level (split 6 or 10, as STE.S1Fmt). */
export function cdTable(mem: GuestMemory, alloc: Allocator, cdMax: number, split = 0): CdTable {
  // STE.S1ContextPtr and L1CD.L2Ptr hold addresses aligned to 2^shift.
  const tableAlign = 2 ** STE.S1ContextPtr.shift, leafAlign = 2 ** L1CD.L2Ptr.shift;
  if (split === 0) {
    const ptr = alloc.alloc(CD_BYTES * 2 ** cdMax, tableAlign);
    return { ptr, cd: (ssid) => ptr + ssid * CD_BYTES };
  }
  const ptr = alloc.alloc(L1CD_BYTES * 2 ** Math.max(0, cdMax - split), tableAlign);
  const l2 = new Map<number, number>();
  return {
    ptr,
    cd: (ssid) => {
      const i = Math.floor(ssid / 2 ** split);
      let base = l2.get(i);
      if (base === undefined) {
        base = alloc.alloc(CD_BYTES * 2 ** split, leafAlign);
        l2.set(i, base);
        writeStruct(mem, ptr + L1CD_BYTES * i, L1CD as unknown as Fields, L1CD_LAYOUT.words, { V: 1, L2Ptr: base });
      }
      return base + (ssid % 2 ** split) * CD_BYTES;
    },
  };
}

/** Leaf attributes for {@link PageTable.map}, as gen/ field names of TT_PAGE_S1 / TT_PAGE_S2. */
export type Leaf = Values;

/** Translation tables of one regime, allocated from `alloc` (addresses are PAs, or IPAs via `toPa` for nested). */
export class PageTable {
  /** Address of the start-level table (for CD.TTB0 or STE.S2TTB). */
  readonly root: number;
  /** Index bits per level: granule shift − log2 of a descriptor's bytes. */
  readonly stride: number;
  /** Tables for `inputBits`-bit input addresses with a 2^`granuleShift` granule, starting at `startLevel`. */
  constructor(
    readonly mem: GuestMemory,
    readonly alloc: Allocator,
    readonly granuleShift: number,
    readonly inputBits: number,
    readonly startLevel: number,
    /** Where a table address (as written in descriptors) lives in PA space (identity unless nested). */
    readonly toPa: (addr: number) => number = (a) => a,
  ) {
    this.stride = granuleShift - Math.log2(TT_DESC_BYTES);
    const entries = 2 ** (inputBits - this.shift(startLevel));
    const bytes = Math.max(entries * TT_DESC_BYTES, GRANULE_MIN_TABLE_BYTES[granuleShift]!);
    this.root = alloc.alloc(bytes, bytes);
  }
  /** Log2 of the bytes one descriptor at `level` maps. */
  shift(level: number): number {
    return this.granuleShift + (LAST_LEVEL - level) * this.stride;
  }
  #index(ia: number, level: number): number {
    const entries = level === this.startLevel ? 2 ** (this.inputBits - this.shift(level)) : 2 ** this.stride;
    return Math.floor(ia / 2 ** this.shift(level)) % entries;
  }
  #readDesc(addr: number): Uint32Array {
    return readWords(this.mem, this.toPa(addr), TT_DESC_LAYOUT.words);
  }
  #writeDesc(addr: number, w: Uint32Array): void {
    this.mem.write32(this.toPa(addr), w[0]);
    this.mem.write32(this.toPa(addr) + WORD_BYTES, w[1]);
  }
  #setAddr(w: Uint32Array, addr: number): void {
    if (this.granuleShift === GRANULE.GRAN_64K) {
      TT_ADDR_64K.ADDR.setAddress(w, addr);
      TT_ADDR_64K.ADDR_51_48.setAddress(w, addr);
    } else TT_TABLE.NLTA.setAddress(w, addr);
  }
  /** The descriptor address for `ia` at `level`, creating tables on the way (table attributes from `table`). */
  descAddr(ia: number, level: number, table: Values = {}): number {
    let t = this.root;
    for (let l = this.startLevel; l < level; l++) {
      const a = t + TT_DESC_BYTES * this.#index(ia, l);
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
    return t + TT_DESC_BYTES * this.#index(ia, level);
  }
  #nextTable(w: Uint32Array): number {
    if (this.granuleShift === GRANULE.GRAN_64K) {
      return TT_ADDR_64K.ADDR.getAddress(w) + TT_ADDR_64K.ADDR_51_48.getAddress(w);
    }
    return TT_TABLE.NLTA.getAddress(w) - (TT_TABLE.NLTA.getAddress(w) % 2 ** this.granuleShift);
  }
  /**
   * Maps the `level` block or page containing `ia` to `oa`, read/write for every privilege (AF set); `leaf` holds
   * extra or overriding fields. Returns the descriptor's address.
   */
  map(
    ia: number,
    oa: number,
    level: number = LAST_LEVEL,
    leaf: Leaf = {},
    stage: 1 | 2 = 1,
    table: Values = {},
  ): number {
    const a = this.descAddr(ia, level, table);
    const w = new Uint32Array(TT_DESC_LAYOUT.words);
    const fields = (stage === 1 ? TT_BLOCK_S1 : TT_BLOCK_S2) as unknown as Fields;
    fields.Valid.set(w, 1);
    fields.Type.set(w, level === LAST_LEVEL ? TT_TYPE.TABLE_OR_PAGE : TT_TYPE.BLOCK);
    fields.AF.set(w, 1);
    if (stage === 2) fields.S2AP.set(w, TT_S2AP.RW);
    else fields.AP.set(w, TT_AP.RW_ANY); // as drivers map DMA buffers (unprivileged read/write)
    this.#setAddr(w, oa - (oa % 2 ** this.shift(level)));
    for (const [k, v] of Object.entries(leaf)) fields[k].set(w, v);
    this.#writeDesc(a, w);
    return a;
  }
  /** Writes a raw descriptor (for invalid or reserved encodings); returns its address. */
  raw(ia: number, level: number, lo: number, hi = 0): number {
    const a = this.descAddr(ia, level);
    this.#writeDesc(a, Uint32Array.of(lo, hi));
    return a;
  }
  /** Reads the leaf descriptor words at `level` for `ia` (after hardware updates). */
  leaf(ia: number, level: number = LAST_LEVEL): Uint32Array {
    return this.#readDesc(this.descAddr(ia, level));
  }
}

/** A stage-1 leaf's AP and AF, read back through gen/ accessors. */
export function s1Leaf(w: Uint32Array): { ap: number; af: number } {
  return { ap: TT_PAGE_S1.AP.get(w), af: TT_PAGE_S1.AF.get(w) };
}
