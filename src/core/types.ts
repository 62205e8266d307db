/**
 * The contracts between the device model (registers, queues, interrupts) and the translation engine (tables,
 * walks, caches), and the types the public API shares with both.
 *
 * The engine knows nothing of queues or MMIO; the device knows nothing of descriptor bits. They meet here.
 * @module
 */
import { EVT_TYPE_TRANSLATION_RELATED, IDR1, VA } from "../../gen/mod.ts";

/** Access flags of a transaction, as a bit set (numbers, so the hot path allocates nothing). */
export const ACCESS = {
  /** A write (RnW = 0); otherwise a read. */
  WRITE: 1,
  /** An instruction fetch (InD = 1). */
  EXEC: 2,
  /** A privileged transaction (PnU = 1). */
  PRIV: 4,
  /** The address carries a tag: its top byte is not the sign extension of bit 55, so only a stage-1 range with
   * TBI (Top Byte Ignore) can translate it. The engine sets it for a transaction given a tag (not {@link NO_TAG}). */
  TAGGED: 8,
  /** An ATS Translation Request (IHI 0070 3.9.1.2): the walk reports the permissions it finds instead of a
   * Permission fault, and no fault is recorded. */
  ATS: 16,
  /** With ATS: STE.INSTCFG makes every read an instruction fetch, so the completion's R follows the execute
   * permission (IHI 0070 13.7.1 "TC.R = ttd_X"). */
  ATS_INSTR: 32,
} as const;

/** The ACCESS bits that say what a transaction is (WRITE, EXEC, PRIV): allow masks and override maps index by them. */
export const ACCESS_MASK = ACCESS.WRITE | ACCESS.EXEC | ACCESS.PRIV;
/** How many combinations of {@link ACCESS_MASK} bits there are (entries of a map indexed by them). */
export const ACCESS_KINDS = ACCESS_MASK + 1;

/** VMSAv8-64 Top Byte Ignore: the tag is address bits [63:56] (DDI 0487 D8.8; gen/ VA.Tag). */
export const TAG_SHIFT = VA.Tag.lsb;

/** The SubstreamID argument of a transaction without one (SSV = 0): SubstreamIDs are 20-bit, never negative. */
export const NO_SSID = -1;
/** StreamIDs are below this (32-bit at most: IDR1.SIDSIZE), SubstreamIDs below SSID_LIMIT (IDR1.SSIDSIZE). */
export const SID_LIMIT = 2 ** IDR1.SIDSIZE.max;
/** See SID_LIMIT. */
export const SSID_LIMIT = 2 ** IDR1.SSIDSIZE.max;
/** What a translation gives instead of a PA when the transaction does not complete (aborted, faulted, stalled). */
export const NO_PA = -1;
/** The input tag of an address that carries none (ACCESS.TAGGED clear). */
export const NO_TAG = -1;
/** The STAG of a transaction that is not stalled. */
export const NO_STAG = -1;

/** How a device accesses memory, in the public API's words. */
export interface Access {
  /** A write to memory (the SMMU sees RnW = 0). Default: a read. */
  write?: boolean;
  /** An instruction fetch. Default: data. */
  exec?: boolean;
  /** A privileged access. Default: unprivileged. */
  priv?: boolean;
  /** The SubstreamID (PASID) of the transaction; absent for a transaction without one. */
  ssid?: number;
}

/**
 * A fault: the one shape in which the walker, the configuration reader and the translator describe why a transaction
 * did not complete, and in which the event queue receives it. The engine reuses one object: consumers copy what they
 * keep. `type` is an EVENT_TYPE code from gen/ (0: an abort without an event). It describes the transaction in full;
 * which fields an event record carries is for the record's layout to say (src/device/events.ts).
 */
export interface Fault {
  /** Event type code (gen/ EVENT_TYPE). */
  type: number;
  /** StreamID of the transaction. */
  sid: number;
  /** Whether the transaction had a SubstreamID. */
  ssv: boolean;
  /** SubstreamID (when ssv). */
  ssid: number;
  /** Input address of the transaction (IOVA), a signed number: negative for the upper (TTB1) range. */
  inputAddr: number;
  /** The tag (address bits [63:56]) of a tagged input address, reported in place of the sign extension; else NO_TAG. */
  inputTag: number;
  /** Intermediate physical address, for stage-2 faults. */
  ipa: number;
  /** Address of the structure or descriptor whose fetch aborted (F_*_FETCH, F_WALK_EABT). */
  fetchAddr: number;
  /** The transaction was a read. */
  rnw: boolean;
  /** The transaction was an instruction fetch. */
  ind: boolean;
  /** The transaction was privileged. */
  pnu: boolean;
  /** The fault happened at stage 2. */
  s2: boolean;
  /** CLASS (gen/ EVT_CLASS) of a translation-related or walk fault: IN (the input address; every stage-1 fault but
   * F_WALK_EABT), TT (a stage-1 table access) or CD (a CD fetch, stage 2 only). */
  class: number;
  /** For a stage-2 fault of CLASS TT: the table access was a read (TTRnW = 1), not an HTTU write. */
  ttRead: boolean;
  /** The transaction is stalled (Stall = 1) under `stag` (IHI 0070 3.12.2). */
  stall: boolean;
  /** The STAG of a stalled transaction. */
  stag: number;
  /**
   * The architecture records the fault as an event: not a silent abort, nor a translation-related fault that CD.R or
   * STE.S2R keep quiet, nor anything an ATS request meets; always a stalled transaction's (IHI 0070 3.12.2). It lands
   * in the event queue if the queue can take it.
   */
  recorded: boolean;
}

/** A fresh, zeroed fault record. */
export function newFault(): Fault {
  return {
    type: 0,
    sid: 0,
    ssv: false,
    ssid: 0,
    inputAddr: 0,
    inputTag: NO_TAG,
    ipa: 0,
    fetchAddr: 0,
    rnw: false,
    ind: false,
    pnu: false,
    s2: false,
    class: 0,
    ttRead: false,
    stall: false,
    stag: 0,
    recorded: false,
  };
}

/**
 * Sets what went wrong in `f` (type, stage, CLASS, IPA, fetch address, TTRnW), leaving the transaction's fields as
 * they are: every place a fault arises sets all of these, so none is left over from an earlier fault.
 */
export function setCause(f: Fault, type: number, s2 = false, cls = 0, ipa = 0, fetchAddr = 0, ttRead = false): void {
  f.type = type;
  f.s2 = s2;
  f.class = cls;
  f.ipa = ipa;
  f.fetchAddr = fetchAddr;
  f.ttRead = ttRead;
}

/**
 * Whether faults of event type `type` are translation-related (IHI 0070 3.12): recorded only as CD.R or STE.S2R say,
 * and stalled as CD.S or STE.S2S say (gen/ EVT_TYPE translation_related).
 */
export function translationRelated(type: number): boolean {
  return EVT_TYPE_TRANSLATION_RELATED[type] === true;
}

/** Where the engine sends faults that the architecture records as events. */
export interface EventSink {
  /** Records one event; the sink handles a disabled or full queue. */
  report(fault: Fault): void;
}

/** What the translation engine asks of the stall model. */
export interface StallSink {
  /**
   * Holds the transaction whose stalling fault `fault` describes (after the STE's attribute overrides, which a retry
   * applies again to the same effect): its STAG, or -1 when STALL_MAX transactions are already held (the fault then
   * terminates). The stall's event record is written here, if the queue can take it.
   */
  hold(fault: Fault): number;
}

/**
 * One invalidation, as the command queue decodes it: configuration (CFGI_*) or TLB (TLBI_*) scope.
 * Addresses are numbers (IOVA/IPA); `num`/`scale`/`tg`/`ttl` carry the range form when RIL is advertised.
 */
export type Invalidation =
  | { kind: "cfg_all" }
  | { kind: "ste"; sid: number; leaf: boolean }
  | { kind: "ste_range"; sid: number; range: number }
  | { kind: "cd"; sid: number; ssid: number; leaf: boolean }
  | { kind: "cd_all"; sid: number }
  | { kind: "nh_all"; vmid: number }
  | { kind: "nh_asid"; vmid: number; asid: number }
  | { kind: "nh_va"; vmid: number; asid: number | null; addr: number; leaf: boolean; range: TlbRange | null }
  | { kind: "el2_all" }
  | { kind: "el2_asid"; asid: number }
  | { kind: "el2_va"; asid: number | null; addr: number; leaf: boolean; range: TlbRange | null }
  | { kind: "s12_vmall"; vmid: number }
  | { kind: "s2_ipa"; vmid: number; addr: number; leaf: boolean; range: TlbRange | null }
  | { kind: "nsnh_all" };

/** The range form of a TLBI (SMMUv3.2 RIL): NUM, SCALE, TG and TTL as the command carries them. */
export interface TlbRange {
  /** NUM: the range covers (NUM + 1) * 2^SCALE pages of the granule TG. */
  num: number;
  /** SCALE, as above. */
  scale: number;
  /** TG: the translation granule of the range (0 = no range). */
  tg: number;
  /** TTL: the level of the leaf entries, a hint (0 = any level). */
  ttl: number;
}

/** What the device asks of the translation engine. */
export interface TranslationEngine {
  /** Applies one invalidation to the caches (and tells observers). */
  invalidate(scope: Invalidation): void;
  /** Drops every cached configuration and translation (reset, restore, register changes that move tables). */
  flushAll(): void;
}

/**
 * Observer of the guest's configuration and invalidations, for a VMM that mirrors the guest's tables into a host
 * IOMMU (nested translation through iommufd, say). Every method is optional.
 */
export interface SmmuObserver {
  /** The guest invalidated cached configuration or translations; `scope` says which. */
  invalidated?(scope: Invalidation): void;
  /** A CMD_SYNC completed: every invalidation before it is now in effect. */
  synced?(): void;
  /** The SMMU was enabled or disabled, or the stream table moved: mirrors should re-read every stream. */
  globalChanged?(): void;
}
