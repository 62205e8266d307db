/**
 * A device's translated view of guest memory: reads and writes split at mapping boundaries, each piece translated
 * once through the same path as any transaction (events, TLB fills), stopping at the first fault (IHI 0070 3.1).
 * MSI writes from a device are ordinary writes through a view.
 * @module
 */
import { GRANULE } from "../../gen/mod.ts";
import { HostError, shown } from "../core/errors.ts";
import { HostCalls } from "../core/host_calls.ts";
import { FlatMemory } from "../core/memory.ts";
import type { GuestMemory } from "../core/memory.ts";
import { ACCESS, newFault } from "../core/types.ts";
import type { Fault } from "../core/types.ts";
import type { Translator } from "../translation/translate.ts";
import type { Pending, Stall, Stalls } from "./stall.ts";

/**
 * Outcome of a DMA copy: `done` bytes were copied before the fault (a copy of the engine's fault). With `stall`, the
 * fault stalled the access at `iova` (IHI 0070 3.12.2): the copy is not over but waits, and continues from there when
 * a CMD_RESUME retries it; `stall.onEnd` then gets the copy's final result. The buffer must stay as it is meanwhile.
 */
export type DmaResult = { ok: true } | {
  ok: false;
  done: number;
  iova: number;
  fault: Fault;
  stall?: Stall<DmaResult>;
};

const OK: DmaResult = Object.freeze({ ok: true });

/** `iova` and `iova + length` are safe integers: compares only (no call on the DMA path; NaN fails them all). */
function safeRange(iova: number, length: number): boolean {
  return iova >= -Number.MAX_SAFE_INTEGER && iova + length <= Number.MAX_SAFE_INTEGER && Math.floor(iova) === iova;
}
const PAGE = 2 ** GRANULE.GRAN_4K; // the TLB's key granularity: the smallest granule

/** A device's view of guest memory through the SMMU. */
export class DmaView {
  readonly #translator: Translator;
  readonly #memory: GuestMemory;
  readonly #calls: HostCalls;
  /** The memory when it is a FlatMemory with its own copy methods: copied by range, with no subarray. */
  readonly #flat: FlatMemory | null;
  /** StreamID of the device. */
  readonly sid: number;
  /** SubstreamID of its accesses, or -1 for none. */
  readonly ssid: number;
  /** ACCESS flags added to every access (EXEC, PRIV), beside the direction. */
  readonly flags: number;
  /**
   * The view's last TLB hit, as an endpoint's ATC would keep it: input addresses [#hitLo, #hitHi) (in one page) map
   * from #hitPa on for accesses #hitFlags, while the TLB has removed nothing since (a device's accesses cluster).
   */
  #hitLo = 0;
  #hitHi = 0;
  #hitPa = 0;
  #hitFlags = -1;
  #hitRemovals = -1;

  /** A view for StreamID `sid` (and SubstreamID `ssid`, -1 for none); `Smmu.dmaView` makes these. */
  constructor(
    translator: Translator,
    memory: GuestMemory,
    sid: number,
    ssid: number,
    flags = 0,
    calls: HostCalls = new HostCalls(),
  ) {
    this.#translator = translator;
    this.#memory = memory;
    this.#calls = calls;
    this.#flat = memory instanceof FlatMemory && memory.readInto === FlatMemory.prototype.readInto &&
        memory.writeFrom === FlatMemory.prototype.writeFrom
      ? memory
      : null;
    this.sid = sid;
    this.ssid = ssid;
    this.flags = flags & (ACCESS.EXEC | ACCESS.PRIV);
  }

  /**
   * Copies guest memory at `iova` into `dst`. Throws {@link HostError} unless `iova` and the end of the copy are safe
   * integers (a signed address: negative for the upper, TTB1 range) and `dst` is a Uint8Array.
   */
  read(iova: number, dst: Uint8Array): DmaResult {
    if (!(dst instanceof Uint8Array && safeRange(iova, dst.length))) this.#refuse("read", iova, dst, "dst");
    const flags = this.flags & ~ACCESS.WRITE, n = dst.length;
    if (this.#inLastHit(iova, n, flags) && this.#flat!.readInto(this.#hitPa + (iova - this.#hitLo), dst, 0, n)) {
      this.#translator.countHit();
      return OK;
    }
    return this.#copy(iova, dst, flags, false);
  }

  /** Copies `src` to guest memory at `iova`. Throws {@link HostError} for arguments as {@link read} does. */
  write(iova: number, src: Uint8Array): DmaResult {
    if (!(src instanceof Uint8Array && safeRange(iova, src.length))) this.#refuse("write", iova, src, "src");
    const flags = (this.flags & ~ACCESS.EXEC) | ACCESS.WRITE, n = src.length;
    if (this.#inLastHit(iova, n, flags) && this.#flat!.writeFrom(this.#hitPa + (iova - this.#hitLo), src, 0, n)) {
      this.#translator.countHit();
      return OK;
    }
    return this.#copy(iova, src, flags, true);
  }

  /**
   * Whether a copy of `n` bytes at `iova` lies within the last hit, still in the TLB, on FlatMemory: then it is one
   * TLB hit and one copy, which change nothing a device call brackets (no callback, no queue), so it needs no
   * enter/leave (as Smmu.translateAddress on a hit). Not from inside a GuestMemory access, which enter refuses.
   */
  #inLastHit(iova: number, n: number, flags: number): boolean {
    return iova >= this.#hitLo && iova + n <= this.#hitHi && flags === this.#hitFlags && this.#flat !== null &&
      this.#translator.removals === this.#hitRemovals && !this.#calls.inMemory;
  }

  #refuse(what: string, iova: unknown, buf: unknown, name: string): never {
    if (!(buf instanceof Uint8Array)) {
      throw new HostError(`DmaView.${what}: ${name} must be a Uint8Array, got ${shown(buf)}`);
    }
    throw new HostError(`DmaView.${what}: iova must be a safe integer and so must the copy's end, got ${shown(iova)}`);
  }

  /** Copies from byte `done` of `buf` on (a stalled copy continues where it stopped). */
  #copy(iova: number, buf: Uint8Array, flags: number, write: boolean, done = 0): DmaResult {
    // Nothing in a copy throws (memories are guarded, callbacks deferred): no finally on this path.
    this.#calls.enter("DmaView");
    const result = this.#pieces(iova, buf, flags, write, done);
    this.#calls.leave();
    return result;
  }

  #pieces(iova: number, buf: Uint8Array, flags: number, write: boolean, done: number): DmaResult {
    const t = this.#translator;
    const len = buf.length;
    while (done < len) {
      const at = iova + done;
      let pa: number, span: number;
      if (at >= this.#hitLo && at < this.#hitHi && flags === this.#hitFlags && t.removals === this.#hitRemovals) {
        t.countHit(); // the TLB entry of the last hit, still there: a hit again
        pa = this.#hitPa + (at - this.#hitLo);
        span = this.#hitHi - at;
      } else {
        const removals = t.removals, hits = t.hits;
        pa = t.translate(this.sid, this.ssid, at, flags);
        if (pa < 0) {
          if (t.fault.stall) return this.#stalled(iova, buf, flags, write, done);
          return { ok: false, done, iova: at, fault: { ...t.fault } };
        }
        span = t.span;
        if (t.hits !== hits && t.removals === removals) {
          // As far as the TLB would answer the same: within the page (each page has its own TLB key).
          this.#hitLo = at;
          this.#hitHi = Math.min(at + span, (Math.floor(at / PAGE) + 1) * PAGE);
          this.#hitPa = pa;
          this.#hitFlags = flags;
          this.#hitRemovals = removals;
        }
      }
      // One physical range per mapping: `span` is what is left of this page, block or bypassed page.
      const n = Math.min(len - done, span);
      const flat = this.#flat;
      let ok: boolean;
      if (flat !== null) ok = write ? flat.writeFrom(pa, buf, done, n) : flat.readInto(pa, buf, done, n);
      else {
        const piece = n === len ? buf : buf.subarray(done, done + n);
        ok = write ? this.#memory.write(pa, piece) : this.#memory.read(pa, piece);
      }
      if (!ok) {
        // The data access itself aborted in the memory system: an abort to the device, no SMMU event.
        const fault = newFault();
        fault.sid = this.sid;
        return { ok: false, done, iova: at, fault };
      }
      done += n;
    }
    return OK;
  }

  /** The copy stalled at byte `done`: its retry continues the copy, its termination aborts it there. */
  #stalled(iova: number, buf: Uint8Array, flags: number, write: boolean, done: number): DmaResult {
    const t = this.#translator;
    const stall = (t.stalls as Stalls).get(t.fault.stag) as Pending<DmaResult>;
    const fault = { ...t.fault };
    stall.run = () => this.#copy(iova, buf, flags, write, done);
    stall.abort = () => ({ ok: false, done, iova: iova + done, fault });
    return { ok: false, done, iova: iova + done, fault, stall };
  }
}
