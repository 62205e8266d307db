/**
 * Bounded caches: decoded stream configurations, per-(StreamID, SubstreamID) contexts, and each context's TLB,
 * with every invalidation scope of the command queue (IHI 0070 §4.3 CFGI_*, §4.4 TLBI_*; tagging per §3.17).
 *
 * A context is the unit of caching: the decoded STE and CD plus a {@link PageMap} from input 4 KiB page key to
 * the entry that maps it. An entry covers a whole block (or contiguous set) and is stored under each page key it
 * is hit through, so a TLB hit is one hash lookup.
 * @module
 */
import { CMD_TLBI_TG } from "../gen/mod.ts";
import type { Invalidation, TlbRange } from "./types.ts";
import type { ContextConfig, StreamConfig } from "./config.ts";
import { WORLD } from "./config.ts";
import type { Regime, TablePageCache } from "./walk.ts";
import { pageKey, PageMap } from "./tlb_pages.ts";
import type { TlbEntry } from "./tlb_pages.ts";

const PAGE_BYTES = 4096; // the TLB's key granularity
const MAX_BLOCKS = 32;

const MAX_TABLE_PAGES = 64; // per nested context: enough for the tables of 64 × 2 MiB of input (4K granule)

/**
 * A nested context's walk cache: stage-2 translations of the stage-1 table pages its walks fetched, so a nested
 * walk does one stage-2 walk (for the output) instead of one per stage-1 level, as hardware walk caches allow.
 * Invalidated with the context's TLB, and by TLBI_S2_IPA over the table's IPA.
 */
export class TablePages implements TablePageCache {
  readonly #pages = new Map<number, number>();
  get size(): number {
    return this.#pages.size;
  }
  get(ipaPage: number): number | undefined {
    return this.#pages.get(ipaPage);
  }
  set(ipaPage: number, paPage: number): void {
    if (this.#pages.size >= MAX_TABLE_PAGES) this.#pages.clear();
    this.#pages.set(ipaPage, paPage);
  }
  clear(): void {
    this.#pages.clear();
  }
  /** Forgets the pages overlapping the IPA range [lo, hi). */
  removeRange(lo: number, hi: number): void {
    for (const ipaPage of this.#pages.keys()) {
      if (ipaPage * PAGE_BYTES < hi && (ipaPage + 1) * PAGE_BYTES > lo) this.#pages.delete(ipaPage);
    }
  }
}

/** What a context does with a transaction. */
export const KIND = { ABORT: 0, BYPASS: 1, TRANSLATE: 2 } as const;

/** Decoded configuration of one (StreamID, SubstreamID) pair and its TLB. */
export class Context {
  readonly tlb: PageMap = new PageMap();
  /** Recent entries larger than a page, so another page of the same block hits without a walk. */
  blocks: TlbEntry[] = [];
  /** Some entry larger than a page is stored (then invalidation by address must scan every key). */
  hasLarge = false;
  /** Held by its Caches (false once dropped), so a translator may keep using it without a lookup. */
  live = true;
  /** Nested contexts (stage 1 over stage 2): the walk cache of stage-1 table pages; null otherwise. */
  readonly tableCache: TablePages | null;
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
    this.tableCache = cd !== null && s2 !== null ? new TablePages() : null;
  }
  /** Translation regime tag: WORLD for stage-1 contexts, -1 for stage-2-only, -2 for no TLB. */
  get world(): number {
    if (this.kind !== KIND.TRANSLATE) return -2;
    return this.cd === null ? -1 : this.stream.s1!.world;
  }
  get asid(): number {
    return this.cd?.asid ?? 0;
  }
}

/** Key of a context: SubstreamIDs are 20 bits, -1 for none. */
export function contextKey(sid: number, ssid: number): number {
  return sid * 0x200000 + (ssid + 1);
}

/** Cache bounds. */
export interface CacheLimits {
  /** Most contexts kept (default 4096). */
  contexts?: number;
  /** Most TLB page keys kept over all contexts (default 65536). */
  entries?: number;
  /** Most decoded STEs kept (default 4096). */
  streams?: number;
}

/** The config cache and TLBs, bounded, with invalidation by scope. */
export class Caches {
  readonly maxContexts: number;
  readonly maxEntries: number;
  readonly maxStreams: number;
  readonly #streams = new Map<number, StreamConfig>();
  readonly #contexts = new Map<number, Context>();
  readonly #bySid = new Map<number, Set<Context>>();
  #entries = 0;

  constructor(limits: CacheLimits = {}) {
    this.maxContexts = Math.max(1, limits.contexts ?? 4096);
    this.maxEntries = Math.max(16, limits.entries ?? 65536);
    this.maxStreams = Math.max(1, limits.streams ?? 4096);
  }

  /** Number of TLB page keys held, over all contexts. */
  get entryCount(): number {
    return this.#entries;
  }
  get contextCount(): number {
    return this.#contexts.size;
  }
  get streamCount(): number {
    return this.#streams.size;
  }

  /** The decoded STEs held, oldest first (for inspection). */
  streams(): IterableIterator<StreamConfig> {
    return this.#streams.values();
  }

  /** The contexts held, oldest first (for inspection). */
  contexts(): IterableIterator<Context> {
    return this.#contexts.values();
  }

  stream(sid: number): StreamConfig | undefined {
    return this.#streams.get(sid);
  }

  addStream(config: StreamConfig): void {
    if (this.#streams.size >= this.maxStreams) {
      // The oldest eighth at once, through one iterator: a Map keeps deleted slots until it rehashes, so finding
      // "the oldest" afresh for every insert would step over all the earlier deletions each time.
      let n = evictionBatch(this.maxStreams);
      for (const sid of this.#streams.keys()) {
        if (n-- === 0) break;
        this.#streams.delete(sid);
      }
    }
    this.#streams.set(config.sid, config);
  }

  context(key: number): Context | undefined {
    return this.#contexts.get(key);
  }

  addContext(ctx: Context): void {
    if (this.#contexts.size >= this.maxContexts) {
      let n = evictionBatch(this.maxContexts); // the oldest eighth at once, as in addStream
      for (const victim of this.#contexts.values()) {
        if (n-- === 0) break;
        this.#drop(victim);
      }
    }
    this.#contexts.set(ctx.key, ctx);
    let set = this.#bySid.get(ctx.sid);
    if (set === undefined) this.#bySid.set(ctx.sid, set = new Set());
    set.add(ctx);
  }

  /** Stores `entry` under {@link pageKey} `page` of `ctx`, evicting whole context TLBs (oldest first) when full. */
  insert(ctx: Context, page: number, entry: TlbEntry): void {
    if (this.#entries >= this.maxEntries) {
      const target = this.maxEntries * 3 / 4;
      for (const victim of this.#contexts.values()) {
        this.#clear(victim);
        if (this.#entries <= target) break;
      }
    }
    const had = ctx.tlb.size;
    ctx.tlb.set(page, entry);
    this.#entries += ctx.tlb.size - had;
    if (entry.size > PAGE_BYTES) ctx.hasLarge = true;
    if (entry.size > PAGE_BYTES && !ctx.blocks.includes(entry)) {
      if (ctx.blocks.length >= MAX_BLOCKS) ctx.blocks.shift();
      ctx.blocks.push(entry);
    }
  }

  /** A cached block of `ctx` that maps `addr`, or undefined. */
  findBlock(ctx: Context, addr: number): TlbEntry | undefined {
    const blocks = ctx.blocks;
    for (let i = blocks.length - 1; i >= 0; i--) {
      const e = blocks[i];
      if (addr >= e.inBase && addr - e.inBase < e.size) return e;
    }
    return undefined;
  }

  #clear(ctx: Context): void {
    this.#entries -= ctx.tlb.size;
    ctx.tlb.clear();
    ctx.blocks = [];
    ctx.hasLarge = false;
    ctx.tableCache?.clear();
  }

  #drop(ctx: Context): void {
    ctx.live = false;
    this.#clear(ctx);
    this.#contexts.delete(ctx.key);
    const set = this.#bySid.get(ctx.sid);
    set?.delete(ctx);
    if (set?.size === 0) this.#bySid.delete(ctx.sid);
  }

  /** Drops everything. */
  clear(): void {
    for (const ctx of this.#contexts.values()) ctx.live = false;
    this.#streams.clear();
    this.#contexts.clear();
    this.#bySid.clear();
    this.#entries = 0;
  }

  #dropSid(sid: number, keepStream: boolean): void {
    if (!keepStream) this.#streams.delete(sid);
    const set = this.#bySid.get(sid);
    if (set) { for (const ctx of [...set]) this.#drop(ctx); }
  }

  /** Removes the entries of `ctx` that `match` selects. */
  #removeEntries(ctx: Context, match: (e: TlbEntry) => boolean): void {
    this.#entries -= ctx.tlb.removeWhere(match);
    ctx.blocks = ctx.blocks.filter((e) => !match(e));
  }

  /**
   * Applies one invalidation. `vmidIgnoreBits` is CR0.VMW's wildcard (low VMID bits ignored). Scopes may
   * over-invalidate (always allowed), never under-invalidate.
   */
  invalidate(scope: Invalidation, vmidIgnoreBits = 0): void {
    const vmidMatch = (ctx: Context, vmid: number) =>
      Math.floor(ctx.stream.vmid / 2 ** vmidIgnoreBits) === Math.floor(vmid / 2 ** vmidIgnoreBits);
    const el1 = (ctx: Context) => ctx.world === WORLD.EL1;
    const el2 = (ctx: Context) => ctx.world === WORLD.EL2 || ctx.world === WORLD.EL2_E2H;
    switch (scope.kind) {
      case "cfg_all":
        this.clear();
        return;
      case "ste":
        this.#dropSid(scope.sid, false);
        return;
      case "ste_range": {
        const span = 2 ** Math.min(scope.range + 1, 32);
        const first = scope.sid - (scope.sid % span);
        for (const sid of [...this.#bySid.keys()]) if (sid >= first && sid < first + span) this.#dropSid(sid, false);
        for (const sid of [...this.#streams.keys()]) if (sid >= first && sid < first + span) this.#streams.delete(sid);
        return;
      }
      case "cd": {
        // The CD of SubstreamID 0 also serves transactions without one (S1CDMax 0, or S1DSS SSID0).
        for (const ssid of scope.ssid === 0 ? [0, -1] : [scope.ssid]) {
          const ctx = this.#contexts.get(contextKey(scope.sid, ssid));
          if (ctx) this.#drop(ctx);
        }
        return;
      }
      case "cd_all":
        this.#dropSid(scope.sid, true);
        return;
    }
    for (const ctx of this.#contexts.values()) {
      if (ctx.tlb.size === 0 && !ctx.tableCache?.size) continue;
      switch (scope.kind) {
        case "nh_all":
          if (el1(ctx) && vmidMatch(ctx, scope.vmid)) this.#clear(ctx);
          break;
        case "nh_asid":
          if (el1(ctx) && vmidMatch(ctx, scope.vmid) && ctx.asid === scope.asid) {
            this.#removeEntries(ctx, (e) => !e.global);
          }
          break;
        case "nh_va":
          if (el1(ctx) && vmidMatch(ctx, scope.vmid)) this.#byAddress(ctx, scope.asid, scope.addr, scope.range);
          break;
        case "el2_all":
          if (el2(ctx)) this.#clear(ctx);
          break;
        case "el2_asid":
          if (ctx.world === WORLD.EL2_E2H && ctx.asid === scope.asid) this.#removeEntries(ctx, (e) => !e.global);
          break;
        case "el2_va":
          if (el2(ctx)) {
            this.#byAddress(ctx, ctx.world === WORLD.EL2 ? null : scope.asid, scope.addr, scope.range);
          }
          break;
        case "s12_vmall":
          if ((el1(ctx) || ctx.world === -1) && vmidMatch(ctx, scope.vmid)) this.#clear(ctx);
          break;
        case "s2_ipa":
          if (ctx.s2 !== null && vmidMatch(ctx, scope.vmid)) {
            const [lo, hi] = rangeOf(scope.addr, scope.range);
            this.#removeEntries(ctx, (e) => e.ipaBase >= 0 && e.ipaBase < hi && e.ipaBase + e.size > lo);
            ctx.tableCache?.removeRange(lo, hi);
          }
          break;
        case "nsnh_all":
          if (el1(ctx) || ctx.world === -1) this.#clear(ctx);
          break;
      }
    }
  }

  #byAddress(ctx: Context, asid: number | null, addr: number, range: TlbRange | null): void {
    const [lo, hi] = rangeOf(addr, range);
    // Other address spaces' entries match only when global.
    const all = asid === null || ctx.asid === asid;
    const match = (e: TlbEntry) => (all || e.global) && e.inBase < hi && e.inBase + e.size > lo;
    if (!ctx.hasLarge && hi - lo <= 64 * PAGE_BYTES) {
      // Page-sized entries live under their own key only: delete those keys, no scan.
      for (let p = Math.floor(lo / PAGE_BYTES); p * PAGE_BYTES < hi; p++) {
        const key = pageKey(p * PAGE_BYTES);
        const e = ctx.tlb.get(key);
        if (e !== undefined && match(e)) {
          ctx.tlb.delete(key);
          this.#entries--;
        }
      }
      return;
    }
    this.#removeEntries(ctx, match);
  }
}

/** How many of `limit` cached items to evict at once when full: an eighth, at least one. */
function evictionBatch(limit: number): number {
  return Math.max(1, Math.floor(limit / 8));
}

/** Input range [lo, hi) an invalidation by address covers: one address, or the RIL range (§4.4.1). */
export function rangeOf(addr: number, range: TlbRange | null): [number, number] {
  if (range === null || range.tg === CMD_TLBI_TG.ANY) return [addr, addr + 1];
  const granule = range.tg === CMD_TLBI_TG.GRAN_4K ? 4096 : range.tg === CMD_TLBI_TG.GRAN_16K ? 16384 : 65536;
  return [addr, addr + (range.num + 1) * 2 ** range.scale * granule];
}
