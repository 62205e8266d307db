/**
 * Configuration lookup: StreamID → STE through a linear or 2-level stream table (IHI 0070 3.3, 5.1, 5.2), and
 * SubstreamID → CD through a linear or 2-level CD table (3.3.2, 5.3, 5.4). Each structure is validated once, against
 * the ID registers' {@link Caps}, and decoded into an immutable object (config_types.ts); an invalid one yields the
 * architected event (C_BAD_*, F_*_FETCH).
 * @module
 */
import {
  CD,
  CD_AA64,
  CD_BYTES,
  CD_ENDI,
  CD_IPS_BITS,
  CD_LAYOUT,
  CD_TG0_GRANULE,
  CD_TG1_GRANULE,
  EVENT_TYPE,
  EVT_CLASS,
  GRANULE_MAX_INPUT_BITS,
  GRANULE_MAX_OA_BITS,
  GRANULE_MIN_INPUT_BITS,
  GRANULE_MIN_INPUT_BITS_WITHOUT_STT,
  IDR0_HTTU,
  IDR0_STALL_MODEL,
  IDR0_TTENDIAN,
  L1CD,
  L1CD_BYTES,
  L1CD_LAYOUT,
  L1STD,
  L1STD_BYTES,
  L1STD_LAYOUT,
  REG,
  STE,
  STE_BYTES,
  STE_CONFIG,
  STE_CONFIG_EFFECTIVE,
  STE_EATS,
  STE_LAYOUT,
  STE_S1DSS_EFFECTIVE,
  STE_S1FMT,
  STE_S1FMT_EFFECTIVE,
  STE_S1FMT_SPLIT,
  STE_S2AA64,
  STE_S2ENDI,
  STE_S2PS_BITS,
  STE_S2TG_GRANULE,
  STE_STRW,
  STRTAB_BASE,
  STRTAB_BASE_CFG,
  STRTAB_BASE_CFG_FMT,
  STRTAB_BASE_CFG_SPLIT_EFFECTIVE,
  VA_LAYOUT,
} from "../../gen/mod.ts";
import { ABORT } from "../core/memory.ts";
import type { GuestMemory } from "../core/memory.ts";
import { word } from "../registers/regfile.ts";
import { WORD_BYTES } from "../core/numbers.ts";
import { type Fault, newFault, NO_PA, setCause, translationRelated } from "../core/types.ts";
import { NO_LEVEL, stage1StartLevel, stage2StartLevel } from "./regime.ts";
import type { Regime } from "./regime.ts";
import type { Walker } from "./walk.ts";
import type { Caps } from "./caps.ts";
import { WORLD } from "./config_types.ts";
import type { ConfigRead, ConfigTrace, ContextConfig, StreamConfig, StreamStage1 } from "./config_types.ts";

/** A TxSZ field is the size offset of its input region: the region is 2^(VA_BITS - TxSZ) bytes. */
const VA_BITS = VA_LAYOUT.bits;

/** The structure's words as a frozen plain array (a loop: Array.from over a typed array is an order slower). */
function frozenWords(w: Uint32Array): readonly number[] {
  const words = new Array<number>(w.length);
  for (let i = 0; i < w.length; i++) words[i] = w[i];
  return Object.freeze(words);
}

/**
 * Valid CD.T0SZ/T1SZ for granule `gs` (IHI 0070 5.4 T0SZ): from the largest input the granule and IDR5.VAX allow (16,
 * 12 with 52-bit VAs and 64 KiB) to the smallest (39; with STT 48, 47 with 64 KiB).
 */
function txszRange(caps: Caps, gs: number): [number, number] {
  return [VA_BITS - Math.min(caps.vaBits, GRANULE_MAX_INPUT_BITS[gs]!), maxTxsz(caps, gs)];
}

function maxTxsz(caps: Caps, gs: number): number {
  return VA_BITS - (caps.stt ? GRANULE_MIN_INPUT_BITS : GRANULE_MIN_INPUT_BITS_WITHOUT_STT)[gs]!;
}

/**
 * Valid STE.S2T0SZ for granule `gs` (IHI 0070 5.2 S2T0SZ, SMMUv3.1 and later): at least MAX(16, 64 - IAS), or
 * MAX(12, 64 - IAS) with 64 KiB, where IAS = OAS with VMSAv8-64 tables only (IHI 0070 3.4); at most as for a CD.
 */
function s2t0szRange(caps: Caps, gs: number): [number, number] {
  return [VA_BITS - Math.min(GRANULE_MAX_INPUT_BITS[gs]!, caps.oasBits), maxTxsz(caps, gs)];
}

/**
 * The effective STE.EATS of a valid STE, or why it is ILLEGAL (IHI 0070 5.2 EATS). IGNORED without ATS (IDR0.ATS) and
 * for Config 0b0xx/0b100, where it acts as 0b00. 0b01 (full ATS) is ILLEGAL with stage 2 stalling (S2S, Config 0b11x);
 * 0b10 (split stage) unless the stream is nested without S2S on an SMMU that offers it (NS1ATS 0), and then it acts as
 * 0b00 while CR0.ATSCHK is 0; 0b11 (DPT) is reserved without IDR3.DPT and acts as 0b00.
 */
function effectiveEats(caps: Caps, w: Uint32Array, config: number): number | string {
  const eats = STE.EATS.get(w);
  if (!caps.ats || config === STE_CONFIG.ABORT || config === STE_CONFIG.BYPASS) return STE_EATS.ABORT;
  const hasS2 = config === STE_CONFIG.S2_TRANS || config === STE_CONFIG.NESTED;
  const s2s = STE.S2S.get(w) === 1;
  if (eats === STE_EATS.FULL) return hasS2 && s2s ? "EATS full ATS with S2S" : eats;
  if (eats !== STE_EATS.SPLIT) return STE_EATS.ABORT;
  if (config !== STE_CONFIG.NESTED || s2s || caps.ns1ats) return "EATS split stage needs nested, S2S 0 and NS1ATS 0";
  return caps.atschk ? eats : STE_EATS.ABORT;
}

/**
 * Fetches and decodes STEs and CDs from guest memory. A failed lookup describes its fault in {@link fault} (what went
 * wrong, and whether the architecture records it; the translator adds the transaction) and says why in
 * {@link reason}.
 */
export class ConfigReader {
  /** Where a failed lookup describes its fault (the engine's one Fault). */
  readonly fault: Fault;
  /** Why the last lookup failed, in words (for tools). */
  reason = "";
  readonly #memory: GuestMemory;
  readonly #buf = new Uint32Array(Math.max(STE_LAYOUT.words, CD_LAYOUT.words));
  /** When set, every structure read is reported here (probes for tools only). */
  trace: ConfigTrace | null = null;

  constructor(memory: GuestMemory, fault: Fault = newFault()) {
    this.#memory = memory;
    this.fault = fault;
  }

  /** A failed lookup: `type` at `fetchAddr`, recorded as an event unless `record` is false. */
  #fail(type: number, reason: string, fetchAddr = 0, record = true): null {
    setCause(this.fault, type, false, 0, 0, fetchAddr);
    this.fault.recorded = record;
    this.reason = reason;
    return null;
  }

  /** Reads the `n` words of `structure` at `addr` into the buffer; false on an external abort. */
  #fetch(addr: number, n: number, structure: ConfigRead["structure"]): boolean {
    let read = 0;
    for (; read < n; read++) {
      const v = this.#memory.read32(addr + WORD_BYTES * read);
      if (v === ABORT) break;
      this.#buf[read] = v;
    }
    const t = this.trace;
    if (t !== null) {
      const words = read === n ? Array.from(this.#buf.subarray(0, n)) : [];
      t.reads.push({ structure, addr, words, cached: false, after: t.steps.length });
    }
    return read === n;
  }

  /** Looks up and decodes the STE of `sid` (IHI 0070 3.3.1); null on failure (see {@link failure}). */
  readStream(regs: Uint32Array, caps: Caps, sid: number): StreamConfig | null {
    const cfgWord = word(REG.STRTAB_BASE_CFG);
    const log2size = Math.min(STRTAB_BASE_CFG.LOG2SIZE.get(regs, cfgWord), caps.sidBits);
    if (!(sid >= 0 && sid < 2 ** log2size)) {
      return this.#fail(EVENT_TYPE.C_BAD_STREAMID, "StreamID beyond the stream table", 0, caps.recordInvalidSid);
    }
    const base = STRTAB_BASE.ADDR.getAddress(regs, word(REG.STRTAB_BASE));
    let steAddr: number;
    const twoLevel = caps.twoLevelStreams &&
      STRTAB_BASE_CFG.FMT.get(regs, cfgWord) === STRTAB_BASE_CFG_FMT.TWO_LEVEL;
    if (twoLevel) {
      // IHI 0070 6.3.25 SPLIT: "Other values are reserved, behave as 6".
      const split = STRTAB_BASE_CFG_SPLIT_EFFECTIVE[STRTAB_BASE_CFG.SPLIT.get(regs, cfgWord)];
      const l1Addr = base + Math.floor(sid / 2 ** split) * L1STD_BYTES;
      if (!this.#fetch(l1Addr, L1STD_LAYOUT.words, "L1STD")) {
        return this.#fail(EVENT_TYPE.F_STE_FETCH, "L1STD fetch aborted", l1Addr);
      }
      const span = L1STD.Span.get(this.#buf);
      // IHI 0070 5.1: Span 0 is invalid, Span > SPLIT + 1 is reserved; an L2 index beyond 2^(Span-1) has no STE.
      if (span === 0 || span > split + 1) {
        return this.#fail(EVENT_TYPE.C_BAD_STREAMID, "L1STD invalid", 0, caps.recordInvalidSid);
      }
      const l2Index = sid % 2 ** split;
      if (l2Index >= 2 ** (span - 1)) {
        return this.#fail(EVENT_TYPE.C_BAD_STREAMID, "StreamID beyond L1STD.Span", 0, caps.recordInvalidSid);
      }
      steAddr = L1STD.L2Ptr.getAddress(this.#buf) + l2Index * STE_BYTES;
    } else {
      steAddr = base + sid * STE_BYTES;
    }
    if (!this.#fetch(steAddr, STE_LAYOUT.words, "STE")) {
      return this.#fail(EVENT_TYPE.F_STE_FETCH, "STE fetch aborted", steAddr);
    }
    return this.#decodeSte(caps, sid, steAddr);
  }

  /** STE validity (IHI 0070 5.2): every ILLEGAL combination gives C_BAD_STE. */
  #decodeSte(caps: Caps, sid: number, steAddr: number): StreamConfig | null {
    const w = this.#buf;
    const bad = (reason: string) => this.#fail(EVENT_TYPE.C_BAD_STE, reason);
    if (STE.V.get(w) === 0) return bad("STE.V is 0");
    // Reserved encodings behave as the value they stand for (IHI 0070 5.2 Config 0b0xx, S1Fmt and S1DSS 0b11).
    const config = STE_CONFIG_EFFECTIVE[STE.Config.get(w)] as StreamConfig["config"];
    const hasS1 = config === STE_CONFIG.S1_TRANS || config === STE_CONFIG.NESTED;
    const hasS2 = config === STE_CONFIG.S2_TRANS || config === STE_CONFIG.NESTED;
    if (hasS1 && !caps.s1p) return bad("stage 1 not implemented");
    if (hasS2 && !caps.s2p) return bad("stage 2 not implemented");
    let s1: StreamStage1 | null = null;
    if (hasS1) {
      const cdMax = STE.S1CDMax.get(w);
      const fmt = STE_S1FMT_EFFECTIVE[STE.S1Fmt.get(w)] as StreamStage1["fmt"];
      const dss = STE_S1DSS_EFFECTIVE[STE.S1DSS.get(w)] as StreamStage1["dss"];
      if (cdMax > caps.ssidBits) return bad("S1CDMax beyond SSIDSIZE");
      if (cdMax !== 0) {
        if (fmt !== STE_S1FMT.LINEAR && !caps.cd2l) return bad("2-level CD tables not supported");
      }
      const stallDisabled = STE.S1STALLD.get(w) === 1;
      if (stallDisabled && caps.stallModel !== IDR0_STALL_MODEL.STALL_AND_TERMINATE) return bad("S1STALLD");
      let world: number = WORLD.EL1;
      const strw = STE.STRW.get(w);
      if (!hasS2) {
        if (strw === STE_STRW.EL2) {
          if (!caps.hyp) return bad("STRW EL2 without Hyp");
          world = caps.e2h ? WORLD.EL2_E2H : WORLD.EL2;
        } else if (strw !== STE_STRW.NSEL1) return bad("reserved STRW");
      }
      const contextPtr = STE.S1ContextPtr.getAddress(w);
      if (!hasS2 && contextPtr >= 2 ** caps.oasBits) return bad("S1ContextPtr beyond OAS");
      s1 = { contextPtr, fmt: cdMax === 0 ? STE_S1FMT.LINEAR : fmt, cdMax, dss, world, stallDisabled };
    }
    let s2: Regime | null = null;
    let vmid = caps.s2p ? STE.S2VMID.get(w) : 0;
    if (hasS2) {
      if (STE.S2AA64.get(w) !== STE_S2AA64.VMSAV8_64 || !caps.aarch64) return bad("stage 2 table format");
      const gs = STE_S2TG_GRANULE[STE.S2TG.get(w)];
      if (gs === undefined || !caps.granules.has(gs)) return bad("S2TG not supported");
      const psBits = Math.min(STE_S2PS_BITS[STE.S2PS.get(w)], caps.oasBits);
      const t0sz = STE.S2T0SZ.get(w);
      const [min, max] = s2t0szRange(caps, gs);
      if (t0sz < min || t0sz > max) return bad("S2T0SZ out of range");
      const start = stage2StartLevel(gs, STE.S2SL0.get(w), VA_BITS - t0sz, caps.stt, caps.oasBits);
      if (start === NO_LEVEL) return bad("S2SL0 inconsistent with S2T0SZ and S2TG");
      const ttb = STE.S2TTB.getAddress(w);
      // IHI 0070 5.2 S2TTB: within the effective S2PS, and within 48 bits with a 4 KiB or 16 KiB granule.
      if (ttb >= 2 ** psBits || ttb >= 2 ** GRANULE_MAX_OA_BITS[gs]!) return bad("S2TTB beyond S2PS");
      if (STE.S2ENDI.get(w) === STE_S2ENDI.BIG || caps.ttendian === IDR0_TTENDIAN.BIG) {
        return bad("big-endian stage 2 tables");
      }
      const ha = STE.S2HA.get(w) === 1, hd = STE.S2HD.get(w) === 1;
      if (ha && caps.httu === IDR0_HTTU.NONE) return bad("S2HA without HTTU");
      if (hd && caps.httu !== IDR0_HTTU.ACCESS_DIRTY) return bad("S2HD without HTTU dirty");
      const s2s = STE.S2S.get(w) === 1;
      if (s2s && caps.stallModel === IDR0_STALL_MODEL.TERMINATE_ONLY) return bad("S2S with terminate-only");
      if (!s2s && caps.stallModel === IDR0_STALL_MODEL.STALL_FORCED) return bad("S2S 0 with forced stall");
      s2 = {
        stage: 2,
        granuleShift: gs,
        inputBits: VA_BITS - t0sz,
        startLevel: start,
        ttb,
        oaBits: psBits,
        ha,
        hd: ha && hd,
        affd: STE.S2AFFD.get(w) === 1,
        hierarchical: false,
        el2: false,
        pan: false,
        wxn: false,
        xnx: caps.xnx,
        ptw: config === STE_CONFIG.NESTED && STE.S2PTW.get(w) === 1,
      };
    }
    // IHI 0070 5.2 S2VMID: with 8-bit VMIDs its upper bits must be 0 unless it is IGNORED (no stage 2, or a StreamWorld
    // other than NS-EL1); ignored, they are dropped.
    const vmidIgnored = !caps.s2p || (s1 !== null && s1.world !== WORLD.EL1);
    if (!vmidIgnored && vmid >= 2 ** caps.vmidBits) return bad("16-bit VMID not supported");
    vmid %= 2 ** caps.vmidBits;
    const eats = effectiveEats(caps, w, config);
    if (typeof eats === "string") return bad(eats);
    return Object.freeze({
      sid,
      steAddr,
      words: frozenWords(w),
      config,
      s1: s1 && Object.freeze(s1),
      s2: s2 && Object.freeze(s2),
      vmid,
      s2Record: STE.S2R.get(w) === 1 || STE.S2S.get(w) === 1,
      s2Stall: s2 !== null && STE.S2S.get(w) === 1,
      eats,
      ppar: STE.PPAR.get(w) === 1,
      privcfg: caps.permsOverride ? STE.PRIVCFG.get(w) : 0,
      instcfg: caps.permsOverride ? STE.INSTCFG.get(w) : 0,
    });
  }

  /**
   * Translates a CD-table IPA of `stream` through its stage 2 (nested), or returns it; NO_PA on a stage-2 fault, a
   * translation-related event with CLASS CD and IPA the CD's address (IHI 0070 7.3.13), recorded as STE.S2R says.
   */
  #cdAddress(addr: number, stream: StreamConfig, walker: Walker, update: boolean): number {
    const s2 = stream.s2;
    if (s2 === null) return addr;
    const ok = walker.walk(s2, addr, 0, update);
    // STE.S2PTW: a CD fetch from stage-2 Device memory is a stage-2 Permission fault (IHI 0070 5.2).
    const device = ok && s2.ptw && walker.device;
    if (ok && !device) return walker.outBase + (addr - walker.inBase);
    const type = device ? EVENT_TYPE.F_PERMISSION : walker.fault.type;
    setCause(this.fault, type, true, EVT_CLASS.CD, addr, device ? 0 : walker.fault.fetchAddr);
    this.fault.recorded = !translationRelated(type) || stream.s2Record;
    this.reason = "stage 2 fault on a CD fetch";
    return NO_PA;
  }

  /**
   * Finds and decodes the CD of `ssid` (0 for the only CD or SSID0) for a stage-1 stream (IHI 0070 3.3.2); null on
   * failure.
   */
  readContext(caps: Caps, stream: StreamConfig, ssid: number, walker: Walker, update: boolean): ContextConfig | null {
    const s1 = stream.s1!;
    let cdIpa = s1.contextPtr;
    if (s1.cdMax !== 0) {
      if (s1.fmt === STE_S1FMT.LINEAR) cdIpa += ssid * CD_BYTES;
      else {
        const split = STE_S1FMT_SPLIT[s1.fmt]!;
        const l1Ipa = s1.contextPtr + Math.floor(ssid / 2 ** split) * L1CD_BYTES;
        const l1Addr = this.#cdAddress(l1Ipa, stream, walker, update);
        if (l1Addr === NO_PA) return null;
        if (!this.#fetch(l1Addr, L1CD_LAYOUT.words, "L1CD")) {
          return this.#fail(EVENT_TYPE.F_CD_FETCH, "L1CD fetch aborted", l1Addr);
        }
        if (L1CD.V.get(this.#buf) === 0) return this.#fail(EVENT_TYPE.C_BAD_SUBSTREAMID, "L1CD.V is 0");
        const l2 = L1CD.L2Ptr.getAddress(this.#buf);
        // IHI 0070 3.4.3: a stage-1-only L1CD.L2Ptr beyond the OAS gives C_BAD_SUBSTREAMID (SMMUv3.1 and later).
        if (stream.s2 === null && l2 >= 2 ** caps.oasBits) {
          return this.#fail(EVENT_TYPE.C_BAD_SUBSTREAMID, "L1CD.L2Ptr beyond OAS");
        }
        cdIpa = l2 + (ssid % 2 ** split) * CD_BYTES;
      }
    }
    const cdAddr = this.#cdAddress(cdIpa, stream, walker, update);
    if (cdAddr === NO_PA) return null;
    if (!this.#fetch(cdAddr, CD_LAYOUT.words, "CD")) {
      return this.#fail(EVENT_TYPE.F_CD_FETCH, "CD fetch aborted", cdAddr);
    }
    return this.#decodeCd(caps, stream, cdAddr);
  }

  /** CD validity (IHI 0070 5.4, 5.5): every ILLEGAL combination gives C_BAD_CD. */
  #decodeCd(caps: Caps, stream: StreamConfig, cdAddr: number): ContextConfig | null {
    const w = this.#buf;
    const bad = (reason: string) => this.#fail(EVENT_TYPE.C_BAD_CD, reason);
    if (CD.V.get(w) === 0) return bad("CD.V is 0");
    if (CD.AA64.get(w) !== CD_AA64.VMSAV8_64 || !caps.aarch64) {
      return bad("CD.AA64: only VMSAv8-64 tables are supported");
    }
    const world = stream.s1!.world;
    const el2 = world === WORLD.EL2;
    const epd0 = !el2 && CD.EPD0.get(w) === 1;
    const epd1 = el2 || CD.EPD1.get(w) === 1; // single-range EL2 has no TTB1
    if (!(epd0 && epd1) && (CD.ENDI.get(w) === CD_ENDI.BIG || caps.ttendian === IDR0_TTENDIAN.BIG)) {
      return bad("big-endian stage 1 tables");
    }
    const ipsBits = Math.min(CD_IPS_BITS[CD.IPS.get(w)], caps.oasBits);
    const ha = CD.HA.get(w) === 1, hd = CD.HD.get(w) === 1;
    if (ha && caps.httu === IDR0_HTTU.NONE) return bad("CD.HA without HTTU");
    if (hd && caps.httu !== IDR0_HTTU.ACCESS_DIRTY) return bad("CD.HD without HTTU dirty");
    // IHI 0070 5.4 ASID: IGNORED for an EL2 StreamWorld; otherwise ASID[15:8] must be 0 with 8-bit ASIDs.
    const asid = el2 ? 0 : CD.ASID.get(w);
    if (asid >= 2 ** caps.asidBits) return bad("16-bit ASID not supported");
    if (CD.A.get(w) === 0 && caps.termModel) return bad("CD.A 0 with TERM_MODEL 1");
    const s = CD.S.get(w) === 1;
    if (s && caps.stallModel === IDR0_STALL_MODEL.TERMINATE_ONLY) return bad("CD.S with terminate-only");
    if (!s && caps.stallModel === IDR0_STALL_MODEL.STALL_FORCED) return bad("CD.S 0 with forced stall");
    if (s && stream.s1!.stallDisabled) return bad("CD.S with STE.S1STALLD");
    const regime = (which: 0 | 1): Regime | string => {
      const gs = which === 0 ? CD_TG0_GRANULE[CD.TG0.get(w)] : CD_TG1_GRANULE[CD.TG1.get(w)];
      if (gs === undefined || !caps.granules.has(gs)) return `TG${which} not supported`;
      const tsz = which === 0 ? CD.T0SZ.get(w) : CD.T1SZ.get(w);
      const [min, max] = txszRange(caps, gs);
      if (tsz < min || tsz > max) return `T${which}SZ out of range`;
      const ttb = which === 0 ? CD.TTB0.getAddress(w) : CD.TTB1.getAddress(w);
      if (ttb >= 2 ** ipsBits || ttb >= 2 ** GRANULE_MAX_OA_BITS[gs]!) return `TTB${which} beyond IPS`;
      return Object.freeze(
        {
          stage: 1,
          granuleShift: gs,
          inputBits: VA_BITS - tsz,
          startLevel: stage1StartLevel(gs, VA_BITS - tsz),
          ttb,
          oaBits: ipsBits,
          ha,
          hd: ha && hd,
          affd: CD.AFFD.get(w) === 1,
          hierarchical: !(caps.had && (which === 0 ? CD.HAD0.get(w) : CD.HAD1.get(w)) === 1),
          el2,
          pan: !el2 && CD.PAN.get(w) === 1,
          wxn: CD.WXN.get(w) === 1,
          xnx: false,
          ptw: false,
        } as const,
      );
    };
    const r0 = epd0 ? null : regime(0);
    if (typeof r0 === "string") return bad(r0);
    const r1 = epd1 ? null : regime(1);
    if (typeof r1 === "string") return bad(r1);
    const e0pd = caps.e0pd && !el2;
    return Object.freeze({
      cdAddr,
      asid,
      ttb0: r0,
      ttb1: r1,
      record: CD.R.get(w) === 1 || s,
      stall: s,
      e0pd0: e0pd && CD.E0PD0.get(w) === 1,
      e0pd1: e0pd && CD.E0PD1.get(w) === 1,
      tbi0: CD.TBI0.get(w) === 1,
      tbi1: !el2 && CD.TBI1.get(w) === 1,
      words: frozenWords(w),
    });
  }
}
