/**
 * What a walk of one set of tables is: the decoded {@link Regime} (a TTB range of a CD, or an STE's stage 2) and the
 * VMSAv8-64 geometry the configuration decoder and the walker both derive from it (Arm DDI 0487 D8; IHI 0070 5.2
 * S2SL0/S2T0SZ): the level a walk starts at, or why it cannot start, and the levels a block may be at. Kept apart from
 * the walker so that the decoder checks a configuration with the walker's own rules without reaching into the walk.
 * @module
 */
import {
  GRANULE,
  GRANULE_FIRST_BLOCK_LEVEL,
  GRANULE_FIRST_BLOCK_LEVEL_52,
  GRANULE_MAX_CONCATENATED_TABLES,
  GRANULE_S2_FIRST_LEVEL,
  GRANULE_S2_FIRST_LEVEL_MIN_OA_BITS,
  IDR5_OAS,
  IDR5_OAS_BITS,
  STE_S2SL0_LEVEL_16K_64K,
  STE_S2SL0_LEVEL_4K,
  STE_S2SL0_NEEDS_STT,
  TT_DESC_BYTES,
  TT_LEVEL,
} from "../../gen/mod.ts";

/** How to walk one set of tables: a TTB range of a CD (stage 1) or an STE's stage 2. Immutable once decoded. */
export interface Regime {
  /** Translation stage this regime walks for. */
  readonly stage: 1 | 2;
  /** log2 of the granule: a gen/ GRANULE value (12, 14 or 16). */
  readonly granuleShift: number;
  /** Input address size in bits (64 - TxSZ). */
  readonly inputBits: number;
  /** Level of the first lookup (stage 2: from S2SL0; may be a concatenated table). */
  readonly startLevel: number;
  /** Translation table base (address of the start table). */
  readonly ttb: number;
  /** Effective output size in bits (IPS or S2PS capped by OAS): larger outputs give F_ADDR_SIZE. */
  readonly oaBits: number;
  /** Hardware Access flag update (HA / S2HA, with HTTU advertised). */
  readonly ha: boolean;
  /** Hardware dirty-state update through DBM (HD / S2HD, with HTTU advertised). */
  readonly hd: boolean;
  /** AF == 0 is treated as 1 instead of faulting (AFFD / S2AFFD). */
  readonly affd: boolean;
  /** Stage 1: APTable/PXNTable/UXNTable apply (hierarchical attributes not disabled by HADx). */
  readonly hierarchical: boolean;
  /** Stage 1: single-privilege EL2 regime (StreamWorld EL2 without E2H): AP[1] and PXN do not apply. */
  readonly el2: boolean;
  /** Stage 1: Privileged Access Never (CD.PAN). */
  readonly pan: boolean;
  /** Stage 1: writable implies execute-never (CD.WXN). */
  readonly wxn: boolean;
  /** Stage 2: two-bit XN (IDR3.XNX). */
  readonly xnx: boolean;
  /** Stage 2 of a nested stream: stage-1 table walks and CD fetches to Device memory fault (STE.S2PTW). */
  readonly ptw: boolean;
}

/** {@link stage2StartLevel} of a configuration no walk can start from (ILLEGAL). */
export const NO_LEVEL = -1;

/** The last level of every walk: its valid descriptors are pages. */
const LAST_LEVEL = TT_LEVEL.LEVEL_3;
/** log2 of a descriptor's bytes: a table of one granule resolves (granule shift - DESC_SHIFT) input bits. */
const DESC_SHIFT = Math.log2(TT_DESC_BYTES);
/** Output size whose blocks follow GRANULE first_block_level_52 (FEAT_LPA). */
const OA_BITS_52 = IDR5_OAS_BITS[IDR5_OAS.BITS_52]!;

/** Input bits one level of the granule `granuleShift` resolves. */
export function stride(granuleShift: number): number {
  return granuleShift - DESC_SHIFT;
}

/** Start level of a stage-1 walk: the fewest levels that resolve `inputBits` (DDI 0487 D8.2). */
export function stage1StartLevel(granuleShift: number, inputBits: number): number {
  return LAST_LEVEL + 1 - Math.ceil((inputBits - granuleShift) / stride(granuleShift));
}

/**
 * Start level of a stage-2 walk from S2SL0 (as VTCR_EL2.SL0), or NO_LEVEL when the combination with the granule, the
 * input size and the implementation is ILLEGAL (IHI 0070 5.2 S2SL0/S2T0SZ: as the A-profile translation system defines,
 * DDI 0487 AArch64.S2InvalidSL and AArch64.S2InconsistentSL): a start S2SL0 reserves, or that needs small translation
 * tables (`stt`) without them; the deepest start of a granule with too small an `oasBits`; and a start table that
 * resolves no bit, or needs more concatenated tables than the architecture allows (gen/ STE_S2SL0, GRANULE).
 */
export function stage2StartLevel(
  granuleShift: number,
  sl0: number,
  inputBits: number,
  stt = false,
  oasBits = OA_BITS_52,
): number {
  const level = granuleShift === GRANULE.GRAN_4K ? STE_S2SL0_LEVEL_4K[sl0] : STE_S2SL0_LEVEL_16K_64K[sl0];
  if (level === undefined || (STE_S2SL0_NEEDS_STT[sl0] && !stt)) return NO_LEVEL;
  const deepest = GRANULE_S2_FIRST_LEVEL[granuleShift]!;
  if (level === deepest && oasBits < GRANULE_S2_FIRST_LEVEL_MIN_OA_BITS[granuleShift]!) return NO_LEVEL;
  const bits = inputBits - (granuleShift + (LAST_LEVEL - level) * stride(granuleShift));
  const concatenated = Math.log2(GRANULE_MAX_CONCATENATED_TABLES[granuleShift]!);
  return bits >= 1 && bits <= stride(granuleShift) + concatenated ? level : NO_LEVEL;
}

/** A block descriptor is allowed at `level` of `r`'s granule and output size (DDI 0487 D8.3: gen/ GRANULE). */
export function blockAllowed(r: Regime, level: number): boolean {
  return level >= (r.oaBits === OA_BITS_52 ? GRANULE_FIRST_BLOCK_LEVEL_52 : GRANULE_FIRST_BLOCK_LEVEL)[r.granuleShift]!;
}
