/**
 * A PCIe endpoint's Address Translation Cache, as a host models one (IHI 0070 3.9.1; PCIe ATS): Translation Requests
 * fill it, the Invalidate Requests CMD_ATC_INV sends empty it, and the endpoint's DMA goes out as Translated
 * transactions to the addresses it holds. Wire `atcInvalidate` of the SMMU's `endpoints` option to {@link Atc.invalidate}.
 * @module
 */
import type { AtcInvalidation } from "../device/commands.ts";
import type { Ats, AtsCompletion } from "../translation/ats.ts";
import { HostError } from "../core/errors.ts";
import { NO_SSID } from "../core/types.ts";
import type { GuestMemory } from "../core/memory.ts";

/** How the endpoint accesses memory through its ATC. */
export interface AtcAccess {
  /** PASID of the access; absent for none. */
  ssid?: number;
  /** A write. */
  write?: boolean;
  /** An instruction fetch (needs a PASID). */
  exec?: boolean;
  /** Privileged (needs a PASID). */
  priv?: boolean;
}

/**
 * Outcome of an ATC lookup: the translated address, or the completion that granted too little (the endpoint may then
 * send a page request through PRI and retry once it is answered), or a Translated transaction the SMMU refused.
 */
export type AtcResult =
  | { ok: true; pa: number; span: number }
  | { ok: false; denied: AtsCompletion }
  | { ok: false; refused: string };

/** Outcome of an endpoint DMA: `done` bytes were copied before `address` could not be accessed. */
export type AtcDmaResult = { ok: true } | ({ ok: false; done: number; address: number } & AtcResult);

/** One cached Translation Completion. */
export interface AtcEntry {
  /** PASID it was requested with, or -1. */
  ssid: number;
  /** The untranslated range's first address. */
  base: number;
  /** The range's size in bytes. */
  size: number;
  /** The translated address of `base`. */
  out: number;
  /** Read granted. */
  read: boolean;
  /** Write granted. */
  write: boolean;
  /** Execute granted. */
  exec: boolean;
  /** Whether it was requested as privileged. */
  priv: boolean;
}

const SPAN_ALL = 52; // CMD_ATC_INV.Size 52: everything (IHI 0070 4.5.1)

/** One endpoint's ATC: cached completions by PASID and address range. */
export class Atc {
  readonly #entries: AtcEntry[] = [];
  /** Translation Requests sent (misses), for tests and tools. */
  requests = 0;
  /** Invalidations received. */
  invalidations = 0;

  /** The ATC of endpoint `sid` behind the SMMU's `ats`, doing DMA to `memory`; at most `capacity` entries. */
  constructor(
    readonly ats: Ats,
    readonly memory: GuestMemory,
    readonly sid: number,
    readonly capacity = 64,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new HostError(`Atc: capacity ${capacity} is not positive`);
  }

  /** The cached translations (copies), for tests and tools. */
  get entries(): readonly Readonly<AtcEntry>[] {
    return this.#entries.map((e) => ({ ...e }));
  }

  /** The translation of `address` for `access`: from the cache, or by a Translation Request whose success it caches. */
  lookup(address: number, access: AtcAccess = {}): AtcResult {
    if (!Number.isSafeInteger(address) || address < 0) throw new HostError(`Atc: address ${address} is not valid`);
    if (access === null || typeof access !== "object") throw new HostError("Atc: access must be an object");
    const ssid = access.ssid ?? NO_SSID;
    const write = access.write === true, exec = access.exec === true, priv = access.priv === true;
    let e: AtcEntry | undefined = this.#entries.find((x) =>
      x.ssid === ssid && x.priv === priv && address >= x.base && address < x.base + x.size &&
      (write ? x.write : x.read) && (!exec || x.exec)
    );
    if (e === undefined) {
      this.requests++;
      const c = this.ats.translate({ sid: this.sid, ssid: access.ssid, address, write, exec, priv });
      if (c.status !== "success" || !(write ? c.write : c.read) || (exec && !c.exec)) return { ok: false, denied: c };
      const base = address - (address % c.size);
      e = { ssid, base, size: c.size, out: c.address, read: c.read, write: c.write, exec: c.exec, priv };
      if (this.#entries.length >= this.capacity) this.#entries.shift();
      this.#entries.push(e);
    }
    return { ok: true, pa: e.out + (address - e.base), span: e.base + e.size - address };
  }

  /** Copies memory at `address` into `dst` as the endpoint: ATC lookups, then Translated transactions. */
  read(address: number, dst: Uint8Array, access: AtcAccess = {}): AtcDmaResult {
    return this.#copy(address, dst, { ...access, write: false });
  }

  /** Copies `src` to memory at `address` as the endpoint. */
  write(address: number, src: Uint8Array, access: AtcAccess = {}): AtcDmaResult {
    return this.#copy(address, src, { ...access, write: true });
  }

  #copy(address: number, buf: Uint8Array, access: AtcAccess): AtcDmaResult {
    if (!(buf instanceof Uint8Array)) throw new HostError("Atc: the buffer must be a Uint8Array");
    let done = 0;
    while (done < buf.length) {
      const at = address + done;
      const t = this.lookup(at, access);
      if (!t.ok) return { ...t, done, address: at };
      const r = this.ats.translated({ sid: this.sid, address: t.pa, write: access.write });
      if (!r.ok) return { ok: false, refused: r.fault, done, address: at };
      const n = Math.min(buf.length - done, t.span);
      const piece = buf.subarray(done, done + n);
      const ok = access.write ? this.memory.write(r.pa, piece) : this.memory.read(r.pa, piece);
      if (!ok) return { ok: false, refused: "ABORT", done, address: at };
      done += n;
    }
    return { ok: true };
  }

  /**
   * An ATS Invalidate Request (CMD_ATC_INV): drops the entries of this endpoint the span covers. With a PASID, that
   * PASID's entries; without one, entries of every PASID (this model's conservative reading). Returns true: done.
   */
  invalidate(inv: AtcInvalidation): boolean {
    if (inv.sid !== this.sid) return true;
    this.invalidations++;
    const all = inv.size >= SPAN_ALL;
    const span = all ? 0 : 4096 * 2 ** inv.size;
    const lo = all ? 0 : inv.addr - (inv.addr % span);
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      const e = this.#entries[i];
      if (inv.ssid >= 0 && e.ssid !== inv.ssid) continue;
      if (all || (e.base < lo + span && lo < e.base + e.size)) this.#entries.splice(i, 1);
    }
    return true;
  }
}
