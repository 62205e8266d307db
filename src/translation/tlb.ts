/**
 * Bounded caches: decoded stream configurations, per-(StreamID, SubstreamID) contexts (tlb_context.ts), their TLB
 * rows and walk caches, with every invalidation scope of the command queue (IHI 0070 4.3 CFGI_*, 4.4 TLBI_*;
 * tagging per IHI 0070 3.17).
 *
 * A context is the unit of configuration: the decoded STE and CD. Its translations are rows of the shared
 * {@link TlbRows}, found on a hit by (StreamID, SubstreamID, page) without the context. Contexts are indexed by
 * their TLB tags (StreamWorld, VMID, ASID), so an invalidation visits only the contexts its scope names, and in
 * each only the rows its range holds: its cost follows what it invalidates, not what the caches hold.
 * @module
 */
import { GRANULE, IDR1 } from "../../gen/mod.ts";
import type { Invalidation, TlbRange } from "../core/types.ts";
import type { StreamConfig } from "./config_types.ts";
import { POW2 } from "../core/numbers.ts";
import { CHUNK_SHIFT } from "./walk.ts";
import { blockKey, NO_IPA, NONE, pageKey, SPACE, TlbRows } from "./tlb_pages.ts";
import type { PageData, RowData } from "./tlb_pages.ts";
import { CLASS, type Context, contextKey, NESTED, rangeEnd, rawAllow, Tagged, tagKey } from "./tlb_context.ts";

export { Context, contextKey, KIND, rangeOf } from "./tlb_context.ts";

const PAGE_BYTES = 2 ** GRANULE.GRAN_4K; // the TLB's key granularity
/** #select's ASID that selects every context of a tag, whatever its ASID. */
const ANY_ASID = -1;
/** Cache bounds. */
export interface CacheLimits {
  /** Most contexts kept (default 65536). */
  contexts?: number;
  /** Most TLB entries kept over all contexts (default 65536): a page or block under each 4 KiB key it is hit by. */
  entries?: number;
  /** Most decoded STEs kept (default 65536). */
  streams?: number;
}

/** The config cache and TLBs, bounded, with invalidation by scope. */
export class Caches {
  readonly maxContexts: number;
  readonly maxEntries: number;
  readonly maxStreams: number;
  /** Every context's TLB rows: translate's hit path reads them directly. */
  readonly rows: TlbRows;
  /**
   * Every context's walk caches (IHI 0070 4.4 allows caching of intermediate walks): for a region of input
   * addresses, the PA of the 4 KiB chunk of last-level table that maps it, so a TLB miss there reads one descriptor.
   */
  readonly walks: TlbRows;
  readonly #streams = new Map<number, StreamConfig>();
  readonly #contexts = new Map<number, Context>();
  readonly #bySid = new Map<number, Set<Context>>();
  readonly #tags = new Map<number, Tagged>();
  /** Contexts by owner id; ids of dropped contexts are reused. */
  #byId: (Context | undefined)[] = [];
  #freeIds: number[] = [];
  readonly #found: number[] = []; // rows an invalidation removes (reused)
  readonly #contextsFound: Context[] = []; // contexts an invalidation visits (reused)
  readonly #row: RowData = { inBase: 0, size: 0, outBase: 0, allow: 0, global: false, ipaBase: NO_IPA };

  constructor(limits: CacheLimits = {}) {
    this.maxContexts = Math.max(1, limits.contexts ?? 65536);
    this.maxEntries = Math.max(16, limits.entries ?? 65536);
    this.maxStreams = Math.max(1, limits.streams ?? 65536);
    this.rows = new TlbRows(this.maxEntries);
    this.walks = new TlbRows(Math.max(64, this.maxEntries / 4));
  }

  get entryCount(): number {
    return this.rows.size;
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
    if (this.#contexts.size >= this.maxContexts) this.#evictContext();
    this.#contexts.set(ctx.key, ctx);
    let set = this.#bySid.get(ctx.sid);
    if (set === undefined) this.#bySid.set(ctx.sid, set = new Set());
    set.add(ctx);
    ctx.id = this.#freeIds.pop() ?? this.#byId.length;
    this.#byId[ctx.id] = ctx;
    this.rows.setOwner(ctx.id, ctx.sid, ctx.ssid);
    this.walks.setOwner(ctx.id, ctx.sid, ctx.ssid);
    const cls = ctx.tagClass;
    if (cls === CLASS.NONE) return;
    const t = this.#tagged(cls, ctx.vmid);
    t.all.add(ctx);
    if (cls === CLASS.EL1 || cls === CLASS.EL2_E2H) {
      let set = t.byAsid.get(ctx.asid);
      if (set === undefined) t.byAsid.set(ctx.asid, set = new Set());
      set.add(ctx);
    }
    if (ctx.nested) this.#tagged(NESTED, ctx.vmid).all.add(ctx);
  }

  /** Second chance in insertion order: a context used since it was last looked at moves to the back. */
  #evictContext(): void {
    let tries = 8;
    for (const ctx of this.#contexts.values()) {
      if (ctx.used && tries-- > 0) {
        ctx.used = false;
        this.#contexts.delete(ctx.key);
        this.#contexts.set(ctx.key, ctx);
        continue;
      }
      this.#drop(ctx);
      return;
    }
  }

  /** The tag sets of class `cls` and `vmid`, made on first use. */
  #tagged(cls: number, vmid: number): Tagged {
    let t = this.#tags.get(tagKey(cls, vmid));
    if (t === undefined) this.#tags.set(tagKey(cls, vmid), t = new Tagged());
    return t;
  }

  /**
   * Caches the translation in `d` (input range, output, allow mask of normalized flags, global, IPA) for `ctx`,
   * under the key of the page holding `addr`; a block also under its own key, so its other pages find it.
   */
  insert(ctx: Context, addr: number, d: RowData): void {
    if (ctx.flagMap !== null) d.allow = rawAllow(d.allow, ctx.flagMap);
    this.#noteGlobal(ctx, d.global);
    let block = NONE;
    if (d.size > PAGE_BYTES) {
      if (!ctx.blockSizes.includes(d.size)) ctx.blockSizes.push(d.size);
      block = this.rows.add(ctx.id, SPACE.BLOCK, blockKey(d.inBase, d.size), d, NONE);
    }
    this.rows.add(ctx.id, SPACE.PAGE, pageKey(addr), d, block);
  }

  /** Before a fill of `ctx`: its first global row makes it a context that a TLBI by address of another ASID visits. */
  #noteGlobal(ctx: Context, global: boolean): void {
    if (global && this.rows.globals(ctx.id) === 0) this.#tagged(ctx.tagClass, ctx.vmid).globals.add(ctx);
  }

  /**
   * {@link insert} of a 4 KiB page translation of a context without flag map, under a key no row of `ctx` holds
   * ({@link TlbRows.lookup} answered NONE for `addr`, and nothing was cached since: see {@link TlbRows.fillPage}).
   * `ipa`: for a nested context, the translation again with its IPA (a RowData), else null.
   */
  fillPage(ctx: Context, addr: number, d: PageData, ipa: RowData | null = null): void {
    this.#noteGlobal(ctx, d.global);
    this.rows.fillPage(ctx.id, pageKey(addr), d, ipa);
  }

  /** Caches the page of `addr` under block row `block` of `ctx` (found by {@link findBlock}). */
  insertFromBlock(ctx: Context, addr: number, block: number): void {
    const rows = this.rows, d = this.#row;
    d.inBase = rows.inBase(block);
    d.size = rows.rowSize(block);
    d.outBase = rows.outBase(block);
    d.allow = rows.allow(block);
    d.global = rows.isGlobal(block);
    d.ipaBase = rows.ipaBase(block);
    rows.add(ctx.id, SPACE.PAGE, pageKey(addr), d, block);
  }

  /** The row of `ctx` that answers for `addr` (a covering page row, else a block), or NONE: for inspection. */
  rowFor(ctx: Context, addr: number): number {
    if (ctx.id === NONE) return NONE;
    const rows = this.rows, r = rows.find(ctx.sid, ctx.ssid, SPACE.PAGE, pageKey(addr));
    if (r !== NONE && addr >= rows.inBase(r) && addr - rows.inBase(r) < rows.rowSize(r)) return r;
    return this.findBlock(ctx, addr);
  }

  /** The distinct translations `ctx` holds (a block once, not under each page it was hit through), as rows. */
  entriesOf(ctx: Context): number[] {
    const out: number[] = [];
    if (ctx.id !== NONE) this.rows.rowsOf(ctx.id, out);
    return out.filter((r) => this.rows.blockOf(r) === NONE);
  }

  /** Walk-cache entries held for `ctx`. */
  walkEntryCount(ctx: Context): number {
    return ctx.id === NONE ? 0 : this.walks.count(ctx.id);
  }

  /** A cached block row of `ctx` that maps `addr`, or NONE. */
  findBlock(ctx: Context, addr: number): number {
    const sizes = ctx.blockSizes, rows = this.rows;
    for (let i = 0; i < sizes.length; i++) {
      const size = sizes[i];
      const base = Math.floor(addr / size) * size;
      const r = rows.find(ctx.sid, ctx.ssid, SPACE.BLOCK, blockKey(base, size));
      if (r !== NONE && rows.inBase(r) === base && rows.rowSize(r) === size) return r;
    }
    return NONE;
  }

  /**
   * The walk-cache entry of `ctx` in `space` (a SPACE.WALK_*) for input region `region`: its row in
   * {@link walks}, or NONE. `use` marks it used (transactions do; probes only look).
   */
  walkEntry(ctx: Context, space: number, region: number, use: boolean): number {
    const r = this.walks.find(ctx.sid, ctx.ssid, space, region);
    if (r !== NONE && use) this.walks.use(r);
    return r;
  }

  /** Caches, for `ctx`'s walks in `space`, the chunk at `pa` (IPA `ipa`) of region `region` (2^`shift` bytes). */
  fillWalk(ctx: Context, space: number, region: number, shift: number, pa: number, ipa: number, attrs: number) {
    const d = this.#row;
    const size = POW2[shift]; // `2 ** shift` with a variable shift is a float pow call
    d.inBase = region * size;
    d.size = size;
    d.outBase = pa;
    d.allow = attrs;
    d.global = false;
    d.ipaBase = ipa;
    this.walks.add(ctx.id, space, region, d, NONE);
  }

  #clear(ctx: Context): void {
    if (ctx.id !== NONE) {
      this.rows.removeOwner(ctx.id);
      this.walks.removeOwner(ctx.id);
    }
    ctx.blockSizes = [];
  }

  #drop(ctx: Context): void {
    ctx.live = false;
    this.#clear(ctx);
    this.#contexts.delete(ctx.key);
    const set = this.#bySid.get(ctx.sid);
    set?.delete(ctx);
    if (set?.size === 0) this.#bySid.delete(ctx.sid);
    const cls = ctx.tagClass;
    if (cls !== CLASS.NONE) {
      this.#untag(cls, ctx);
      if (ctx.nested) this.#untag(NESTED, ctx);
    }
    this.#byId[ctx.id] = undefined;
    this.#freeIds.push(ctx.id);
    ctx.id = NONE;
  }

  /** Takes `ctx` out of the tag sets of class `cls` (and its VMID). */
  #untag(cls: number, ctx: Context): void {
    const key = tagKey(cls, ctx.vmid), t = this.#tags.get(key);
    if (t === undefined) return;
    t.all.delete(ctx);
    t.globals.delete(ctx);
    const set = t.byAsid.get(ctx.asid);
    if (set?.delete(ctx) && set.size === 0) t.byAsid.delete(ctx.asid);
    if (t.all.size === 0) this.#tags.delete(key);
  }

  /** Drops everything. */
  clear(): void {
    for (const ctx of this.#contexts.values()) {
      ctx.live = false;
      ctx.id = NONE;
    }
    this.#streams.clear();
    this.#contexts.clear();
    this.#bySid.clear();
    this.#tags.clear();
    this.#byId = [];
    this.#freeIds = [];
    this.rows.clear();
    this.walks.clear();
  }

  #dropSid(sid: number, keepStream: boolean): void {
    if (!keepStream) this.#streams.delete(sid);
    const set = this.#bySid.get(sid);
    if (set) { for (const ctx of [...set]) this.#drop(ctx); }
  }

  /**
   * The contexts of tag (`cls`, VMIDs equal to `vmid` but for its low `ignore` bits, `asid` (ANY_ASID: any); or those
   * holding global rows), in a reused array: one lookup per VMID the wildcard spans, nothing visited outside the tag.
   */
  #select(cls: number, vmid: number, ignore: number, asid: number, globals = false): Context[] {
    const out = this.#contextsFound;
    out.length = 0;
    const span = 1 << ignore; // CR0.VMW ignores at most a few low bits
    const first = vmid - (vmid & (span - 1));
    for (let vm = first; vm < first + span; vm++) {
      const t = this.#tags.get(tagKey(cls, vm));
      if (t === undefined) continue;
      const set = globals ? t.globals : asid === ANY_ASID ? t.all : t.byAsid.get(asid);
      if (set !== undefined) { for (const ctx of set) out.push(ctx); }
    }
    return out;
  }

  /**
   * Applies one invalidation. `vmidIgnoreBits` is CR0.VMW's wildcard (low VMID bits ignored). Scopes may
   * over-invalidate (always allowed), never under-invalidate.
   */
  invalidate(scope: Invalidation, vmidIgnoreBits = 0): void {
    const vmw = vmidIgnoreBits;
    switch (scope.kind) {
      case "cfg_all":
        this.clear();
        return;
      case "ste":
        this.#dropSid(scope.sid, false);
        return;
      case "ste_range": {
        const span = 2 ** Math.min(scope.range + 1, IDR1.SIDSIZE.max); // 2^(Range + 1) StreamIDs
        const first = scope.sid - (scope.sid % span);
        const inRange = (sid: number) => sid >= first && sid < first + span;
        // The StreamIDs of the range, or the cached ones: whichever are fewer.
        const sids = span <= this.#bySid.size + this.#streams.size
          ? Array.from({ length: span }, (_, i) => first + i)
          : [...new Set([...this.#bySid.keys(), ...this.#streams.keys()])].filter(inRange);
        for (const sid of sids) this.#dropSid(sid, false);
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
      case "nh_all":
        for (const ctx of this.#select(CLASS.EL1, scope.vmid, vmw, ANY_ASID)) this.#clear(ctx);
        return;
      case "nh_asid":
        for (const ctx of this.#select(CLASS.EL1, scope.vmid, vmw, scope.asid)) this.#removeNonGlobal(ctx);
        return;
      case "nh_va":
        this.#byAddress(CLASS.EL1, scope.vmid, vmw, scope.asid, scope.addr, scope.range, scope.leaf);
        return;
      case "el2_all":
        for (const ctx of this.#select(CLASS.EL2, 0, 0, ANY_ASID)) this.#clear(ctx);
        for (const ctx of this.#select(CLASS.EL2_E2H, 0, 0, ANY_ASID)) this.#clear(ctx);
        return;
      case "el2_asid":
        for (const ctx of this.#select(CLASS.EL2_E2H, 0, 0, scope.asid)) this.#removeNonGlobal(ctx);
        return;
      case "el2_va":
        this.#byAddress(CLASS.EL2, 0, 0, null, scope.addr, scope.range, scope.leaf); // one address space
        this.#byAddress(CLASS.EL2_E2H, 0, 0, scope.asid, scope.addr, scope.range, scope.leaf);
        return;
      case "s12_vmall":
        for (const ctx of this.#select(CLASS.EL1, scope.vmid, vmw, ANY_ASID)) this.#clear(ctx);
        for (const ctx of this.#select(CLASS.S2, scope.vmid, vmw, ANY_ASID)) this.#clear(ctx);
        return;
      case "s2_ipa": {
        // Stage-2 entries of the IPAs, and with Leaf = 0 the stage-2 walks through them (IHI 0070 4.4.3.1).
        const lo = scope.addr, hi = rangeEnd(scope.addr, scope.range);
        for (const ctx of this.#select(CLASS.S2, scope.vmid, vmw, ANY_ASID)) {
          this.#removeRange(ctx, lo, hi, false);
          if (!scope.leaf) this.#removeWalkRange(ctx, SPACE.WALK_S2, lo, hi, ctx.s2!.granuleShift);
        }
        // The command "is not required to invalidate structures containing combined stage 1 and stage 2
        // information" (4.4.3.1), and may invalidate more than its scope (4.4): a nested context of the VMID goes
        // whole, so no fill keeps an index of its rows by IPA, and a driver that leaves out the stage-1 command
        // (which 4.4.3.1 expects beside it, as Linux issues CMD_TLBI_NH_ALL) still sees the new stage 2.
        for (const ctx of this.#select(NESTED, scope.vmid, vmw, ANY_ASID)) this.#clear(ctx);
        return;
      }
      case "nsnh_all":
        for (const ctx of this.#contexts.values()) {
          if (ctx.tagClass === CLASS.EL1 || ctx.tagClass === CLASS.S2) this.#clear(ctx);
        }
        return;
    }
  }

  /**
   * TLBI by address in class `cls`: every row of ASID `asid` (null: of any) in the range, and global rows there;
   * unless `leaf`, the walk-cache entries of those address spaces there too (IHI 0070 4.4.2 Leaf).
   */
  #byAddress(
    cls: number,
    vmid: number,
    vmw: number,
    asid: number | null,
    addr: number,
    range: TlbRange | null,
    leaf: boolean,
  ): void {
    const lo = addr, hi = rangeEnd(addr, range);
    for (const ctx of this.#select(cls, vmid, vmw, asid ?? ANY_ASID)) {
      this.#removeRange(ctx, lo, hi, false);
      if (!leaf) this.#removeStage1WalkRange(ctx, lo, hi);
    }
    if (asid === null) return;
    // Other address spaces' rows match only when global.
    for (const ctx of this.#select(cls, vmid, vmw, ANY_ASID, true)) {
      if (this.rows.globals(ctx.id) === 0) this.#tags.get(tagKey(cls, ctx.vmid))?.globals.delete(ctx);
      else if (ctx.asid !== asid) this.#removeRange(ctx, lo, hi, true);
    }
  }

  /** TLBI by ASID: the context's rows but its global ones, and its stage-1 walk caches. */
  #removeNonGlobal(ctx: Context): void {
    const rows = this.rows;
    if (rows.globals(ctx.id) === 0) {
      rows.removeOwner(ctx.id);
      ctx.blockSizes = [];
      return this.#removeStage1Walks(ctx);
    }
    const found = this.#found;
    found.length = 0;
    rows.rowsOf(ctx.id, found);
    for (const r of found) if (rows.isLive(r) && !rows.isGlobal(r)) rows.remove(r);
    this.#removeStage1Walks(ctx);
  }

  /**
   * Removes the rows of `ctx` whose input range meets [lo, hi) (only global ones when `globalOnly`), a block
   * with all its pages. Looks up each key the range can hold, or walks the context's rows when they are fewer.
   */
  #removeRange(ctx: Context, lo: number, hi: number, globalOnly: boolean): void {
    const rows = this.rows, found = this.#found;
    found.length = 0;
    if (this.#keysIn(ctx, lo, hi) <= rows.count(ctx.id)) {
      for (let p = Math.floor(lo / PAGE_BYTES); p * PAGE_BYTES < hi; p++) {
        const r = rows.find(ctx.sid, ctx.ssid, SPACE.PAGE, pageKey(p * PAGE_BYTES));
        if (r !== NONE) found.push(r);
      }
      for (const size of ctx.blockSizes) {
        for (let b = Math.floor(lo / size); b * size < hi; b++) {
          const r = rows.find(ctx.sid, ctx.ssid, SPACE.BLOCK, blockKey(b * size, size));
          if (r !== NONE) found.push(r);
        }
      }
    } else rows.rowsOf(ctx.id, found);
    for (const r of found) {
      if (!rows.isLive(r) || (globalOnly && !rows.isGlobal(r))) continue;
      const base = rows.inBase(r);
      if (base < hi && base + rows.rowSize(r) > lo) this.#removeWithBlock(r);
    }
  }

  /** The stage-1 walk-cache entries of `ctx` for input addresses in [lo, hi) (VAs: negative in the TTB1 range). */
  #removeStage1WalkRange(ctx: Context, lo: number, hi: number): void {
    const cd = ctx.cd;
    if (cd === null || this.walks.count(ctx.id) === 0) return;
    if (cd.ttb0 !== null) this.#removeWalkRange(ctx, SPACE.WALK_TTB0, lo, hi, cd.ttb0.granuleShift);
    if (cd.ttb1 !== null) {
      const top = 2 ** cd.ttb1.inputBits; // the TTB1 walk's input address is the VA plus 2^inputBits
      this.#removeWalkRange(ctx, SPACE.WALK_TTB1, lo + top, hi + top, cd.ttb1.granuleShift);
    }
  }

  /**
   * The walk-cache entries of `ctx` in `space` whose region meets [lo, hi) of that walk's input addresses (regions of
   * 2^(granule shift + {@link CHUNK_SHIFT}) bytes): each region's key looked up, or the context's entries scanned.
   */
  #removeWalkRange(ctx: Context, space: number, lo: number, hi: number, granuleShift: number): void {
    const walks = this.walks, found = this.#found;
    if (walks.count(ctx.id) === 0) return;
    found.length = 0;
    const size = 2 ** (granuleShift + CHUNK_SHIFT);
    const first = Math.max(0, Math.floor(lo / size)), last = Math.floor((hi - 1) / size);
    if (last < first) return;
    if (last - first < walks.count(ctx.id)) {
      for (let g = first; g <= last; g++) {
        const r = walks.find(ctx.sid, ctx.ssid, space, g);
        if (r !== NONE) found.push(r);
      }
    } else walks.rowsOf(ctx.id, found);
    for (const r of found) {
      if (!walks.isLive(r) || walks.space(r) !== space) continue;
      const base = walks.inBase(r);
      if (base < hi && base + walks.rowSize(r) > lo) walks.remove(r);
    }
  }

  /** Every stage-1 walk-cache entry of `ctx` (both TTB ranges). */
  #removeStage1Walks(ctx: Context): void {
    const walks = this.walks, found = this.#found;
    if (walks.count(ctx.id) === 0) return;
    found.length = 0;
    walks.rowsOf(ctx.id, found);
    for (const r of found) if (walks.space(r) !== SPACE.WALK_S2) walks.remove(r);
  }

  /** How many keys a context may hold rows under in [lo, hi): its pages, and its blocks of each size. */
  #keysIn(ctx: Context, lo: number, hi: number): number {
    let n = Math.ceil(hi / PAGE_BYTES) - Math.floor(lo / PAGE_BYTES);
    for (const size of ctx.blockSizes) n += Math.ceil(hi / size) - Math.floor(lo / size);
    return n;
  }

  /** Removes row `r`; a block's page row takes its block (and the block's other pages) with it. */
  #removeWithBlock(r: number): void {
    const block = this.rows.blockOf(r);
    this.rows.remove(block !== NONE ? block : r);
  }
}

/** How many of `limit` cached items to evict at once when full: an eighth, at least one. */
function evictionBatch(limit: number): number {
  return Math.max(1, Math.floor(limit / 8));
}
