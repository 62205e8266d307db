/**
 * The scope of an ATS Invalidate Request, from the guest's CMD_ATC_INV to the endpoint's ATC (src/endpoint/atc.ts):
 * IHI 0070 4.5.1 (StreamID, SSV/SubstreamID, Address, Size) against the entries Translation Requests cached.
 */
import assert from "node:assert/strict";
import { CMD_ATC_INV, OPCODE, STE_EATS } from "../gen/mod.ts";
import { command } from "../src/guest/driver.ts";
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
  // SSV 0: IHI 0070 4.5.1 "Sends an invalidation request to StreamID, and SubstreamID when SSV == 1": the request goes
  // without a PASID prefix (asserted below, "what the SMMU sends"). What such a request reaches in the ATC is PCIe's
  // rule, not IHI 0070's; this endpoint model takes the range's entries of every PASID, as the Linux driver's
  // arm_smmu_atc_inv_to_cmd reads it ("all ATC entries within the address range are invalidated, including those
  // that were requested with a PASID"). IHI 0070 4.5.1 relies on it for S1DSS 0b10: "For correct invalidation of ATC
  // entries to occur in this configuration, software must issue CMD_ATC_INV with SSV == 0."
  ["Size 2: [0, 16 KiB), every PASID without SSV", 1, -1, 0x1000, 2, ["-1:200000", "-1:5000"]],
  // 4.5.1: "Size == 52 ... invalidate all"; the Address is then ignored.
  ["Size 52: everything of the endpoint", 1, -1, 0x5000, 52, []],
  // IHI 0070 4.5.1: "a PCIe PASID TLP prefix containing SubstreamID is used ... when SSV is set to 1": that PASID's
  // translations go, no others.
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

// What the SMMU sends for CMD_ATC_INV (IHI 0070 4.5.1): "Sends an invalidation request to StreamID, and SubstreamID
// when SSV == 1"; "a PCIe PASID TLP prefix containing SubstreamID is used on the ATS Invalidation Request message when
// SSV is set to 1. In addition, setting the Global (G) parameter to 1 when SSV == 1 sets the Global Invalidate flag in
// the Invalidation Request. The Global parameter is IGNORED when SSV == 0." ("In the PCIe ATS protocol, the Global
// Invalidate flag in the Invalidation Request message is Reserved when no PASID prefix is used.")
// [what, SSV, SubstreamID, Global, the request's PASID (-1: no prefix), its Global Invalidate flag]
const SENT: [string, 0 | 1, number, 0 | 1, number, boolean][] = [
  ["SSV 0: no PASID prefix, whatever SubstreamID holds", 0, 5, 0, -1, false],
  ["SSV 0, Global 1: Global IGNORED", 0, 5, 1, -1, false],
  ["SSV 1: the SubstreamID as PASID", 1, 5, 0, 5, false],
  ["SSV 1, Global 1: the Global Invalidate flag", 1, 5, 1, 5, true],
];
for (const [what, ssv, ssid, global, pasid, flag] of SENT) {
  Deno.test(`4.5.1 CMD_ATC_INV sends: ${what}`, () => {
    const b = sva();
    b.stage1(1, { ste: { EATS: STE_EATS.FULL }, cdMax: 1 });
    b.driver.issue(command(OPCODE.ATC_INV, (w) => {
      CMD_ATC_INV.StreamID.set(w, 1);
      CMD_ATC_INV.SSV.set(w, ssv);
      CMD_ATC_INV.SubstreamID.set(w, ssid);
      CMD_ATC_INV.Global.set(w, global);
      CMD_ATC_INV.Address.setAddress(w, 0x4000);
    }));
    assert.ok(b.driver.sync());
    assert.deepEqual(b.invalidations, [{ sid: 1, ssid: pasid, addr: 0x4000, size: 0, global: flag }]);
  });
}
