/**
 * What the ID registers advertise (and the CR0/CR2 bits cached with configuration), read once after each flush into
 * the {@link Caps} the configuration reader validates STEs and CDs against (IHI 0070 6.3). Its own module so
 * that the engine and tools derive it without the reader.
 * @module
 */
import {
  CR0,
  CR2,
  GRANULE,
  IDR0,
  IDR0_ASID16_BITS,
  IDR0_ST_LEVEL,
  IDR0_TTF,
  IDR0_VMID16_BITS,
  IDR1,
  IDR3,
  IDR5,
  IDR5_OAS_BITS,
  IDR5_VAX_BITS,
  REG,
} from "../../gen/mod.ts";
import { word } from "../registers/regfile.ts";

/** What the ID registers advertise, as the engine needs it. */
export interface Caps {
  readonly s1p: boolean;
  readonly s2p: boolean;
  readonly aarch64: boolean;
  readonly httu: number;
  /** ASID and VMID widths (IDR0.ASID16, VMID16): with 8 bits, the upper 8 of CD.ASID and STE.S2VMID are RES0. */
  readonly asidBits: number;
  readonly vmidBits: number;
  readonly cd2l: boolean;
  readonly hyp: boolean;
  readonly twoLevelStreams: boolean;
  readonly ttendian: number;
  readonly stallModel: number;
  readonly termModel: boolean;
  readonly permsOverride: boolean;
  readonly sidBits: number;
  readonly ssidBits: number;
  readonly oasBits: number;
  /** The granules advertised, as GRANULE values (log2 of their sizes). */
  readonly granules: ReadonlySet<number>;
  /** Largest stage-1 VA size (IDR5.VAX). */
  readonly vaBits: number;
  readonly stt: boolean;
  readonly xnx: boolean;
  readonly had: boolean;
  readonly e0pd: boolean;
  readonly e2h: boolean;
  readonly recordInvalidSid: boolean;
  /** PCIe ATS (IDR0.ATS), split-stage ATS not offered (IDR0.NS1ATS), and CR0.ATSCHK (cached with configuration). */
  readonly ats: boolean;
  readonly ns1ats: boolean;
  readonly atschk: boolean;
}

/** Reads the ID registers and CR2 from the register file's words. */
export function readCaps(w: Uint32Array): Caps {
  const i0 = word(REG.IDR0), i1 = word(REG.IDR1), i3 = word(REG.IDR3), i5 = word(REG.IDR5);
  const ttf = IDR0.TTF.get(w, i0);
  const granules = new Set<number>();
  if (IDR5.GRAN4K.get(w, i5)) granules.add(GRANULE.GRAN_4K);
  if (IDR5.GRAN16K.get(w, i5)) granules.add(GRANULE.GRAN_16K);
  if (IDR5.GRAN64K.get(w, i5)) granules.add(GRANULE.GRAN_64K);
  return {
    s1p: IDR0.S1P.get(w, i0) === 1,
    s2p: IDR0.S2P.get(w, i0) === 1,
    aarch64: ttf === IDR0_TTF.AARCH64 || ttf === IDR0_TTF.AARCH32_AND_64,
    httu: IDR0.HTTU.get(w, i0),
    asidBits: IDR0_ASID16_BITS[IDR0.ASID16.get(w, i0)],
    vmidBits: IDR0_VMID16_BITS[IDR0.VMID16.get(w, i0)],
    cd2l: IDR0.CD2L.get(w, i0) === 1,
    hyp: IDR0.Hyp.get(w, i0) === 1,
    twoLevelStreams: IDR0.ST_LEVEL.get(w, i0) === IDR0_ST_LEVEL.TWO_LEVEL,
    ttendian: IDR0.TTENDIAN.get(w, i0),
    stallModel: IDR0.STALL_MODEL.get(w, i0),
    termModel: IDR0.TERM_MODEL.get(w, i0) === 1,
    permsOverride: IDR1.ATTR_PERMS_OVR.get(w, i1) === 1,
    sidBits: Math.min(IDR1.SIDSIZE.get(w, i1), IDR1.SIDSIZE.max),
    ssidBits: Math.min(IDR1.SSIDSIZE.get(w, i1), IDR1.SSIDSIZE.max),
    // The ID registers hold only values features.ts accepts: no reserved OAS or VAX encoding.
    oasBits: IDR5_OAS_BITS[IDR5.OAS.get(w, i5)]!,
    granules,
    vaBits: IDR5_VAX_BITS[IDR5.VAX.get(w, i5)]!,
    stt: IDR3.STT.get(w, i3) === 1,
    xnx: IDR3.XNX.get(w, i3) === 1,
    had: IDR3.HAD.get(w, i3) === 1,
    e0pd: IDR3.E0PD.get(w, i3) === 1,
    e2h: CR2.E2H.get(w, word(REG.CR2)) === 1,
    recordInvalidSid: CR2.RECINVSID.get(w, word(REG.CR2)) === 1,
    ats: IDR0.ATS.get(w, i0) === 1,
    ns1ats: IDR0.NS1ATS.get(w, i0) === 1,
    atschk: CR0.ATSCHK.get(w, word(REG.CR0)) === 1,
  };
}
