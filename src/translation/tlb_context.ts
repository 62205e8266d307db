/**
 * A context (the decoded configuration of one (StreamID, SubstreamID) pair), how an STE takes the transactions of a
 * SubstreamID into one ({@link admission}, {@link flagMapOf}), and its TLB tags (IHI 0070 3.17). The caches that hold
 * contexts are in tlb.ts; a walker's view of their walk caches in walk_cache.ts.
 * @module
 */
import {
  CMD_TLBI_TG,
  CMD_TLBI_TG_GRANULE,
  EVENT_TYPE,
  GRANULE,
  STE,
  STE_CONFIG,
  STE_INSTCFG,
  STE_PRIVCFG,
  STE_S1DSS,
} from "../../gen/mod.ts";
import { ACCESS, ACCESS_KINDS, NO_SSID, SSID_LIMIT } from "../core/types.ts";
import { POW2 } from "../core/numbers.ts";
import type { TlbRange } from "../core/types.ts";
import type { ContextConfig, StreamConfig } from "./config_types.ts";
import { WORLD } from "./config_types.ts";
import type { Regime } from "./regime.ts";
import { NONE } from "./tlb_pages.ts";

/** What a context does with a transaction. */
export const KIND = { ABORT: 0, BYPASS: 1, TRANSLATE: 2 } as const;

/** TLB tag classes: the translation regimes of IHI 0070 3.17 (stage-1 StreamWorlds, and stage 2 alone). */
export const CLASS = { EL1: 0, EL2: 1, EL2_E2H: 2, S2: 3, NONE: -1 } as const;

/** Decoded configuration of one (StreamID, SubstreamID) pair; its TLB rows live in the Caches that hold it. */
export class Context {
  /** Owner id of its rows while cached (NONE for a probe's context, which is never cached). */
  id = NONE;
  /** Sizes of the blocks its rows hold (each reached by its {@link blockKey}). */
  blockSizes: number[] = [];
  /** Held by its Caches (false once dropped), so a translator may keep using it without a lookup. */
  live = true;
  /** Used since the context cache last looked at it for eviction. */
  used = true;
  /** TLB tag class (CLASS), the VMID and ASID tagging its rows. */
  readonly tagClass: number;
  readonly vmid: number;
  readonly asid: number;
  /**
   * The stage-1 regime of the lower range when its misses may take the translator's quick path (stage 1 translates,
   * with or without stage 2; no STE overrides; no E0PD; a 4 KiB granule, whose pages, and their stage-2 parts, a TLB
   * fill keys as they are, without a block row), else null.
   */
  readonly quick: Regime | null;
  constructor(
    readonly key: number,
    readonly sid: number,
    readonly ssid: number,
    readonly stream: StreamConfig,
    readonly kind: number,
    /** The CD in use (null: stage 1 bypassed or absent). */
    readonly cd: ContextConfig | null,
    /** Stage-2 regime (null: none). */
    readonly s2: Regime | null,
    /** Access flags after STE.PRIVCFG/INSTCFG overrides, by incoming flags (null: no override). */
    readonly flagMap: Uint8Array | null,
  ) {
    const world = stream.s1?.world;
    this.tagClass = kind !== KIND.TRANSLATE
      ? CLASS.NONE
      : cd === null
      ? CLASS.S2
      : world === WORLD.EL1
      ? CLASS.EL1
      : world === WORLD.EL2
      ? CLASS.EL2
      : CLASS.EL2_E2H;
    this.vmid = this.tagClass === CLASS.EL1 || this.tagClass === CLASS.S2 ? stream.vmid : 0;
    this.asid = cd?.asid ?? 0;
    this.quick = kind === KIND.TRANSLATE && cd !== null && flagMap === null && !cd.e0pd0 &&
        cd.ttb0?.granuleShift === GRANULE.GRAN_4K
      ? cd.ttb0
      : null;
  }
  /** Stage 1 over stage 2. */
  get nested(): boolean {
    return this.cd !== null && this.s2 !== null;
  }
}

/**
 * How an STE takes a transaction of SubstreamID `ssid` (NO_SSID: none), before any CD is read: its context's KIND and
 * the SubstreamID of the CD it uses (NO_SSID: stage 1 bypassed), or the fault that refuses it (`refused`, an event
 * type) and why.
 */
export type Admission =
  | { readonly kind: number; readonly cdSsid: number; readonly refused?: undefined }
  | { readonly refused: number; readonly reason: string };

const BAD_SSID: Admission = { refused: EVENT_TYPE.C_BAD_SUBSTREAMID, reason: "SubstreamID not accepted by this STE" };

/** The {@link Admission} of `ssid` by `stream`: the SubstreamID and S1DSS rules (IHI 0070 3.3.2, 5.2). */
export function admission(stream: StreamConfig, ssid: number): Admission {
  if (stream.config === STE_CONFIG.ABORT) return { kind: KIND.ABORT, cdSsid: NO_SSID };
  const s1 = stream.s1;
  if (s1 === null) {
    if (ssid >= 0) return BAD_SSID; // IHI 0070 3.3.2: SSV = 1 without stage 1
    return { kind: stream.config === STE_CONFIG.BYPASS ? KIND.BYPASS : KIND.TRANSLATE, cdSsid: NO_SSID };
  }
  if (ssid >= 0) {
    if (s1.cdMax === 0 || ssid >= 2 ** s1.cdMax) return BAD_SSID;
    // IHI 0070 5.2 S1DSS = 0b10: substream 0 belongs to transactions without one; a transaction that selects it is
    // terminated and F_STREAM_DISABLED recorded.
    if (ssid === 0 && s1.dss === STE_S1DSS.SSID0) {
      return { refused: EVENT_TYPE.F_STREAM_DISABLED, reason: "SubstreamID 0 is reserved by S1DSS substream 0" };
    }
    return { kind: KIND.TRANSLATE, cdSsid: ssid };
  }
  if (s1.cdMax === 0 || s1.dss === STE_S1DSS.SSID0) return { kind: KIND.TRANSLATE, cdSsid: 0 };
  if (s1.dss === STE_S1DSS.TERMINATE) {
    return { refused: EVENT_TYPE.F_STREAM_DISABLED, reason: "transaction without SubstreamID, S1DSS terminate" };
  }
  // S1DSS bypass: stage 1 bypassed; without stage 2, both are.
  return { kind: stream.s2 === null ? KIND.BYPASS : KIND.TRANSLATE, cdSsid: NO_SSID };
}

/**
 * A context's {@link Context.flagMap}: the access flags a transaction of each incoming flags has after the STE's
 * PRIVCFG and INSTCFG overrides, or null when it overrides neither (IHI 0070 5.2).
 */
export function flagMapOf(stream: StreamConfig): Uint8Array | null {
  if (stream.privcfg === STE_PRIVCFG.INCOMING && stream.instcfg === STE_INSTCFG.INCOMING) return null;
  const flagMap = new Uint8Array(ACCESS_KINDS);
  for (let f = 0; f < ACCESS_KINDS; f++) {
    let g = f;
    if (stream.privcfg === STE_PRIVCFG.PRIV) g |= ACCESS.PRIV;
    if (stream.privcfg === STE_PRIVCFG.UNPRIV) g &= ~ACCESS.PRIV;
    // INSTCFG applies to reads only (IHI 0070 5.2).
    if ((g & ACCESS.WRITE) === 0 && stream.instcfg === STE_INSTCFG.INSTR) g |= ACCESS.EXEC;
    if ((g & ACCESS.WRITE) === 0 && stream.instcfg === STE_INSTCFG.DATA) g &= ~ACCESS.EXEC;
    flagMap[f] = g;
  }
  return flagMap;
}

/** Key of a context: the SubstreamID plus one (NO_SSID: 0), then the StreamID above it. */
export function contextKey(sid: number, ssid: number): number {
  return sid * SSID_KEYS + (ssid + 1);
}
/** Values of a SubstreamID plus one, NO_SSID included. */
const SSID_KEYS = 2 * SSID_LIMIT;

/** The contexts of one TLB tag class and VMID, as invalidations select them: all, by ASID, and global holders. */
export class Tagged {
  readonly all = new Set<Context>();
  readonly byAsid = new Map<number, Set<Context>>();
  /** Contexts holding global rows (or that did: emptied ones leave lazily). */
  readonly globals = new Set<Context>();
}

/** Key of a class and VMID in the Caches' tags: a small integer. */
export function tagKey(cls: number, vmid: number): number {
  return cls * VMIDS + vmid;
}
/** Values of a VMID (STE.S2VMID). */
const VMIDS = 2 ** STE.S2VMID.width;
export const NESTED = 4; // tag class of the nested contexts of a VMID (which TLBI_S2_IPA removes whole)

/** Allow mask by raw access flags, from one by normalized flags through STE.PRIVCFG/INSTCFG overrides. */
export function rawAllow(allow: number, flagMap: Uint8Array): number {
  let raw = 0;
  for (let f = 0; f < ACCESS_KINDS; f++) raw |= ((allow >> flagMap[f]) & 1) << f;
  return raw;
}

/** Input range [lo, hi) an invalidation by address covers: one address, or the RIL range (IHI 0070 4.4.1). */
export function rangeOf(addr: number, range: TlbRange | null): [number, number] {
  return [addr, rangeEnd(addr, range)];
}

/** The end of {@link rangeOf}. */
export function rangeEnd(addr: number, range: TlbRange | null): number {
  if (range === null || range.tg === CMD_TLBI_TG.ANY) return addr + 1;
  return addr + (range.num + 1) * POW2[range.scale] * POW2[CMD_TLBI_TG_GRANULE[range.tg]!];
}
