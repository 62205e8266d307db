import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import { IDR0, IDR0_HTTU, IDR0_STALL_MODEL, IDR0_TTF, IDR1, IDR3, IDR5, IDR5_OAS } from "../gen/mod.ts";
import { idRegistersFor, idRegistersFrom, validateIdRegisters } from "../src/registers/features.ts";
import { OptionsError, Smmu, SparseMemory } from "../mod.ts";

const QEMU = { IDR0: 0x0d40101a, IDR1: 0x02730010, IDR3: 0x1404, IDR5: 0x74 };
const field = (f: { get(w: Uint32Array): number }, v: number) => f.get(new Uint32Array([v]));

Deno.test("default features: both stages, AArch64 tables, 4K/16K/64K, 48-bit OAS, MSI, RIL, 16-bit SIDs", () => {
  const id = idRegistersFor();
  assert.equal(field(IDR0.S1P, id.IDR0), 1);
  assert.equal(field(IDR0.S2P, id.IDR0), 1);
  assert.equal(field(IDR0.TTF, id.IDR0), IDR0_TTF.AARCH64);
  assert.equal(field(IDR0.MSI, id.IDR0), 1);
  assert.equal(field(IDR0.HTTU, id.IDR0), IDR0_HTTU.ACCESS_DIRTY, "the walker does hardware AF and DBM updates");
  assert.equal(field(IDR0.HTTU, idRegistersFor({ httu: "access" }).IDR0), IDR0_HTTU.ACCESS);
  assert.equal(field(IDR0.HTTU, idRegistersFor({ httu: "none" }).IDR0), IDR0_HTTU.NONE);
  assert.equal(field(IDR1.SIDSIZE, id.IDR1), 16);
  assert.equal(field(IDR1.CMDQS, id.IDR1), 19);
  assert.equal(field(IDR3.RIL, id.IDR3), 1);
  assert.equal(field(IDR5.OAS, id.IDR5), IDR5_OAS.BITS_48);
  assert.deepEqual([IDR5.GRAN4K, IDR5.GRAN16K, IDR5.GRAN64K].map((f) => field(f, id.IDR5)), [1, 1, 1]);
});

Deno.test("stall model features: STALL_MODEL and STALL_MAX (IHI 0070 3.12, 6.3.1, 6.3.6)", () => {
  const id = idRegistersFor();
  assert.equal(field(IDR0.STALL_MODEL, id.IDR0), IDR0_STALL_MODEL.STALL_AND_TERMINATE, "both models by default");
  assert.equal(field(IDR5.STALL_MAX, id.IDR5), 256);
  const forced = idRegistersFor({ stalls: "stall-forced", stallMax: 3 });
  assert.equal(field(IDR0.STALL_MODEL, forced.IDR0), IDR0_STALL_MODEL.STALL_FORCED);
  assert.equal(field(IDR5.STALL_MAX, forced.IDR5), 3);
  const none = idRegistersFor({ stalls: "terminate-only" });
  assert.equal(field(IDR0.STALL_MODEL, none.IDR0), IDR0_STALL_MODEL.TERMINATE_ONLY);
  assert.equal(field(IDR5.STALL_MAX, none.IDR5), 0, "RES0 without the stall model");
  for (const stallMax of [0, 65536, 1.5]) assert.throws(() => idRegistersFor({ stallMax }), OptionsError);
  assert.throws(() => idRegistersFor({ stalls: "sometimes" as never }), /features\.stalls/);
});

Deno.test("ATS and PRI are advertised by default; PRI follows ATS unless named (IHI 0070 3.9.1: PRI requires ATS)", () => {
  const on = idRegistersFor().IDR0;
  assert.deepEqual([field(IDR0.ATS, on), field(IDR0.PRI, on)], [1, 1]);
  const noAts = idRegistersFor({ ats: false }).IDR0;
  assert.deepEqual([field(IDR0.ATS, noAts), field(IDR0.PRI, noAts)], [0, 0]);
  assert.equal(field(IDR0.PRI, idRegistersFor({ pri: false }).IDR0), 0);
});

Deno.test("the recording's ID registers (QEMU 7.2) are accepted and read back exactly", () => {
  assert.deepEqual({ ...idRegistersFrom(QEMU), IIDR: 0, AIDR: 0 }, { ...QEMU, IIDR: 0, AIDR: 0 });
  const smmu = new Smmu({ memory: new SparseMemory(), idRegisters: QEMU });
  for (const [name, off] of [["IDR0", 0], ["IDR1", 4], ["IDR3", 0xc], ["IDR5", 0x14]] as const) {
    assert.equal(smmu.mmioRead(off, 4), BigInt(QEMU[name]), name);
  }
});

const refused: [string, Partial<typeof QEMU>, RegExp][] = [
  ["BTM (no broadcast TLB maintenance source)", { IDR0: QEMU.IDR0 | 1 << 5 }, /IDR0\.BTM/],
  ["HTTU reserved encoding 0b11", { IDR0: QEMU.IDR0 | 3 << 6 }, /IDR0\.HTTU/],
  ["TTF = AArch32 and AArch64", { IDR0: QEMU.IDR0 | 3 << 2 }, /IDR0\.TTF/],
  ["ATOS", { IDR0: QEMU.IDR0 | 1 << 15 }, /IDR0\.ATOS/],
  ["STALL_MODEL reserved 0b11", { IDR0: QEMU.IDR0 | 3 << 24 }, /IDR0\.STALL_MODEL/],
  // IHI 0070 6.3.6 STALL_MAX: "This field is RES0 if ... SMMU_IDR0.STALL_MODEL == 0b01".
  ["STALL_MAX with terminate-only", { IDR5: QEMU.IDR5 | 1 << 16 }, /IDR5\.STALL_MAX/],
  ["stalls and STALL_MAX 0", { IDR0: QEMU.IDR0 & ~(3 << 24) }, /IDR5\.STALL_MAX/],
  ["TERM_MODEL = 0", { IDR0: QEMU.IDR0 & ~(1 << 26) }, /IDR0\.TERM_MODEL/],
  ["ST_LEVEL reserved", { IDR0: (QEMU.IDR0 & ~(3 << 27)) | 2 << 27 }, /IDR0\.ST_LEVEL/],
  ["TTENDIAN mixed", { IDR0: QEMU.IDR0 & ~(3 << 21) }, /IDR0\.TTENDIAN/],
  ["an IDR0 reserved bit", { IDR0: QEMU.IDR0 | 1 << 29 }, /IDR0: reserved bits/],
  ["neither stage", { IDR0: QEMU.IDR0 & ~3 }, /neither S1P nor S2P/],
  ["CMDQS above 19", { IDR1: (QEMU.IDR1 & ~(0x1f << 21)) | 20 << 21 }, /IDR1\.CMDQS/],
  ["SSIDSIZE above 20", { IDR1: QEMU.IDR1 | 21 << 6 }, /IDR1\.SSIDSIZE/],
  ["QUEUES_PRESET", { IDR1: QEMU.IDR1 | 1 << 29 }, /IDR1\.QUEUES_PRESET/],
  ["PBHA (no hardware-use bits)", { IDR3: QEMU.IDR3 | 1 << 3 }, /IDR3\.PBHA/],
  ["FWB (no STE.S2FWB)", { IDR3: QEMU.IDR3 | 1 << 8 }, /IDR3\.FWB/],
  ["BBML = 3", { IDR3: QEMU.IDR3 | 3 << 11 }, /IDR3\.BBML/],
  ["OAS reserved encoding 7", { IDR5: QEMU.IDR5 | 7 }, /IDR5\.OAS/],
  ["no granule", { IDR5: QEMU.IDR5 & ~0x70 }, /no translation granule/],
  ["STALL_MAX without stalls", { IDR5: QEMU.IDR5 | 1 << 16 }, /IDR5\.STALL_MAX/],
  ["not a 32-bit value", { IDR5: 2 ** 32 }, /not a 32-bit value/],
];
for (const [what, change, message] of refused) {
  Deno.test(`idRegisters refused: ${what}`, () => {
    const v = { ...QEMU, ...change };
    assert.throws(() => validateIdRegisters(v), (e) => e instanceof OptionsError && message.test(e.message));
    assert.throws(() => new Smmu({ memory: new SparseMemory(), idRegisters: v }), OptionsError);
  });
}

Deno.test("feature options out of range are refused", () => {
  for (
    const f of [
      { sidBits: 33 },
      { ssidBits: 21 },
      { cmdqLog2: 20 },
      { oas: 50 },
      { granules: [] },
      {
        stage1: false,
        stage2: false,
      },
      { bbml: 3 },
      { httu: "dirty" },
    ]
  ) {
    assert.throws(() => idRegistersFor(f as never), OptionsError, JSON.stringify(f));
  }
  assert.throws(() => new Smmu({ memory: new SparseMemory(), features: {}, idRegisters: QEMU }), OptionsError);
  assert.throws(() => new Smmu({} as never), OptionsError);
});

Deno.test("any feature choice yields ID registers that validate and say what was asked", () => {
  fc.assert(fc.property(
    fc.record({
      stage1: fc.boolean(),
      stage2: fc.boolean(),
      sidBits: fc.integer({ min: 0, max: 32 }),
      ssidBits: fc.integer({ min: 0, max: 20 }),
      cmdqLog2: fc.integer({ min: 0, max: 19 }),
      eventqLog2: fc.integer({ min: 0, max: 19 }),
      oas: fc.constantFrom(32, 36, 40, 42, 44, 48, 52 as const),
      granules: fc.subarray([4, 16, 64] as const, { minLength: 1 }),
      msi: fc.boolean(),
      rangeInvalidation: fc.boolean(),
      twoLevelStreamTable: fc.boolean(),
    }).filter((f) => f.stage1 || f.stage2),
    (f) => {
      const id = idRegistersFor(f as never);
      validateIdRegisters(id);
      assert.equal(field(IDR0.S1P, id.IDR0), f.stage1 ? 1 : 0);
      assert.equal(field(IDR0.S2P, id.IDR0), f.stage2 ? 1 : 0);
      assert.equal(field(IDR1.SIDSIZE, id.IDR1), f.sidBits);
      assert.equal(field(IDR1.SSIDSIZE, id.IDR1), f.ssidBits);
      assert.equal(field(IDR1.CMDQS, id.IDR1), f.cmdqLog2);
      assert.equal(field(IDR1.EVENTQS, id.IDR1), f.eventqLog2);
      assert.equal(field(IDR0.MSI, id.IDR0), f.msi ? 1 : 0);
      assert.equal(field(IDR3.RIL, id.IDR3), f.rangeInvalidation ? 1 : 0);
      assert.equal(field(IDR5.GRAN64K, id.IDR5), f.granules.includes(64) ? 1 : 0);
    },
  ));
});
