/**
 * What configuration lookup produces (IHI 0070 5.2 STE, 5.4 CD): the immutable {@link StreamConfig} and
 * {@link ContextConfig} the reader decodes a valid STE and CD into, which contexts, caches and tools hold; and what a
 * failed or traced lookup reports ({@link ConfigFault}, {@link ConfigTrace}). The reader itself is in config.ts.
 * @module
 */
import type { STE_CONFIG, STE_S1DSS, STE_S1FMT } from "../../gen/mod.ts";
import type { Fault } from "../core/types.ts";
import type { Regime } from "./regime.ts";

/** StreamWorld of a stage-1 stream (IHI 0070 5.2 STE.STRW with CR2.E2H). */
export const WORLD = { EL1: 0, EL2: 1, EL2_E2H: 2 } as const;

/** Stage-1 part of an STE. */
export interface StreamStage1 {
  /** Address (IPA when nested) of the CD or CD table. */
  readonly contextPtr: number;
  /** STE.S1Fmt (gen/ STE_S1FMT). */
  readonly fmt: (typeof STE_S1FMT)[keyof typeof STE_S1FMT];
  /** STE.S1CDMax: log2 of the number of CDs; 0 means no substreams. */
  readonly cdMax: number;
  /** STE.S1DSS (gen/ STE_S1DSS). */
  readonly dss: (typeof STE_S1DSS)[keyof typeof STE_S1DSS];
  /** Effective StreamWorld (WORLD). */
  readonly world: number;
  /** STE.S1STALLD. */
  readonly stallDisabled: boolean;
}

/** The decoded, immutable configuration of a stream (one valid STE). */
export interface StreamConfig {
  /** StreamID. */
  readonly sid: number;
  /** Physical address of the STE. */
  readonly steAddr: number;
  /** The STE's 16 words, for mirrors that hand the raw entry to a host IOMMU. */
  readonly words: readonly number[];
  /** STE.Config (gen/ STE_CONFIG). */
  readonly config: (typeof STE_CONFIG)[keyof typeof STE_CONFIG];
  /** Stage-1 configuration (CD table), or null when stage 1 is bypassed. */
  readonly s1: StreamStage1 | null;
  /** Stage-2 walk regime, or null when stage 2 is bypassed. */
  readonly s2: Regime | null;
  /** VMID tagging this stream's translations (STE.S2VMID; 0 without stage 2 support). */
  readonly vmid: number;
  /** STE.S2R: stage-2 translation-related faults are recorded. */
  readonly s2Record: boolean;
  /** STE.S2S: stage-2 translation-related faults stall (IHI 0070 3.12.2). */
  readonly s2Stall: boolean;
  /**
   * Effective STE.EATS (gen/ STE_EATS): ABORT without ATS, for Config bypass, and for SPLIT with ATSCHK 0 (IHI 0070
   * 5.2).
   */
  readonly eats: number;
  /** STE.PPAR: automatic PRI responses to a request with a PASID carry it (IHI 0070 8.1). */
  readonly ppar: boolean;
  /** Effective STE.PRIVCFG and STE.INSTCFG (INCOMING when overrides are not advertised). */
  readonly privcfg: number;
  /** See privcfg. */
  readonly instcfg: number;
}

/** A decoded CD: one address space of stage 1. */
export interface ContextConfig {
  /** Physical address of the CD. */
  readonly cdAddr: number;
  /** CD.ASID. */
  readonly asid: number;
  /** Walk regimes of the TTB0 and TTB1 ranges; null where walks are disabled (EPDx) or the range is absent. */
  readonly ttb0: Regime | null;
  /** See ttb0. */
  readonly ttb1: Regime | null;
  /** CD.R (or CD.S): stage-1 translation-related faults are recorded. */
  readonly record: boolean;
  /** CD.S: stage-1 translation-related faults stall (IHI 0070 3.12.2; STE.S1STALLD forbids it). */
  readonly stall: boolean;
  /** E0PD: unprivileged accesses through TTB0/TTB1 take a translation fault. */
  readonly e0pd0: boolean;
  /** See e0pd0. */
  readonly e0pd1: boolean;
  /** CD.TBI0 / CD.TBI1: the top byte of an address in the TTB0 / TTB1 range is ignored (a tag). */
  readonly tbi0: boolean;
  /** See tbi0. */
  readonly tbi1: boolean;
  /** The CD's 16 words. */
  readonly words: readonly number[];
}

/** Why a stream's configuration is invalid: the fault as it would be reported, and a reason for people. */
export interface ConfigFault {
  /** StreamID. */
  readonly sid: number;
  /** The fault as the event queue would record it. */
  readonly fault: Fault;
  /** Why, in words. */
  readonly reason: string;
}

/** One configuration structure a traced lookup read (see {@link ConfigTrace}). */
export interface ConfigRead {
  /** A level-1 stream table descriptor, an STE, a level-1 CD table descriptor or a CD. */
  readonly structure: "L1STD" | "STE" | "L1CD" | "CD";
  /** Its physical address. */
  readonly addr: number;
  /** Its words as read; empty when the read aborted. */
  readonly words: readonly number[];
  /** Found in the configuration cache rather than read by this lookup. */
  readonly cached: boolean;
  /** Walk steps traced before it (a nested CD's stage-2 walk is traced just before the CD read). */
  readonly after: number;
}

/** Where a traced lookup (a probe for tools, never a transaction) reports the structures it used and why it failed. */
export interface ConfigTrace {
  /** Structures used, in order. */
  readonly reads: ConfigRead[];
  /** The same probe's walk trace, so that each read can note where it falls among the walk steps. */
  readonly steps: readonly object[];
  /** Why the configuration refused the transaction; "" when it did not. */
  refused: string;
}
