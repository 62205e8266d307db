/**
 * For tools that show a translation rather than use it (the explorer, debuggers): one transaction explained (the
 * STE and CD it used, every descriptor its walk read, the TLB entry that answered) and what the caches hold. Built
 * from a side-effect-free probe and reads of the caches; nothing here is on the translation path.
 * @module
 */
import type { ConfigRead, ConfigTrace } from "./config_types.ts";
import { type Caches, type Context, contextKey, KIND } from "./tlb.ts";
import { CLASS } from "./tlb_context.ts";
import { NO_PA, NO_TAG } from "../core/types.ts";
import { NONE } from "./tlb_pages.ts";
import type { Translator, WalkStep } from "./translate.ts";

export type { ConfigRead } from "./config_types.ts";

/** A translation the TLB holds. */
export interface CachedTranslation {
  /** First input address (the IOVA; the IPA for a stage-2-only stream). */
  readonly iova: number;
  /** Bytes covered (a page, a block or a contiguous set). */
  readonly size: number;
  /** Physical address of the first byte. */
  readonly pa: number;
  /** IPA of the first byte when stage 2 applies, else -1. */
  readonly ipa: number;
  /** Permitted accesses: bit n is set when the access with ACCESS flags n is allowed (writes never EXEC). */
  readonly allow: number;
  /** Stage 1: a global entry (nG = 0), matched by every ASID. */
  readonly global: boolean;
}

/** A probe explained (see `Smmu.explain`): the PA or -1, and how the answer was found. */
export interface ExplainedProbe {
  /** The physical address, or -1 when the transaction faults or aborts. */
  readonly pa: number;
  /** Descriptor reads, in order; a nested walk's stage-2 reads come before the stage-1 read they translate. */
  readonly steps: readonly WalkStep[];
  /** The STE and CD (and level-1 descriptors) used, read from memory or found in the configuration cache. */
  readonly config: readonly ConfigRead[];
  /** Why the configuration refused the transaction; "" when it did not. */
  readonly refused: string;
  /** The TLB entry that answered (then no walk was done), or null. */
  readonly tlb: CachedTranslation | null;
}

/** A context the caches hold: one (StreamID, SubstreamID) pair's decoded configuration and its TLB. */
export interface CachedContext {
  /** StreamID. */
  readonly sid: number;
  /** SubstreamID, or -1 for transactions without one. */
  readonly ssid: number;
  /** What the context does with a transaction. */
  readonly kind: "abort" | "bypass" | "translate";
  /** Which TLB invalidations reach its entries: the translation regime tagging them (stage 1 of EL1, EL2 or EL2-E2H,
   * or stage 2 alone), "none" when it translates nothing (IHI 0070 3.17, 4.4). */
  readonly regime: "el1" | "el2" | "el2-e2h" | "s2" | "none";
  /** ASID of its CD (0 without stage 1). */
  readonly asid: number;
  /** VMID of its STE. */
  readonly vmid: number;
  /** Address of its STE. */
  readonly steAddr: number;
  /** Address of its CD, or -1 without one. */
  readonly cdAddr: number;
  /** Its translations, by input address. */
  readonly entries: readonly CachedTranslation[];
  /** Walk-cache entries: last-level table chunks kept for its walks (stage 1 and stage 2). */
  readonly walkEntries: number;
}

/** What the configuration cache and the TLBs hold. */
export interface CacheContents {
  /** Decoded STEs, oldest first. */
  readonly streams: readonly { readonly sid: number; readonly steAddr: number }[];
  /** Contexts, oldest first. */
  readonly contexts: readonly CachedContext[];
}

const REGIME_NAMES: Readonly<Record<number, CachedContext["regime"]>> = {
  [CLASS.EL1]: "el1",
  [CLASS.EL2]: "el2",
  [CLASS.EL2_E2H]: "el2-e2h",
  [CLASS.S2]: "s2",
};
const KIND_NAMES = { [KIND.ABORT]: "abort", [KIND.BYPASS]: "bypass", [KIND.TRANSLATE]: "translate" } as const;

/** TLB row `r` of `caches`. */
function cachedTranslation(caches: Caches, r: number): CachedTranslation {
  const rows = caches.rows;
  return {
    iova: rows.inBase(r),
    size: rows.rowSize(r),
    pa: rows.outBase(r),
    ipa: rows.ipaBase(r),
    allow: rows.allow(r),
    global: rows.isGlobal(r),
  };
}

/** Probes (sid, ssid, iova, flags, tag) on `engine` with every trace on, and notes what the caches answered. */
export function explainProbe(
  engine: Translator,
  sid: number,
  ssid: number,
  iova: number,
  flags: number,
  tag = NO_TAG,
): ExplainedProbe {
  const steps: WalkStep[] = [];
  const trace: ConfigTrace = { reads: [], steps, refused: "" };
  // The caches before the probe (a probe changes none): what answered where nothing was read from memory.
  const ctx = engine.caches.context(contextKey(sid, ssid)) ?? null;
  const stream = ctx?.stream ?? engine.caches.stream(sid) ?? null;
  const pa = engine.probe(sid, ssid, iova, flags, tag, steps, trace);
  const read = (s: ConfigRead["structure"]) => trace.reads.some((r) => r.structure === s);
  const cached: ConfigRead[] = [];
  if (stream !== null && !read("STE") && !read("L1STD")) {
    cached.push({ structure: "STE", addr: stream.steAddr, words: stream.words, cached: true, after: 0 });
  }
  if (ctx?.cd && !read("CD")) {
    cached.push({ structure: "CD", addr: ctx.cd.cdAddr, words: ctx.cd.words, cached: true, after: 0 });
  }
  const hit = pa >= 0 && steps.length === 0 && ctx !== null && ctx.kind === KIND.TRANSLATE
    ? tlbEntry(engine.caches, ctx, iova)
    : null;
  return { pa, steps, config: [...cached, ...trace.reads], refused: trace.refused, tlb: hit };
}

function tlbEntry(caches: Caches, ctx: Context, iova: number): CachedTranslation | null {
  const r = caches.rowFor(ctx, iova);
  return r === NONE ? null : cachedTranslation(caches, r);
}

/** A snapshot of what `caches` hold. */
export function cacheContents(caches: Caches): CacheContents {
  const streams = [...caches.streams()].map((s) => ({ sid: s.sid, steAddr: s.steAddr }));
  const contexts = [...caches.contexts()].map((ctx): CachedContext => {
    return {
      sid: ctx.sid,
      ssid: ctx.ssid,
      kind: KIND_NAMES[ctx.kind as keyof typeof KIND_NAMES],
      regime: REGIME_NAMES[ctx.tagClass] ?? "none",
      asid: ctx.asid,
      vmid: ctx.stream.vmid,
      steAddr: ctx.stream.steAddr,
      cdAddr: ctx.cd?.cdAddr ?? NO_PA,
      entries: caches.entriesOf(ctx).map((r) => cachedTranslation(caches, r)).sort((a, b) => a.iova - b.iova),
      walkEntries: caches.walkEntryCount(ctx),
    };
  });
  return { streams, contexts };
}
