/**
 * The walk caches as a walker sees them: one context's cache of one regime, a reusable view pointed at the context
 * of each walk (src/translation/walk.ts reads and fills it through its WalkCache interface).
 * @module
 */
import type { Caches } from "./tlb.ts";
import type { Context } from "./tlb_context.ts";
import { NONE } from "./tlb_pages.ts";
import { DOUBLE_FIELD } from "../core/numbers.ts";
import type { WalkCache } from "./walk.ts";

/**
 * Entries of a view's lookup memo, direct-mapped by region: a nested miss looks up the stage-2 regions of its
 * stage-1 tables and of its output, which alternate, so one entry would keep missing.
 */
const MEMO = 8;

/** One context's walk cache of one regime, as a walker reads and fills it: a reusable view, pointed per walk. */
export class WalkCacheView implements WalkCache {
  attrs = 0;
  ipa = 0;
  #ctx: Context | null = null;
  #space = 0;
  #fill = false;
  /** The last entry found (misses walk through pages in order, so mostly the same region as before). */
  #lastCtx: Context | null = null;
  #lastSpace = 0;
  #lastRegion = 0;
  #lastRemovals = -1;
  /** The last entry's chunk PA (its attrs and ipa are the fields'). */
  #lastPa = DOUBLE_FIELD;
  /**
   * Behind it, entries found lately by region modulo MEMO (a nested miss alternates between regions): each valid
   * while the walk cache has removed nothing since it was found.
   */
  readonly #memoCtx: (Context | null)[] = new Array(MEMO).fill(null);
  readonly #memoSpace = new Int32Array(MEMO);
  readonly #memoRegion = new Int32Array(MEMO);
  readonly #memoRow = new Int32Array(MEMO);
  readonly #memoRemovals = new Float64Array(MEMO).fill(-1);

  constructor(readonly caches: Caches) {}

  /** Points the view at the walk cache of `ctx` (a cached context) in `space`; `fill`: a transaction's walk. */
  use(ctx: Context, space: number, fill: boolean): this {
    this.#ctx = ctx;
    this.#space = space;
    this.#fill = fill;
    return this;
  }

  lookup(region: number): number {
    if (
      region === this.#lastRegion && this.#ctx === this.#lastCtx && this.#space === this.#lastSpace &&
      this.caches.walks.removals === this.#lastRemovals // nothing removed since: the entry is as it was
    ) return this.#lastPa; // attrs and ipa are still the entry's: they change only with #last*
    // The rest in a call of its own: this much is small enough for V8 to inline into both walks that look up.
    return this.#find(region);
  }

  /** {@link lookup} past the last entry. */
  #find(region: number): number {
    const caches = this.caches, walks = caches.walks;
    const e = region & (MEMO - 1);
    let r: number;
    if (
      this.#memoRegion[e] === region && this.#memoCtx[e] === this.#ctx && this.#memoSpace[e] === this.#space &&
      this.#memoRemovals[e] === walks.removals
    ) r = this.#memoRow[e];
    else {
      r = caches.walkEntry(this.#ctx!, this.#space, region, this.#fill);
      if (r === NONE) return -1;
      this.#memoCtx[e] = this.#ctx;
      this.#memoSpace[e] = this.#space;
      this.#memoRegion[e] = region;
      this.#memoRow[e] = r;
      this.#memoRemovals[e] = walks.removals;
    }
    this.#lastCtx = this.#ctx;
    this.#lastSpace = this.#space;
    this.#lastRegion = region;
    this.#lastRemovals = walks.removals;
    this.attrs = walks.allow(r);
    this.ipa = walks.ipaBase(r);
    return this.#lastPa = walks.outBase(r);
  }

  fill(region: number, regionShift: number, pa: number, ipa: number, attrs: number): void {
    if (this.#fill) this.caches.fillWalk(this.#ctx!, this.#space, region, regionShift, pa, ipa, attrs); // not a probe
  }
}
