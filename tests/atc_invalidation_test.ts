/**
 * The scope of an ATS Invalidate Request, from the guest's CMD_ATC_INV to the endpoint's ATC (src/endpoint/atc.ts):
 * IHI 0070 4.5.1 (StreamID, SSV/SubstreamID, Address, Size) against the entries Translation Requests cached.
 */
import assert from "node:assert/strict";
import { STE_EATS } from "../gen/mod.ts";
import { Atc } from "../mod.ts";
import { sva } from "./helpers/sva.ts";

const DATA = 0x8000_0000;
const BLOCK = 0x20_0000;
const PAGES = [0x1000, 0x2000, 0x3000, 0x5000, BLOCK];

/** Endpoint 1's ATC holding each translation of PAGES without a PASID and 0x1000 with PASID 1; endpoint 2 holds 0x1000. */
function filled() {
  const b = sva();
  for (const sid of [1, 2]) {
    const s = b.stage1(sid, { ste: { EATS: STE_EATS.FULL }, cdMax: 1 });
    for (const va of PAGES) s.tables.map(va, DATA + va, va === BLOCK ? 2 : 3); // BLOCK: a 2 MiB block
  }
  const atc = new Atc(b.smmu.ats, b.memory, 1), other = new Atc(b.smmu.ats, b.memory, 2);
  b.atcHooks.push((inv) => atc.invalidate(inv), (inv) => other.invalidate(inv));
  for (const va of PAGES) assert.ok(atc.lookup(va).ok);
  assert.ok(atc.lookup(0x1000, { ssid: 1 }).ok);
  assert.ok(other.lookup(0x1000).ok);
  const held = (a: Atc) => a.entries.map((e) => `${e.ssid}:${e.base.toString(16)}`).sort();
  return { b, atc, other, held };
}

// [what, StreamID, SubstreamID (-1: SSV 0), Address, Size, endpoint 1's entries left ("ssid:base")]
const SCOPES: [string, number, number, number, number, string[]][] = [
  // 4.5.1: the span is 4 KiB × 2^Size, one page for Size 0.
  ["Size 0: the one page", 1, -1, 0x2000, 0, ["-1:1000", "-1:200000", "-1:3000", "-1:5000", "1:1000"]],
  // The span is naturally aligned (an ATS invalidation range is): Address 0x3000 with Size 1 names [0x2000, 0x4000).
  ["Size 1: the aligned 8 KiB holding Address", 1, -1, 0x3000, 1, ["-1:1000", "-1:200000", "-1:5000", "1:1000"]],
  // SSV 0: the Invalidate Request goes without a PASID prefix, which reaches the range's entries of every PASID (the
  // Linux driver's arm_smmu_atc_inv_to_cmd notes there is no way to invalidate only the entries without one).
  ["Size 2: [0, 16 KiB), every PASID without SSV", 1, -1, 0x1000, 2, ["-1:200000", "-1:5000"]],
  // 4.5.1: "Size == 52 ... invalidate all"; the Address is then ignored.
  ["Size 52: everything of the endpoint", 1, -1, 0x5000, 52, []],
  // With SSV 1 only that PASID's translations go.
  ["SSV 1: PASID 1 only", 1, 1, 0, 52, ["-1:1000", "-1:2000", "-1:200000", "-1:3000", "-1:5000"]],
  ["SSV 1: another PASID leaves all", 1, 0, 0, 52, ["-1:1000", "-1:2000", "-1:200000", "-1:3000", "-1:5000", "1:1000"]],
  // The StreamID names the endpoint: another endpoint's invalidation leaves this ATC as it was.
  ["another StreamID", 2, -1, 0, 52, ["-1:1000", "-1:2000", "-1:200000", "-1:3000", "-1:5000", "1:1000"]],
  // A 2 MiB block cached as one entry goes with any span that meets it.
  ["Size 0 inside a block", 1, -1, 0x2f_f000, 0, ["-1:1000", "-1:2000", "-1:3000", "-1:5000", "1:1000"]],
];

for (const [what, sid, ssid, addr, size, left] of SCOPES) {
  Deno.test(`4.5.1 CMD_ATC_INV scope: ${what}`, () => {
    const { b, atc, other, held } = filled();
    assert.ok(b.driver.atcInvalidate(sid, ssid, addr, size), "CMD_SYNC completes");
    assert.deepEqual(held(atc), left);
    assert.deepEqual(held(other), sid === 2 ? [] : ["-1:1000"], "endpoint 2");
  });
}
