/**
 * Which cached STEs the SMMU may still use after they changed in memory. The SMMU may keep using a configuration
 * structure it cached until an invalidation covering it (CMD_CFGI_STE, CMD_CFGI_STE_RANGE, CMD_CFGI_ALL) is
 * completed by a CMD_SYNC (IHI 0070 3.21.3, 4.3.1, 4.3.2, 4.3.6, 4.7.3); an STE nobody wrote since then must answer
 * as the one in memory. The oracle learns each STE's StreamID and address from the transactions that use it.
 * @module
 */
import { CMD_CFGI_STE, CMD_CFGI_STE_RANGE, CMD_SYNC, OPCODE, STE_BYTES } from "../../gen/mod.ts";

/** One STE a transaction used: where, and what its cached copies may be. */
interface Tracked {
  readonly sid: number;
  readonly addr: number;
  /** Written since the last completed invalidation: a cached copy may be the old STE. */
  stale: boolean;
  /** Invalidated by a command since its last write, awaiting a CMD_SYNC. */
  invalidated: boolean;
}

export class StaleStes {
  readonly #stes = new Map<string, Tracked>();

  /** A transaction of `sid` used the STE at `addr` (call before the step's writes are applied). */
  used(sid: number, addr: number): void {
    const key = `${sid}:${addr}`;
    if (!this.#stes.has(key)) this.#stes.set(key, { sid, addr, stale: false, invalidated: false });
  }

  /** Guest or device wrote `len` bytes at `addr`. */
  written(addr: number, len: number): void {
    for (const t of this.#stes.values()) {
      if (addr < t.addr + STE_BYTES && addr + len > t.addr) {
        t.stale = true;
        t.invalidated = false; // an invalidation before the write does not cover it
      }
    }
  }

  /** The commands a step ran, in order: configuration invalidations, completed by CMD_SYNC. */
  ran(commands: readonly Uint32Array[]): void {
    for (const c of commands) {
      const op = CMD_SYNC.Opcode.get(c);
      if (op === OPCODE.CFGI_STE) this.#invalidate(CMD_CFGI_STE.StreamID.get(c), 1);
      // 2^(Range+1) StreamIDs; Range 31 (CMD_CFGI_ALL) spans all 2^32.
      if (op === OPCODE.CFGI_STE_RANGE) {
        this.#invalidate(CMD_CFGI_STE_RANGE.StreamID.get(c), 2 ** (CMD_CFGI_STE_RANGE.Range.get(c) + 1));
      }
      if (op !== OPCODE.SYNC) continue;
      for (const t of this.#stes.values()) {
        if (t.invalidated) t.stale = t.invalidated = false;
      }
    }
  }

  /** The caches were emptied (reset, restore): nothing cached is stale. */
  emptied(): void {
    for (const t of this.#stes.values()) t.stale = t.invalidated = false;
  }

  /** Whether a cached copy of the STE of `sid` at `addr` may differ from memory. */
  mayBeStale(sid: number, addr: number): boolean {
    return this.#stes.get(`${sid}:${addr}`)?.stale ?? true;
  }

  /** StreamIDs [first, first + span) of the aligned span around `sid`. */
  #invalidate(sid: number, span: number): void {
    const first = sid - (sid % span);
    for (const t of this.#stes.values()) if (t.sid >= first && t.sid < first + span) t.invalidated = true;
  }
}
