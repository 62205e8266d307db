/**
 * What an ATS Translation Request may change (audit of issue 12, item 4): the Access flag is set only where the
 * Translation Completion grants something, by the permissions IHI 0070 13.7.1 computes (the request's Exe and Priv,
 * the descriptor's permissions, the STE.INSTCFG and STE.PRIVCFG overrides).
 */
import assert from "node:assert/strict";
import { IDR1, STE_EATS, STE_INSTCFG, STE_PRIVCFG, TT_AP, TT_PAGE_S1 } from "../gen/mod.ts";
import type { AtsRequest, SmmuOptions } from "../mod.ts";
import { idRegistersFor } from "../src/registers/features.ts";
import { sva } from "./helpers/sva.ts";

const PAGE = 0x1000;
const DATA = 0x8000_0000;

/** ATS and PRI as sva advertises them, and IDR1.ATTR_PERMS_OVR (STE.PRIVCFG/INSTCFG honoured: IHI 0070 6.3.2). */
function withPermsOverride(): Partial<SmmuOptions> {
  const ids = idRegistersFor({ ats: true, pri: true });
  const w = Uint32Array.of(ids.IDR1);
  IDR1.ATTR_PERMS_OVR.set(w, 1);
  return { features: undefined, idRegisters: { IDR0: ids.IDR0, IDR1: w[0], IDR3: ids.IDR3, IDR5: ids.IDR5 } };
}

interface Case {
  what: string;
  leaf: Record<string, number>;
  request: Omit<AtsRequest, "sid" | "address" | "ssid">;
  ste?: Record<string, number>;
  grants: { read: boolean; write: boolean; exec: boolean };
}

// IHI 0070 13.7.1: "TC.W = final_combined_translation.writable_by_privlevel(effectivePriv); if (INSTCFG ==
// Use_Incoming) { TC.R = ttd_R; TC.Exe = TR.Exe && ttd_RX; // Note: An execute-only (XO) translation grants no access
// to ATS. } else if (INSTCFG == INST) { TC.R = ttd_X; TC.Exe = TR.Exe && ttd_X; } else { TC.R = ttd_R; TC.Exe =
// TR.Exe && ttd_R; }", with "effectivePriv = (PRIVCFG == Use_Incoming) ? TR.Priv : (PRIVCFG == PRIVILEGED)".
const XO_EL0 = { AP: TT_AP.RW_EL1, UXN: 0, PXN: 1 }; // EL0 may only execute it; EL1 may read and write
const NONE = { read: false, write: false, exec: false };
const CASES: Case[] = [
  { what: "Exe asked of an execute-only page", leaf: XO_EL0, request: { exec: true, write: true }, grants: NONE },
  {
    what: "Exe asked of an execute-only page, INSTCFG instruction",
    leaf: XO_EL0,
    request: { exec: true },
    ste: { INSTCFG: STE_INSTCFG.INSTR },
    grants: { read: true, write: false, exec: true },
  },
  {
    what: "a privileged request overridden to unprivileged (PRIVCFG) on a privileged-only page",
    leaf: { AP: TT_AP.RW_EL1, UXN: 1, PXN: 1 },
    request: { priv: true, write: true },
    ste: { PRIVCFG: STE_PRIVCFG.UNPRIV },
    grants: NONE,
  },
  {
    what: "an unprivileged request overridden to privileged (PRIVCFG) on a privileged-only page",
    leaf: { AP: TT_AP.RW_EL1, UXN: 1, PXN: 1 },
    request: { write: true },
    ste: { PRIVCFG: STE_PRIVCFG.PRIV },
    grants: { read: true, write: true, exec: false },
  },
  { what: "a read of a readable page", leaf: { AP: TT_AP.RO_ANY }, request: {}, grants: { ...NONE, read: true } },
];

for (const c of CASES) {
  Deno.test(`audit item 4: AF is set only where the completion grants something: ${c.what} (IHI 0070 13.7)`, () => {
    // IHI 0070 13.7: "When HTTU is in use, an ATS TR that generates a response with R == 1 || W == 1 || Exe == 1 also
    // sets the AF flag in the descriptor to 1."
    const b = sva(withPermsOverride());
    const s = b.stage1(1, { ste: { EATS: STE_EATS.FULL, ...c.ste }, cd: { HA: 1 }, cdMax: 1 });
    s.tables.map(0x7000, DATA, 3, { AF: 0, ...c.leaf });
    const r = b.smmu.ats.translate({ sid: 1, ssid: 1, address: 0x7000, ...c.request });
    assert.ok(r.status === "success");
    const granted = { read: r.read, write: r.write, exec: r.exec };
    assert.deepEqual(granted, c.grants, "the permissions 13.7.1 grants");
    const any = c.grants.read || c.grants.write || c.grants.exec;
    assert.equal(TT_PAGE_S1.AF.get(s.tables.leaf(0x7000)), any ? 1 : 0, any ? "AF set" : "AF left 0");
    assert.equal(r.address, any ? DATA : 0);
    assert.equal(r.size, PAGE);
  });
}

const NOWHERE = 2 ** 40; // no memory answers here

Deno.test("audit item 4: Translation Request responses by configuration, no event recorded (IHI 0070 3.9.1.2)", () => {
  // IHI 0070 3.9.1.2: "F_STE_FETCH ... C_BAD_SUBSTREAMID, F_STREAM_DISABLED, F_WALK_EABT, F_CD_FETCH, C_BAD_CD |
  // Terminate with CA status. If SMMU_CR2.REC_CFG_ATS == 1, the event is recorded. Otherwise, no event is recorded."
  // "F_ADDR_SIZE, F_ACCESS, F_TRANSLATION | Success: R == W == 0". "STE.Config == 0b000 | Terminated with UR status"
  // (5.2 Config: 0b0xx reserved, behaves as 0b000). 5.2 S1DSS: "For ATS Translation Requests, if the cases described
  // in 0b00 and 0b10 lead to termination, the Translation Request is terminated with a CA and no event is recorded."
  // 7.3.22: "The only Event queue record that can be generated is F_BAD_ATS_TREQ" (none of these). A Translation
  // Request never stalls (3.9.1: translation errors are reported to the device in the completion).
  const cases: [string, (b: ReturnType<typeof sva>) => void, AtsRequest, string][] = [
    ["S1DSS terminate, no PASID", (b) => void b.stage1(1, { ste: { EATS: 1, S1DSS: 0 }, cdMax: 1 }), {
      sid: 1,
      address: 0x1000,
    }, "CA"],
    ["S1DSS substream 0, PASID 0", (b) => void b.stage1(1, { ste: { EATS: 1 }, cdMax: 1 }), {
      sid: 1,
      ssid: 0,
      address: 0x1000,
    }, "CA"],
    ["a walk abort", (b) => void b.stage1(1, { ste: { EATS: 1 }, cd: { TTB0: NOWHERE } }), {
      sid: 1,
      address: 0x1000,
    }, "CA"],
    ["a translation fault in a stalling stream", (b) => void b.stage1(1, { ste: { EATS: 1 }, cd: { S: 1, R: 0 } }), {
      sid: 1,
      address: 0x1000,
    }, "success"],
    ["reserved STE.Config 0b011", (b) => b.driver.writeSte(1, 3, () => {}), { sid: 1, address: 0x1000 }, "UR"],
  ];
  for (const [what, setup, request, status] of cases) {
    const b = sva();
    setup(b);
    b.driver.invalidateAll();
    const r = b.smmu.ats.translate(request);
    assert.equal(r.status, status, what);
    if (r.status === "success") assert.deepEqual([r.read, r.write, r.exec], [false, false, false], what);
    assert.equal(b.driver.events().length, 0, `${what}: no event`);
    assert.deepEqual(b.smmu.stalls(), [], `${what}: nothing stalls`);
  }
});
