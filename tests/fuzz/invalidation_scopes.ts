/**
 * Scoped invalidations, checked exactly: once a CMD_SYNC completes a configuration or TLB invalidation, nothing in its
 * scope is left in the caches to answer a transaction (IHI 0070 3.21, 4.3.1-4.3.4, 4.4.2-4.4.4, 4.7.3). The oracle
 * reads what the caches hold (`Smmu.cacheContents`) after a step that ran such commands and no transaction, and
 * decodes each command's scope from its fields:
 * - CMD_CFGI_STE / STE_RANGE: no STE of the StreamIDs, nor a context (its CDs) built from one (4.3.1, 4.3.2);
 * - CMD_CFGI_CD(StreamID, SubstreamID): no context holding the CD of that index (a transaction without a SubstreamID
 *   uses index 0) (4.3.3); CMD_CFGI_CD_ALL: no context of the StreamID holding a CD (4.3.4);
 * - CMD_TLBI_NH_ALL / NH_ASID / NH_VA / NH_VAA: no stage-1 (or combined) entry of the EL1 regime with the VMID, of
 *   the ASID (its non-global entries), or holding the address (of the ASID, or global) (4.4.2);
 * - CMD_TLBI_EL2_ALL / EL2_ASID / EL2_VA / EL2_VAA: the same for the EL2 and EL2-E2H regimes (4.4.2);
 * - CMD_TLBI_S12_VMALL: nothing of the VMID, stage 1 or 2, walk caches too; CMD_TLBI_S2_IPA: no entry of a stage-2-only
 *   context of the VMID holding the IPA (a combined entry needs a stage-1 invalidation too, 16.2.1) (4.4.3);
 * - CMD_TLBI_NSNH_ALL: nothing of the EL1 and stage-2 regimes (4.4.4).
 * Range forms (TG != 0) are left to the other checks: their TTL and TG hints narrow what must go.
 * @module
 */
import {
  CMD_CFGI_CD,
  CMD_CFGI_CD_ALL,
  CMD_CFGI_STE,
  CMD_CFGI_STE_RANGE,
  CMD_SYNC,
  CMD_TLBI_EL2_ASID,
  CMD_TLBI_NH_ALL,
  CMD_TLBI_NH_ASID,
  CMD_TLBI_NH_VA,
  IDR0,
  OPCODE,
} from "../../gen/mod.ts";
import type { CacheContents, CachedContext, CachedTranslation } from "../../src/translation/explain.ts";
import type { StepView } from "./invariants.ts";

/** One completed invalidation: what it is, and whether a cache entry is still in its scope. */
interface Scope {
  readonly what: string;
  /** Whether the STE cache still holds a StreamID in scope. */
  readonly stream?: (sid: number) => boolean;
  /** Whether a context (its decoded STE and CD) is in scope as a whole. */
  readonly context?: (c: CachedContext) => boolean;
  /** Whether an entry of the context's TLB is in scope (walk caches included where `walks`). */
  readonly entry?: (c: CachedContext, e: CachedTranslation) => boolean;
  readonly walks?: (c: CachedContext) => boolean;
}

const NO_CD = -1;
const hex = (n: number) => `0x${n.toString(16)}`;
const holds = (e: CachedTranslation, a: number) => a >= e.iova && a < e.iova + e.size;

/** VA or IPA bits [63:12] of a TLBI command, as a signed address (a 64-bit two's complement VA). */
function address(c: Uint32Array): number {
  const f = CMD_TLBI_NH_VA.Address.get(c);
  return (f >= 2 ** 51 ? f - 2 ** 52 : f) * 4096;
}

/** The scope of command `c`, or null for one that is not a checked invalidation. */
function scopeOf(c: Uint32Array, ids: { s2: boolean; asid16: boolean; vmid16: boolean }): Scope | null {
  const op = CMD_SYNC.Opcode.get(c);
  // Without stage 2 the VMID is RES0; with 8-bit ASIDs or VMIDs a parameter with its upper bits set "is not required
  // to affect TLB entries" (IHI 0070 4.4).
  const vmidOf = (v: number) => (!ids.s2 ? 0 : !ids.vmid16 && v > 0xff ? null : v);
  const asidOf = (v: number) => (!ids.asid16 && v > 0xff ? null : v);
  const el1 = (c: CachedContext, vmid: number) => c.regime === "el1" && c.vmid === vmid;
  const el2 = (c: CachedContext) => c.regime === "el2" || c.regime === "el2-e2h";
  const range = CMD_TLBI_NH_VA.TG.get(c) !== 0;
  switch (op) {
    case OPCODE.CFGI_STE: {
      const sid = CMD_CFGI_STE.StreamID.get(c);
      return { what: `CMD_CFGI_STE(${sid})`, stream: (s) => s === sid, context: (x) => x.sid === sid };
    }
    case OPCODE.CFGI_STE_RANGE: {
      const span = 2 ** (CMD_CFGI_STE_RANGE.Range.get(c) + 1);
      const first = CMD_CFGI_STE_RANGE.StreamID.get(c) - (CMD_CFGI_STE_RANGE.StreamID.get(c) % span);
      const inRange = (s: number) => s >= first && s < first + span;
      return { what: `CMD_CFGI_STE_RANGE(${first}, ${span})`, stream: inRange, context: (x) => inRange(x.sid) };
    }
    case OPCODE.CFGI_CD: {
      const [sid, index] = [CMD_CFGI_CD.StreamID.get(c), CMD_CFGI_CD.SubstreamID.get(c)];
      return {
        what: `CMD_CFGI_CD(${sid}, ${index})`,
        context: (x) => x.sid === sid && x.cdAddr !== NO_CD && (x.ssid === index || (index === 0 && x.ssid === -1)),
      };
    }
    case OPCODE.CFGI_CD_ALL: {
      const sid = CMD_CFGI_CD_ALL.StreamID.get(c);
      return { what: `CMD_CFGI_CD_ALL(${sid})`, context: (x) => x.sid === sid && x.cdAddr !== NO_CD };
    }
    case OPCODE.TLBI_NH_ALL: {
      const vmid = vmidOf(CMD_TLBI_NH_ALL.VMID.get(c));
      if (vmid === null) return null;
      return { what: `CMD_TLBI_NH_ALL(VMID ${vmid})`, entry: (x) => el1(x, vmid) };
    }
    case OPCODE.TLBI_NH_ASID: {
      const [vmid, asid] = [vmidOf(CMD_TLBI_NH_ASID.VMID.get(c)), asidOf(CMD_TLBI_NH_ASID.ASID.get(c))];
      if (vmid === null || asid === null) return null;
      return {
        what: `CMD_TLBI_NH_ASID(VMID ${vmid}, ASID ${asid})`,
        entry: (x, e) => el1(x, vmid) && x.asid === asid && !e.global,
      };
    }
    case OPCODE.TLBI_NH_VA:
    case OPCODE.TLBI_NH_VAA: {
      const vmid = vmidOf(CMD_TLBI_NH_VA.VMID.get(c));
      const asid = op === OPCODE.TLBI_NH_VA ? asidOf(CMD_TLBI_NH_VA.ASID.get(c)) : -1;
      if (vmid === null || asid === null || range) return null;
      const va = address(c);
      return {
        what: `CMD_TLBI_NH_VA${asid < 0 ? "A" : ""}(VMID ${vmid}${asid < 0 ? "" : `, ASID ${asid}`}, ${hex(va)})`,
        entry: (x, e) => el1(x, vmid) && (asid < 0 || x.asid === asid || e.global) && holds(e, va),
      };
    }
    case OPCODE.TLBI_EL2_ALL:
      return { what: "CMD_TLBI_EL2_ALL", entry: el2, walks: el2 };
    case OPCODE.TLBI_EL2_ASID: {
      const asid = asidOf(CMD_TLBI_EL2_ASID.ASID.get(c));
      if (asid === null) return null;
      return {
        what: `CMD_TLBI_EL2_ASID(${asid})`,
        entry: (x, e) => x.regime === "el2-e2h" && x.asid === asid && !e.global,
      };
    }
    case OPCODE.TLBI_EL2_VA:
    case OPCODE.TLBI_EL2_VAA: {
      const asid = op === OPCODE.TLBI_EL2_VA ? asidOf(CMD_TLBI_NH_VA.ASID.get(c)) : -1;
      if (asid === null || range) return null;
      const va = address(c);
      // The EL2 regime has no ASIDs: every entry matches (IHI 0070 4.4.2).
      return {
        what: `CMD_TLBI_EL2_VA${asid < 0 ? "A" : ""}(${asid < 0 ? "" : `ASID ${asid}, `}${hex(va)})`,
        entry: (x, e) => el2(x) && (asid < 0 || x.regime === "el2" || x.asid === asid || e.global) && holds(e, va),
      };
    }
    case OPCODE.TLBI_S12_VMALL: {
      const vmid = vmidOf(CMD_TLBI_NH_ALL.VMID.get(c));
      if (vmid === null) return null;
      const mine = (x: CachedContext) => (x.regime === "el1" || x.regime === "s2") && x.vmid === vmid;
      return { what: `CMD_TLBI_S12_VMALL(VMID ${vmid})`, entry: mine, walks: mine };
    }
    case OPCODE.TLBI_S2_IPA: {
      const vmid = vmidOf(CMD_TLBI_NH_ALL.VMID.get(c));
      if (vmid === null || range) return null;
      const ipa = address(c);
      return {
        what: `CMD_TLBI_S2_IPA(VMID ${vmid}, ${hex(ipa)})`,
        entry: (x, e) => x.regime === "s2" && x.vmid === vmid && holds(e, ipa),
      };
    }
    case OPCODE.TLBI_NSNH_ALL: {
      const mine = (x: CachedContext) => x.regime === "el1" || x.regime === "s2";
      return { what: "CMD_TLBI_NSNH_ALL", entry: mine, walks: mine };
    }
  }
  return null;
}

/** What in `caches` is still in `s`'s scope, or null. */
function leftIn(s: Scope, caches: CacheContents): string | null {
  const stream = s.stream === undefined ? undefined : caches.streams.find((x) => s.stream!(x.sid));
  if (stream !== undefined) return `the STE of StreamID ${stream.sid}`;
  for (const c of caches.contexts) {
    const ctx = `StreamID ${c.sid}${c.ssid >= 0 ? ` SubstreamID ${c.ssid}` : ""}`;
    if (s.context?.(c)) return `the context of ${ctx} (CD at ${hex(c.cdAddr)})`;
    const e = s.entry === undefined ? undefined : c.entries.find((e) => s.entry!(c, e));
    if (e !== undefined) return `${ctx}'s TLB entry for ${hex(e.iova)} (${hex(e.size)} bytes)`;
    if (s.walks?.(c) && c.walkEntries > 0) return `${ctx}'s ${c.walkEntries} walk-cache entries`;
  }
  return null;
}

/** After a step that ran commands and no transaction, each invalidation a CMD_SYNC completed left nothing in scope. */
export function checkInvalidationScopes(v: StepView): void {
  if (v.commands === 0 || v.translations > 0 || v.nested.length > 0 || v.held.stags.size > 0) return;
  const w = Uint32Array.of(v.runner.smmu.idRegisters.IDR0);
  const ids = { s2: IDR0.S2P.get(w) === 1, asid16: IDR0.ASID16.get(w) === 1, vmid16: IDR0.VMID16.get(w) === 1 };
  let pending: Scope[] = [];
  const completed: Scope[] = [];
  for (const c of v.ran) {
    if (CMD_SYNC.Opcode.get(c) === OPCODE.SYNC) completed.push(...pending), pending = [];
    else {
      const s = scopeOf(c, ids);
      if (s !== null) pending.push(s);
    }
  }
  if (completed.length === 0) return;
  const caches = v.runner.smmu.cacheContents();
  for (const s of completed) {
    const left = leftIn(s, caches);
    if (left !== null) v.fail(`after ${s.what} and CMD_SYNC, the caches still hold ${left}`);
    v.coverage.add(`scoped invalidation checked: ${s.what.replace(/\(.*$/, "")}`);
  }
}
