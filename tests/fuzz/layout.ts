/**
 * The fuzz guest's conventions: where it keeps its structures, the pools that action numbers index (StreamIDs,
 * SubstreamIDs, STE.Config encodings, TLBI opcodes), and the field values an ordinary driver writes. A harness
 * convention, not an architectural layout: every architectural field still goes through gen/ accessors.
 * @module
 */
import { CD_TG0, CD_TG1, IDR0, IDR1, IDR3, OPCODE, STE_CONFIG, STE_S2TG } from "../../gen/mod.ts";
import type { IdRegisterSet } from "../../mod.ts";
import { idRegistersFor } from "../../src/registers/features.ts";
import type { CaseHeader, CdAction, SteAction } from "./program.ts";

export const KIB64 = 0x1_0000;
export const TWO_52 = 2 ** 52;

/**
 * Where the structures go: 16 MiB from 0x4000_0000, so that a flat memory can hold them all. A structure larger than
 * its place overlaps the next one, which is hostile in the way a fuzzer wants.
 */
export const MAP = {
  strtab: 0x4000_0000, // linear stream table (4096 STEs before the next place), or the L1 table of a 2-level one
  l2Streams: 0x4004_0000, // 16 leaf stream tables, 64 KiB apart
  cmdq: 0x4014_0000,
  eventq: 0x4018_0000,
  cds: 0x401c_0000, // 8 CD slots, 64 KiB apart
  l2Cds: 0x4024_0000, // 4 leaf CD tables per slot, 64 KiB apart
  regions: 0x4044_0000, // 16 data buffers and MSI doorbells, 64 KiB apart
  tables: 0x4054_0000, // translation tables, allocated upwards
  priq: 0x40fc_0000, // the PRI queue (where PRI is advertised), below the end: tables rarely grow this far
  end: 0x4100_0000,
} as const;

/** Memory sizes by header index: the whole 52-bit space, 4 GiB, 2 GiB, ending inside the regions, before the queue. */
export const MEMORY_SIZES = [2 ** 52, 2 ** 32, 2 ** 31, MAP.regions + 8 * KIB64, MAP.eventq];
/** Where holes go, by header index (then 64 KiB steps). */
export const HOLE_BASES = [MAP.strtab, MAP.cmdq, MAP.eventq, MAP.cds, MAP.regions, MAP.tables];

/** StreamIDs and SubstreamIDs by pool index: the ordinary first, then table edges and the widest values. */
export const SIDS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 63, 64, 255, 256, 1023, 1024, 4095, 65535, 65536, 2 ** 20 - 1];
const SIDS_WIDE = [2 ** 24, 2 ** 31, 2 ** 32 - 1];
export const SSIDS = [0, 1, 2, 3, 63, 64, 1023, 1024, 65535, 2 ** 20 - 1];
export const sidOf = (i: number): number => i < SIDS.length ? SIDS[i] : SIDS_WIDE[i % SIDS_WIDE.length];
export const ssidOf = (i: number): number => SSIDS[i % SSIDS.length];

/** STE.Config by action value: the four translating or passing configurations, abort, then reserved encodings. */
export const CONFIGS: readonly number[] = [
  STE_CONFIG.S1_TRANS,
  STE_CONFIG.BYPASS,
  STE_CONFIG.S2_TRANS,
  STE_CONFIG.NESTED,
  STE_CONFIG.ABORT,
  1,
  2,
  3,
];
/** STE.STRW by action value: NSEL1, EL2, then reserved encodings. */
export const STRW: readonly number[] = [0, 2, 1, 3];
/** CD slots (CD tables at 64 KiB steps). */
export const SLOTS = 8;
/** The CD table format of slot p: linear, 2-level with 4 KiB leaves, 2-level with 64 KiB leaves (STE.S1Fmt). */
export const slotFmt = (p: number): number => p % 3;
/** Granule encodings by granule shift. */
export const TG0: Readonly<Record<number, number>> = { 12: CD_TG0.GRAN_4K, 14: CD_TG0.GRAN_16K, 16: CD_TG0.GRAN_64K };
export const TG1: Readonly<Record<number, number>> = { 12: CD_TG1.GRAN_4K, 14: CD_TG1.GRAN_16K, 16: CD_TG1.GRAN_64K };
export const S2TG: Readonly<Record<number, number>> = {
  12: STE_S2TG.GRAN_4K,
  14: STE_S2TG.GRAN_16K,
  16: STE_S2TG.GRAN_64K,
};

/** CMD_CFGI_STE_RANGE with this Range is CMD_CFGI_ALL (IHI 0070 4.3.6). */
export const CFGI_ALL_RANGE = 31;

/** The ASID and VMID an attach gives the StreamID of pool index `i` (a TLBI of the same index names them). */
export const asidOf = (i: number): number => 1 + (i % 255);
export const vmidOf = (i: number): number => 1 + (i % 255);
/** The invalidations a driver issues after changing what an attach set up. */
export const TLBIS: readonly number[] = [
  OPCODE.TLBI_NH_VA,
  OPCODE.TLBI_NH_VAA,
  OPCODE.TLBI_NH_ASID,
  OPCODE.TLBI_NH_ALL,
  OPCODE.TLBI_S2_IPA,
  OPCODE.TLBI_S12_VMALL,
  OPCODE.TLBI_NSNH_ALL,
  OPCODE.TLBI_EL2_VA,
  OPCODE.TLBI_EL2_VAA,
  OPCODE.TLBI_EL2_ASID,
  OPCODE.TLBI_EL2_ALL,
  OPCODE.CFGI_CD_ALL,
  OPCODE.ATC_INV,
];

/** What a driver writes: the ordinary values of every CD and STE field an attach leaves open. */
export const ORDINARY_CD: Omit<CdAction, "slot" | "ssid" | "sid" | "ttb0" | "asid"> = {
  kind: "cd",
  valid: true,
  ttb1: null,
  tszSkew: 0,
  ips: 5, // 48 bits
  record: true,
  ha: false,
  hd: false,
  affd: false,
  tbi: 0,
  pan: false,
  wxn: false,
  e0pd: 0,
  had: 0,
  flips: [],
  invalidate: 1,
};
export const ORDINARY_STE: Omit<SteAction, "sid" | "config" | "cd" | "cdMax" | "s2" | "vmid"> = {
  kind: "ste",
  valid: true,
  fmtSkew: 0,
  dss: 2, // SSID0: transactions without a SubstreamID use CD 0
  strw: 0,
  t0szSkew: 0,
  ps: 5,
  ha: false,
  hd: false,
  affd: false,
  record: true,
  privcfg: 0,
  instcfg: 0,
  flips: [],
  invalidate: true,
};

/** The ID registers a header's features give (the defaults when the device refuses them), with its extras. */
export function idRegisters(h: CaseHeader): IdRegisterSet {
  let ids: IdRegisterSet;
  try {
    ids = idRegistersFor(h.features ?? undefined);
  } catch {
    ids = idRegistersFor(undefined);
  }
  const w = Uint32Array.of(ids.IDR0, ids.IDR1, ids.IDR3);
  IDR1.ATTR_PERMS_OVR.set(w, h.idExtras & 1, 1);
  IDR1.ATTR_TYPES_OVR.set(w, (h.idExtras >> 1) & 1, 1);
  IDR3.HAD.set(w, (h.idExtras >> 2) & 1, 2);
  if (h.idExtras & 8) IDR0.Hyp.set(w, 1, 0);
  if (h.atc !== 0) IDR0.ATS.set(w, 1, 0), IDR0.PRI.set(w, 1, 0); // endpoints to answer ATC_INV and PRI_RESP
  return { ...ids, IDR0: w[0], IDR1: w[1], IDR3: w[2] };
}
