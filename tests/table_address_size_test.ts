/**
 * Address Size faults on a table descriptor: a next-level table address beyond the stage's output size (CD.IPS for
 * stage 1, STE.S2PS for stage 2) ends the walk at that level with F_ADDR_SIZE (IHI 0070 3.4, 7.3.14), as an output
 * address beyond it does at the leaf (tests/arch_corrections_test.ts, issue 12 item 3).
 */
import assert from "node:assert/strict";
import { CD_IPS, EVENT_TYPE, EVT_CLASS, EVT_F_ADDR_SIZE, STE, STE_CONFIG, STE_S2PS } from "../gen/mod.ts";
import { guest } from "../mod.ts";
import { bench, cd, inputOf, onlyEvent, stage2, typeOf } from "./helpers/guest_bench.ts";

const IOVA = 0x4000_1000, DATA = 0x6000_0000;
/** A table descriptor (Valid, Type 1) whose next-level table address is 2^33: beyond a 32-bit output size. */
const TABLE_LO = 0b11, TABLE_HI = 2 ** 33 / 2 ** 32;

// [what, the stage whose table descriptor points too high, the level of that descriptor]
const CASES: [string, 1 | 2, number][] = [
  ["stage 1, level 0", 1, 0],
  ["stage 1, level 2", 1, 2],
  ["stage 2, level 1 (its start level)", 2, 1],
  ["stage 2, level 2", 2, 2],
];

for (const [what, stage, level] of CASES) {
  Deno.test(`3.4: a table descriptor beyond the output size is F_ADDR_SIZE: ${what}`, () => {
    // The stream's tables with the descriptor at `level` pointing to 2^33 (or left as mapped), `bits` of output.
    const stream = (bits: 32 | 48, bad = true) => {
      const b = bench();
      const sid = stage === 1 ? 1 : 2;
      if (stage === 1) {
        const s1 = new guest.PageTable(b.memory, b.alloc, 12, 48, 0);
        s1.map(IOVA, DATA);
        if (bad) s1.raw(IOVA, level, TABLE_LO, TABLE_HI);
        const at = cd(b, s1.root, { IPS: bits === 32 ? CD_IPS.BITS_32 : CD_IPS.BITS_48 });
        b.driver.writeSte(sid, STE_CONFIG.S1_TRANS, (ste) => STE.S1ContextPtr.setAddress(ste, at));
      } else {
        const s2 = new guest.PageTable(b.memory, b.alloc, 12, 40, 1);
        s2.map(IOVA, DATA, 3, {}, 2);
        if (bad) s2.raw(IOVA, level, TABLE_LO, TABLE_HI);
        const s2ps = bits === 32 ? STE_S2PS.BITS_32 : STE_S2PS.BITS_48;
        b.driver.writeSte(sid, STE_CONFIG.S2_TRANS, (ste) => stage2(ste, s2.root, { S2PS: s2ps }));
      }
      b.driver.invalidateSte(sid);
      return { b, sid };
    };
    // The controls: the tables as mapped translate with a 32-bit output; with 48 bits the same descriptor is in range
    // and the walk goes on into the (zeroed) table at 2^33, which has no valid descriptor: F_TRANSLATION.
    const fine = stream(32, false);
    assert.deepEqual(fine.b.smmu.translate(fine.sid, IOVA + 8, {}), { ok: true, pa: DATA + 8 });
    const wide = stream(48);
    assert.deepEqual(wide.b.smmu.translate(wide.sid, IOVA + 8, {}), { ok: false, fault: "F_TRANSLATION", event: true });
    const { b, sid } = stream(32);
    assert.deepEqual(b.smmu.translate(sid, IOVA + 8, {}), { ok: false, fault: "F_ADDR_SIZE", event: true });
    const e = onlyEvent(b);
    assert.equal(typeOf(e), EVENT_TYPE.F_ADDR_SIZE);
    assert.equal(inputOf(e), IOVA + 8);
    // 7.3.13 (which F_ADDR_SIZE refers to): a stage-1 fault has S2 0 and CLASS IN; a stage-2 fault of the input
    // address's own translation S2 1, CLASS IN and the IPA.
    assert.deepEqual([EVT_F_ADDR_SIZE.S2.get(e), EVT_F_ADDR_SIZE.CLASS.get(e)], [stage - 1, EVT_CLASS.IN]);
    if (stage === 2) assert.equal(EVT_F_ADDR_SIZE.IPA.getAddress(e), IOVA);
  });
}
