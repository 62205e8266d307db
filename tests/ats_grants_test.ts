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
