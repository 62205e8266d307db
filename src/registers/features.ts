/**
 * The features the device advertises: options → ID register values, and raw ID register values checked against what
 * this emulator implements (IHI 0070 6.3.1–6.3.6). A value we cannot honour is refused, never silently changed.
 * @module
 */
import {
  AIDR,
  AIDR_ARCH_MINOR_REV,
  GRANULE,
  GRANULE_BY_KIB,
  GRANULE_KIB,
  IDR0,
  IDR0_HTTU,
  IDR0_LAYOUT,
  IDR0_ST_LEVEL,
  IDR0_STALL_MODEL,
  IDR0_STALL_MODEL_NAMES,
  IDR0_TTENDIAN,
  IDR0_TTF,
  IDR1,
  IDR1_LAYOUT,
  IDR3,
  IDR3_BBML,
  IDR3_BBML_NAMES,
  IDR3_LAYOUT,
  IDR5,
  IDR5_LAYOUT,
  IDR5_OAS_BITS,
  IDR5_OAS_BY_BITS,
  IDR5_VAX,
} from "../../gen/mod.ts";
import type { Field, Layout } from "../../gen/mod.ts";
import { OptionsError } from "../core/errors.ts";
import { TWO_32 } from "../core/numbers.ts";

/** Raw ID register values, as a VMM copies them from a host or another model. */
export interface IdRegisterValues {
  /** SMMU_IDR0: stages, formats, MSI, ATS/PRI, stream table levels. */
  IDR0: number;
  /** SMMU_IDR1: StreamID/SubstreamID widths and queue sizes. */
  IDR1: number;
  /** SMMU_IDR3: SMMUv3.1+ features (RIL, BBML, HAD, XNX, STT, E0PD). */
  IDR3: number;
  /** SMMU_IDR5: output address size, granules, VA size. */
  IDR5: number;
}

/** Features to advertise, in plain words. Every field is optional; the defaults suit a Linux guest. */
export interface SmmuFeatures {
  /** Stage 1 translation (IDR0.S1P). Default true. */
  stage1?: boolean;
  /** Stage 2 translation (IDR0.S2P). Default true. */
  stage2?: boolean;
  /** Translation granules in KiB (IDR5.GRAN*). Default [4, 16, 64]. */
  granules?: readonly (4 | 16 | 64)[];
  /** Output address size in bits (IDR5.OAS). Default 48. */
  oas?: 32 | 36 | 40 | 42 | 44 | 48 | 52;
  /** 52-bit stage 1 input VAs (IDR5.VAX). Default false. */
  va52?: boolean;
  /** StreamID width in bits, 0–32 (IDR1.SIDSIZE). Default 16. */
  sidBits?: number;
  /** SubstreamID width in bits, 0–20 (IDR1.SSIDSIZE). Default 8. */
  ssidBits?: number;
  /** Log2 of the largest command queue, 0–19 (IDR1.CMDQS). Default 19. */
  cmdqLog2?: number;
  /** Log2 of the largest event queue, 0–19 (IDR1.EVENTQS). Default 19. */
  eventqLog2?: number;
  /** Log2 of the largest PRI queue, 0–19 (IDR1.PRIQS). Default 19 (only meaningful with `pri`). */
  priqLog2?: number;
  /** Two-level stream tables (IDR0.ST_LEVEL). Default true. */
  twoLevelStreamTable?: boolean;
  /** Two-level CD tables (IDR0.CD2L). Default true. */
  twoLevelCdTable?: boolean;
  /** Message-signalled interrupts (IDR0.MSI). Default true. */
  msi?: boolean;
  /** Range invalidation and TTL hints in TLBI commands (IDR3.RIL). Default true. */
  rangeInvalidation?: boolean;
  /** 16-bit ASIDs (IDR0.ASID16). Default true. */
  asid16?: boolean;
  /** 16-bit VMIDs (IDR0.VMID16). Default true. */
  vmid16?: boolean;
  /** EL2 stage 1 contexts and the TLBI_EL2_* commands (IDR0.Hyp). Default false. */
  hyp?: boolean;
  /** PCIe ATS: Translation Requests, Translated traffic, CMD_ATC_INV (IDR0.ATS; `Smmu.ats`). Default true. */
  ats?: boolean;
  /** PCIe PRI: page requests, the PRI queue, CMD_PRI_RESP (IDR0.PRI; `Smmu.pri`; needs ATS). Default true. */
  pri?: boolean;
  /** WFE wake-up events from CMD_SYNC (IDR0.SEV). Default false. */
  sev?: boolean;
  /** Hardware updates of the Access flag ("access") and dirty state ("access+dirty") (IDR0.HTTU). Default
   * "access+dirty": the walker implements both; tables opt in through CD.HA/HD and STE.S2HA/S2HD. */
  httu?: "none" | "access" | "access+dirty";
  /**
   * The fault models offered (IDR0.STALL_MODEL, IHI 0070 3.12): "stall-and-terminate" lets CD.S and STE.S2S choose,
   * "stall-forced" makes every stage stall, "terminate-only" offers no stalls. Default "stall-and-terminate".
   */
  stalls?: "stall-and-terminate" | "terminate-only" | "stall-forced";
  /** Most transactions held stalled at once, 1–65535 (IDR5.STALL_MAX; with stalls). Default 256. */
  stallMax?: number;
  /** Break-before-make level 0–2 (IDR3.BBML). Default 0. */
  bbml?: 0 | 1 | 2;
  /** CD.HAD0/HAD1 hierarchical attribute disables (IDR3.HAD). Default true. */
  hierarchicalAttributeDisable?: boolean;
  /** Stage-2 execute-never for EL0 and EL1 apart, the two-bit XN (IDR3.XNX); with stage 2 only. Default true. */
  xnx?: boolean;
  /** Small translation tables: T0SZ/T1SZ/S2T0SZ up to 48 (47 with 64 KiB) and the 4 KiB stage-2 level-3 start
   * (IDR3.STT). Default true. */
  smallTables?: boolean;
  /** CD.E0PD0/E0PD1: unprivileged accesses to a range fault (IDR3.E0PD); with stage 1 only. Default true. */
  e0pd?: boolean;
}

/** Every identification register value the device holds. */
export interface IdRegisterSet extends IdRegisterValues {
  /** SMMU_IIDR (implementation identity; 0: no JEP106 code claimed). */
  IIDR: number;
  /** SMMU_AIDR: SMMUv3.2. */
  AIDR: number;
}

const MAX_QUEUE_LOG2 = IDR1.CMDQS.max; // IHI 0070 6.3.2: CMDQS/EVENTQS/PRIQS at most 19
const MAX_SID_BITS = IDR1.SIDSIZE.max;
const MAX_SSID_BITS = IDR1.SSIDSIZE.max;
const MAX_STALLS = 2 ** IDR5.STALL_MAX.width - 1; // as many as STAGs, also 16 bits
/** The granules in KiB, smallest first. */
const GRANULES_KIB = Object.values(GRANULE).map((g) => GRANULE_KIB[g]!);

// The defaults of SmmuFeatures (this model's choices, not the architecture's): a 16-bit StreamID, 8-bit SubstreamID,
// 48-bit OAS and 256 STAGs, as a typical platform SMMU offers.
const DEFAULT_SID_BITS = 16;
const DEFAULT_SSID_BITS = 8;
const DEFAULT_OAS_BITS = 48;
const DEFAULT_STALL_MAX = 256;

function checkRange(what: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new OptionsError(`features.${what}: ${v} is not in ${lo}..${hi}`);
  return v;
}

/** ID register values for `features` (defaults filled in); throws OptionsError on a value out of range. */
export function idRegistersFor(features: SmmuFeatures = {}): IdRegisterSet {
  const f = features;
  // The four ID registers, as the words of one scratch array.
  const [i0, i1, i3, i5] = [0, 1, 2, 3];
  const w = new Uint32Array(i5 + 1);
  const flag = (field: Field, on: boolean | undefined, dflt: boolean, o: number) =>
    field.set(w, (on ?? dflt) ? 1 : 0, o);
  flag(IDR0.S1P, f.stage1, true, i0);
  flag(IDR0.S2P, f.stage2, true, i0);
  if (!(f.stage1 ?? true) && !(f.stage2 ?? true)) {
    throw new OptionsError("features: stage1 and stage2 cannot both be off");
  }
  IDR0.TTF.set(w, IDR0_TTF.AARCH64, i0);
  const httu = { none: IDR0_HTTU.NONE, access: IDR0_HTTU.ACCESS, "access+dirty": IDR0_HTTU.ACCESS_DIRTY }[
    f.httu ?? "access+dirty"
  ];
  if (httu === undefined) throw new OptionsError(`features.httu: ${f.httu} is not "none", "access" or "access+dirty"`);
  IDR0.HTTU.set(w, httu, i0);
  IDR0.COHACC.set(w, 1, i0);
  flag(IDR0.Hyp, f.hyp, false, i0);
  flag(IDR0.ATS, f.ats, true, i0);
  flag(IDR0.ASID16, f.asid16, true, i0);
  flag(IDR0.MSI, f.msi, true, i0);
  flag(IDR0.SEV, f.sev, false, i0);
  // "PRI requires ATS to be implemented" (IHI 0070 3.9.1): by default PRI comes with ATS.
  flag(IDR0.PRI, f.pri, f.ats ?? true, i0);
  flag(IDR0.VMID16, f.vmid16, true, i0);
  flag(IDR0.CD2L, f.twoLevelCdTable, true, i0);
  IDR0.TTENDIAN.set(w, IDR0_TTENDIAN.LITTLE, i0);
  const stallModel = {
    "stall-and-terminate": IDR0_STALL_MODEL.STALL_AND_TERMINATE,
    "terminate-only": IDR0_STALL_MODEL.TERMINATE_ONLY,
    "stall-forced": IDR0_STALL_MODEL.STALL_FORCED,
  }[f.stalls ?? "stall-and-terminate"];
  if (stallModel === undefined) {
    throw new OptionsError(
      `features.stalls: ${f.stalls} is not "stall-and-terminate", "terminate-only" or "stall-forced"`,
    );
  }
  IDR0.STALL_MODEL.set(w, stallModel, i0);
  IDR0.TERM_MODEL.set(w, 1, i0);
  IDR0.ST_LEVEL.set(w, (f.twoLevelStreamTable ?? true) ? IDR0_ST_LEVEL.TWO_LEVEL : IDR0_ST_LEVEL.LINEAR, i0);

  IDR1.SIDSIZE.set(w, checkRange("sidBits", f.sidBits ?? DEFAULT_SID_BITS, 0, MAX_SID_BITS), i1);
  IDR1.SSIDSIZE.set(w, checkRange("ssidBits", f.ssidBits ?? DEFAULT_SSID_BITS, 0, MAX_SSID_BITS), i1);
  IDR1.CMDQS.set(w, checkRange("cmdqLog2", f.cmdqLog2 ?? MAX_QUEUE_LOG2, 0, MAX_QUEUE_LOG2), i1);
  IDR1.EVENTQS.set(w, checkRange("eventqLog2", f.eventqLog2 ?? MAX_QUEUE_LOG2, 0, MAX_QUEUE_LOG2), i1);
  IDR1.PRIQS.set(w, checkRange("priqLog2", f.priqLog2 ?? MAX_QUEUE_LOG2, 0, MAX_QUEUE_LOG2), i1);

  flag(IDR3.RIL, f.rangeInvalidation, true, i3);
  IDR3.BBML.set(w, checkRange("bbml", f.bbml ?? IDR3_BBML.LEVEL0, IDR3_BBML.LEVEL0, IDR3_BBML.LEVEL2), i3);
  flag(IDR3.HAD, f.hierarchicalAttributeDisable, true, i3);
  flag(IDR3.STT, f.smallTables, true, i3);
  // XNX is a stage-2 descriptor format, E0PD a CD field: each is advertised only with the stage it belongs to.
  flag(IDR3.XNX, (f.xnx ?? true) && (f.stage2 ?? true), true, i3);
  flag(IDR3.E0PD, (f.e0pd ?? true) && (f.stage1 ?? true), true, i3);

  const oas = f.oas ?? DEFAULT_OAS_BITS;
  const oasCode = IDR5_OAS_BY_BITS[oas];
  if (oasCode === undefined) {
    throw new OptionsError(`features.oas: ${oas} is not one of ${Object.values(IDR5_OAS_BITS).join(", ")}`);
  }
  IDR5.OAS.set(w, oasCode, i5);
  const granules: readonly number[] = f.granules ?? GRANULES_KIB;
  for (const g of granules) if (GRANULE_BY_KIB[g] === undefined) throw new OptionsError(`features.granules: ${g} KiB`);
  if (granules.length === 0) throw new OptionsError("features.granules: at least one granule is required");
  const has = (g: number) => granules.includes(GRANULE_KIB[g]!) ? 1 : 0;
  IDR5.GRAN4K.set(w, has(GRANULE.GRAN_4K), i5);
  IDR5.GRAN16K.set(w, has(GRANULE.GRAN_16K), i5);
  IDR5.GRAN64K.set(w, has(GRANULE.GRAN_64K), i5);
  IDR5.VAX.set(w, f.va52 ? IDR5_VAX.VA_52 : IDR5_VAX.VA_48, i5);
  const stallMax = checkRange("stallMax", f.stallMax ?? DEFAULT_STALL_MAX, 1, MAX_STALLS);
  // STALL_MAX is RES0 without the stall model (IHI 0070 6.3.6).
  IDR5.STALL_MAX.set(w, stallModel === IDR0_STALL_MODEL.TERMINATE_ONLY ? 0 : stallMax, i5);
  const set = { IDR0: w[i0], IDR1: w[i1], IDR3: w[i3], IDR5: w[i5] };
  validateIdRegisters(set);
  return withIdentity(set);
}

function withIdentity(v: IdRegisterValues): IdRegisterSet {
  const a = new Uint32Array(1);
  AIDR.ArchMinorRev.set(a, AIDR_ARCH_MINOR_REV.SMMUV3_2);
  return { ...v, IIDR: 0, AIDR: a[0] };
}

/** What this model implements: per field, the values it can honour (a field not listed must be 0). */
type Allowed = Readonly<Record<string, (v: number) => boolean>>;
const any = () => true;
const IDR0_OK: Allowed = {
  S2P: any,
  S1P: any,
  TTF: (v) => v === IDR0_TTF.AARCH64, // no VMSAv8-32 LPAE walks
  COHACC: any, // attributes of the SMMU's own accesses: nothing to model
  HTTU: (v) => v <= IDR0_HTTU.ACCESS_DIRTY, // the walker updates AF (HA) and dirty state through DBM (HD)
  DORMHINT: any, // STATUSR.DORMANT is computed
  Hyp: any,
  ATS: any, // Translation Requests and Translated traffic (src/translation/ats.ts); ATC invalidations forwarded to the host
  NS1ATS: any,
  ASID16: any,
  MSI: any,
  SEV: any,
  PRI: any, // the PRI queue producer (src/device/priq.ts); page requests come from the host's endpoints
  VMID16: any,
  CD2L: any,
  TTENDIAN: (v) => v === IDR0_TTENDIAN.LITTLE, // no big-endian walks
  STALL_MODEL: (v) => v in IDR0_STALL_MODEL_NAMES, // the stall model is implemented (src/device/stall.ts)
  TERM_MODEL: (v) => v === 1, // terminated transactions always abort (no RAZ/WI option)
  ST_LEVEL: (v) => v === IDR0_ST_LEVEL.LINEAR || v === IDR0_ST_LEVEL.TWO_LEVEL,
  // Refused (must be 0): BTM (no broadcast maintenance source), ATOS, VMW, VATOS,
  // ATSRECERR, RME_IMPL.
};
const IDR1_OK: Allowed = {
  SIDSIZE: (v) => v <= MAX_SID_BITS,
  SSIDSIZE: (v) => v <= MAX_SSID_BITS,
  PRIQS: (v) => v <= MAX_QUEUE_LOG2,
  EVENTQS: (v) => v <= MAX_QUEUE_LOG2,
  CMDQS: (v) => v <= MAX_QUEUE_LOG2,
  ATTR_PERMS_OVR: any,
  ATTR_TYPES_OVR: any,
  // Refused: REL, QUEUES_PRESET, TABLES_PRESET (the guest programs every base), ECMDQ.
};
const IDR3_OK: Allowed = {
  HAD: any, // hierarchical attribute disables are honoured by the walker
  XNX: any, // the stage-2 walker reads XN[1:0] as FEAT_XNX has it
  STT: any, // TxSZ bounds up to 48 (47 with 64 KiB) and the 4 KiB stage-2 level-3 start are decoded
  RIL: any,
  BBML: (v) => v in IDR3_BBML_NAMES, // no TLB conflicts are ever raised, which every level permits
  E0PD: any, // CD.E0PD0/E0PD1 fault unprivileged accesses
  PPS: any, // automatic PRI responses on overflow keep the PASID without reading STE.PPAR (src/device/priq.ts)
  // Refused: PBHA (no hardware-use bits), MPAM, FWB (no STE.S2FWB attribute model).
};
const IDR5_OK: Allowed = {
  OAS: (v) => v in IDR5_OAS_BITS, // not 0b111 (56 bits, SMMUv3.4)
  GRAN4K: any,
  GRAN16K: any,
  GRAN64K: any,
  VAX: (v) => v === IDR5_VAX.VA_48 || v === IDR5_VAX.VA_52,
  STALL_MAX: any, // checked against STALL_MODEL in validateIdRegisters
};

function check(name: string, layout: Layout, ok: Allowed, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= TWO_32) {
    throw new OptionsError(`idRegisters.${name}: ${value} is not a 32-bit value`);
  }
  const w = new Uint32Array([value]);
  if ((value & layout.reserved[0]) !== 0) {
    throw new OptionsError(
      `idRegisters.${name}: reserved bits 0x${((value & layout.reserved[0]) >>> 0).toString(16)} set`,
    );
  }
  for (const f of layout.fields) {
    const v = f.get(w);
    const allowed = ok[f.name];
    if (allowed ? !allowed(v) : v !== 0) {
      throw new OptionsError(`idRegisters.${name}.${f.name} = ${v}: this emulator cannot honour it`);
    }
  }
}

/** Refuses (OptionsError naming register and field) any ID register value this emulator cannot honour. */
export function validateIdRegisters(v: IdRegisterValues): void {
  check("IDR0", IDR0_LAYOUT, IDR0_OK, v.IDR0);
  check("IDR1", IDR1_LAYOUT, IDR1_OK, v.IDR1);
  check("IDR3", IDR3_LAYOUT, IDR3_OK, v.IDR3);
  check("IDR5", IDR5_LAYOUT, IDR5_OK, v.IDR5);
  const w = new Uint32Array([v.IDR0, v.IDR5]);
  if (!IDR0.S1P.get(w, 0) && !IDR0.S2P.get(w, 0)) {
    throw new OptionsError("idRegisters.IDR0: neither S1P nor S2P is set");
  }
  if (!IDR5.GRAN4K.get(w, 1) && !IDR5.GRAN16K.get(w, 1) && !IDR5.GRAN64K.get(w, 1)) {
    throw new OptionsError("idRegisters.IDR5: no translation granule is advertised");
  }
  // IHI 0070 6.3.6: STALL_MAX is RES0 with terminate-only; with stalls it counts what the SMMU can hold (at least 1).
  const stalls = IDR0.STALL_MODEL.get(w, 0) !== IDR0_STALL_MODEL.TERMINATE_ONLY;
  if (stalls !== (IDR5.STALL_MAX.get(w, 1) > 0)) {
    throw new OptionsError(
      `idRegisters.IDR5.STALL_MAX = ${IDR5.STALL_MAX.get(w, 1)}: must be ${
        stalls ? "at least 1 with the stall model" : "0 (RES0) with IDR0.STALL_MODEL terminate-only"
      }`,
    );
  }
}

/** The full identification set for raw values (validated first). */
export function idRegistersFrom(v: IdRegisterValues): IdRegisterSet {
  for (const k of ["IDR0", "IDR1", "IDR3", "IDR5"] as const) {
    if (typeof v[k] !== "number") throw new OptionsError(`idRegisters.${k}: missing or not a number`);
  }
  validateIdRegisters(v);
  return withIdentity({ IDR0: v.IDR0 >>> 0, IDR1: v.IDR1 >>> 0, IDR3: v.IDR3 >>> 0, IDR5: v.IDR5 >>> 0 });
}
