// What registers.yaml says values mean, checked against the architecture's text: every generated meaning table, size
// and shared fieldset equals what the quoted section of Arm IHI 0070 (or DDI 0487 for descriptors) states.
import assert from "node:assert/strict";
import * as gen from "../gen/mod.ts";
import type { Layout } from "../gen/mod.ts";

interface Row {
  /** The generated name. */
  name: string;
  actual: unknown;
  expected: unknown;
  /** The section and the words of the spec the expectation is read from. */
  spec: string;
}

const table = (t: Readonly<Record<number, unknown>>) => ({ ...t });
const K = 1024;

const ROWS: Row[] = [
  // ---- address sizes
  {
    name: "IDR5_OAS_BITS",
    actual: table(gen.IDR5_OAS_BITS),
    expected: { 0: 32, 1: 36, 2: 40, 3: 42, 4: 44, 5: 48, 6: 52 },
    spec: 'IHI 0070 6.3.6 OAS: "0b000 32 bits. 0b001 36 bits. 0b010 40 bits. 0b011 42 bits. 0b100 44 bits. ' +
      "0b101 48 bits. 0b110 52 bits. In SMMUv3.0, this value is Reserved. 0b111 56 bits. In SMMUv3.3, this value " +
      'is Reserved." (this model is SMMUv3.2: 0b111 has no meaning)',
  },
  {
    name: "IDR5_OAS_BY_BITS",
    actual: table(gen.IDR5_OAS_BY_BITS),
    expected: { 32: 0, 36: 1, 40: 2, 42: 3, 44: 4, 48: 5, 52: 6 },
    spec: "IHI 0070 6.3.6 OAS (the same table, read backwards)",
  },
  {
    name: "CD_IPS_BITS",
    actual: table(gen.CD_IPS_BITS),
    expected: { 0: 32, 1: 36, 2: 40, 3: 42, 4: 44, 5: 48, 6: 52, 7: 52 },
    spec: 'IHI 0070 5.4 IPS: "0b110 ... In implementations of SMMUv3.1 and later, this value selects 52 bits of IPA. ' +
      '0b111 ... In implementations of SMMUv3.1 to SMMUv3.3, this value is Reserved and behaves as 0b110."',
  },
  {
    name: "STE_S2PS_BITS",
    actual: table(gen.STE_S2PS_BITS),
    expected: { 0: 32, 1: 36, 2: 40, 3: 42, 4: 44, 5: 48, 6: 52, 7: 52 },
    spec: 'IHI 0070 5.2 S2PS: "0b110 52 bits ... 0b111 56 bits. ... In implementations of SMMUv3.1 to SMMUv3.3, ' +
      'this value is Reserved and behaves as 0b110."',
  },
  {
    name: "IDR5_VAX_BITS",
    actual: table(gen.IDR5_VAX_BITS),
    expected: { 0: 48, 1: 52 },
    spec: 'IHI 0070 6.3.6 VAX: "0b00 Virtual addresses of up to 48 bits can be translated per CD.TTBx. 0b01 Virtual ' +
      'addresses of up to 52 bits ... 0b10 ... up to 56 bits" (VMSAv9-128 only, not at this level)',
  },
  // ---- granules
  {
    name: "CD_TG0_GRANULE",
    actual: table(gen.CD_TG0_GRANULE),
    expected: { 0: 12, 1: 16, 2: 14 },
    spec: 'IHI 0070 5.4 TG0: "0b00 4KB, 0b01 64KB, 0b10 16KB, 0b11 Reserved"',
  },
  {
    name: "CD_TG1_GRANULE",
    actual: table(gen.CD_TG1_GRANULE),
    expected: { 1: 14, 2: 12, 3: 16 },
    spec: 'IHI 0070 5.4 TG1: "0b00 Reserved, 0b01 16KB, 0b10 4KB, 0b11 64KB" ("The different encoding of CD.TG1")',
  },
  {
    name: "STE_S2TG_GRANULE",
    actual: table(gen.STE_S2TG_GRANULE),
    expected: { 0: 12, 1: 16, 2: 14 },
    spec: 'IHI 0070 5.2 S2TG: "0b00 4KB, 0b01 64KB, 0b10 16KB, 0b11 Reserved"',
  },
  {
    name: "CMD_TLBI_TG_GRANULE",
    actual: table(gen.CMD_TLBI_TG_GRANULE),
    expected: { 1: 12, 2: 14, 3: 16 },
    spec: 'IHI 0070 4.4.1.1 TG: "0b00: ... any Translation Granule size ... 0b01: ... 4KB ... 0b10: ... 16KB ... ' +
      '0b11: ... 64KB Translation Granule."',
  },
  {
    name: "GRANULE_KIB (2^value bytes)",
    actual: Object.entries(gen.GRANULE_KIB).map(([shift, kib]) => 2 ** Number(shift) === kib! * K),
    expected: [true, true, true],
    spec: "DDI 0487 D8.2: the 4KB, 16KB and 64KB translation granules",
  },
  {
    name: "GRANULE_FIRST_LEVEL",
    actual: table(gen.GRANULE_FIRST_LEVEL),
    expected: { 12: 0, 14: 0, 16: 1 },
    spec: "DDI 0487 D8.2: without FEAT_LPA2 a 4KB or 16KB walk can start at level 0, a 64KB walk at level 1",
  },
  {
    name: "GRANULE_FIRST_BLOCK_LEVEL, GRANULE_FIRST_BLOCK_LEVEL_52",
    actual: [table(gen.GRANULE_FIRST_BLOCK_LEVEL), table(gen.GRANULE_FIRST_BLOCK_LEVEL_52)],
    expected: [{ 12: 1, 14: 2, 16: 2 }, { 12: 1, 14: 2, 16: 1 }],
    spec: "DDI 0487 D8.3: block descriptors at levels 1 and 2 (4KB), level 2 (16KB), level 2 (64KB) and level 1 " +
      "with the 64KB granule when the output address size is 52 bits (FEAT_LPA)",
  },
  {
    name: "GRANULE_MAX_OA_BITS",
    actual: table(gen.GRANULE_MAX_OA_BITS),
    expected: { 12: 48, 14: 48, 16: 52 },
    spec: 'IHI 0070 5.4 IPS: "an address of 52 bits in size can only be represented in a descriptor when: A 64KB ' +
      'granule is in use for that translation table. CD.DS == 1." (DS is not modelled)',
  },
  {
    name: "GRANULE_MAX_INPUT_BITS, GRANULE_MIN_INPUT_BITS",
    actual: [table(gen.GRANULE_MAX_INPUT_BITS), table(gen.GRANULE_MIN_INPUT_BITS)],
    expected: [{ 12: 48, 14: 48, 16: 52 }, { 12: 16, 14: 16, 16: 17 }],
    spec: 'IHI 0070 5.4 T0SZ: "If SMMU_IDR3.STT == 1, the maximum valid value is: 48, if the corresponding CD.TGx ' +
      "selects a 4KB or 16KB granule. 47, if the corresponding CD.TGx selects a 64KB granule. If SMMU_IDR5.VAX " +
      "indicates support for 52-bit VAs and ... The corresponding CD.TGx selects a 64KB granule size ... the minimum " +
      'permitted value is 12. ... Otherwise, the minimum valid value is 16."',
  },
  {
    name: "GRANULE_CONTIGUOUS_PAGES, GRANULE_CONTIGUOUS_BLOCKS",
    actual: [table(gen.GRANULE_CONTIGUOUS_PAGES), table(gen.GRANULE_CONTIGUOUS_BLOCKS)],
    expected: [{ 12: 16, 14: 128, 16: 32 }, { 12: 16, 14: 32, 16: 32 }],
    spec: "DDI 0487 D8.6.1 (the Contiguous bit): 16 entries with the 4KB granule; 128 level 3 and 32 level 2 " +
      "entries with the 16KB granule; 32 entries with the 64KB granule",
  },
  // ---- stream and CD tables
  {
    name: "STE_S1FMT_SPLIT",
    actual: table(gen.STE_S1FMT_SPLIT),
    expected: { 1: 6, 2: 10 },
    spec: 'IHI 0070 5.2 S1Fmt: "0b01 ... The L2 table is indexed by SubstreamID[5:0]. ... 0b10 ... The L2 table is ' +
      'indexed by SubstreamID[9:0]."',
  },
  {
    name: "STE_S1FMT_EFFECTIVE",
    actual: table(gen.STE_S1FMT_EFFECTIVE),
    expected: { 0: 0, 1: 1, 2: 2, 3: 0 },
    spec: 'IHI 0070 5.2 S1Fmt: "0b11 Reserved (behaves as 0b00)"',
  },
  {
    name: "STE_S1DSS_EFFECTIVE",
    actual: table(gen.STE_S1DSS_EFFECTIVE),
    expected: { 0: 0, 1: 1, 2: 2, 3: 0 },
    spec: 'IHI 0070 5.2 S1DSS: "0b11 Reserved (behaves as 0b00)"',
  },
  {
    name: "STE_CONFIG_EFFECTIVE, STE_CONFIG_STAGE1, STE_CONFIG_STAGE2",
    actual: [table(gen.STE_CONFIG_EFFECTIVE), table(gen.STE_CONFIG_STAGE1), table(gen.STE_CONFIG_STAGE2)],
    expected: [
      { 0: 0, 1: 0, 2: 0, 3: 0, 4: 4, 5: 5, 6: 6, 7: 7 },
      { 0: false, 1: false, 2: false, 3: false, 4: false, 5: true, 6: false, 7: true },
      { 0: false, 1: false, 2: false, 3: false, 4: false, 5: false, 6: true, 7: true },
    ],
    spec: 'IHI 0070 5.2 Config: "0b000 No ... 0b0xx No ... Reserved (behaves as 0b000) ... 0b100 Bypass Bypass ... ' +
      '0b101 Translate Bypass ... 0b110 Bypass Translate ... 0b111 Translate Translate"',
  },
  {
    name: "STE_SH_EFFECTIVE, CD_SH_EFFECTIVE",
    actual: [table(gen.STE_SH_EFFECTIVE), table(gen.CD_SH_EFFECTIVE)],
    expected: [{ 0: 0, 1: 0, 2: 2, 3: 3 }, { 0: 0, 1: 0, 2: 2, 3: 3 }],
    spec: 'IHI 0070 5.2 S1CSH and 5.4 SH0: "0b01 Reserved (behaves as 0b00)"',
  },
  {
    name: "STRTAB_BASE_CFG_FMT_EFFECTIVE",
    actual: table(gen.STRTAB_BASE_CFG_FMT_EFFECTIVE),
    expected: { 0: 0, 1: 1, 2: 0, 3: 0 },
    spec: 'IHI 0070 6.3.25 FMT: "0b00 Linear ... 0b01 2-level ... Other values are reserved, behave as 0b00."',
  },
  {
    name: "STRTAB_BASE_CFG_SPLIT_EFFECTIVE",
    actual: table(gen.STRTAB_BASE_CFG_SPLIT_EFFECTIVE),
    expected: Object.fromEntries([...Array(32).keys()].map((n) => [n, n === 8 || n === 10 ? n : 6])),
    spec: 'IHI 0070 6.3.25 SPLIT: "0b00110 6 bits ... 0b01000 8 bits ... 0b01010 10 bits ... Other values are ' +
      'reserved, behave as 6 (0b0110)."',
  },
  {
    name: "IDR1 field maxima (SIDSIZE, SSIDSIZE, CMDQS, EVENTQS, PRIQS)",
    actual: [gen.IDR1.SIDSIZE.max, gen.IDR1.SSIDSIZE.max, gen.IDR1.CMDQS.max, gen.IDR1.EVENTQS.max, gen.IDR1.PRIQS.max],
    expected: [32, 20, 19, 19, 19],
    spec: "IHI 0070 6.3.2: StreamID size up to 32 bits, SubstreamID size up to 20 bits, queue sizes up to 2^19 entries",
  },
  // ---- commands
  {
    name: "IDR0_ASID16_BITS, IDR0_VMID16_BITS",
    actual: [table(gen.IDR0_ASID16_BITS), table(gen.IDR0_VMID16_BITS)],
    expected: [{ 0: 8, 1: 16 }, { 0: 8, 1: 16 }],
    spec: 'IHI 0070 4.4: "ASID and VMID parameters to TLB invalidation commands are either 8-bit or 16-bit values ' +
      'depending on whether the SMMU implementation supports 8-bit or 16-bit ASIDs and VMIDs (SMMU_IDR0.{ASID16,VMID16})"',
  },
  {
    name: "CFGI_RANGE.ALL",
    actual: gen.CFGI_RANGE.ALL,
    expected: 31,
    spec: 'IHI 0070 4.3.6: "This command is encoded as CMD_CFGI_STE_RANGE with Range == 31."',
  },
  // ---- descriptor permissions
  {
    name: "TT_AP_WRITE, TT_AP_EL0, TT_AP_DIRTY",
    actual: [table(gen.TT_AP_WRITE), table(gen.TT_AP_EL0), table(gen.TT_AP_DIRTY)],
    expected: [{ 0: true, 1: true, 2: false, 3: false }, { 0: false, 1: true, 2: false, 3: true }, {
      0: 0,
      1: 1,
      2: 0,
      3: 1,
    }],
    spec: "DDI 0487 D8.4: AP[2] selects read-only, AP[1] grants EL0 access; a write through DBM clears AP[2]",
  },
  {
    name: "TT_APTABLE_WRITE, TT_APTABLE_EL0",
    actual: [table(gen.TT_APTABLE_WRITE), table(gen.TT_APTABLE_EL0)],
    expected: [{ 0: true, 1: true, 2: false, 3: false }, { 0: true, 1: false, 2: true, 3: false }],
    spec: "DDI 0487 D8.4: APTable[1] removes write access, APTable[0] removes EL0 access, at subsequent levels",
  },
  {
    name: "TT_S2AP_READ, TT_S2AP_WRITE, TT_S2AP_DIRTY",
    actual: [table(gen.TT_S2AP_READ), table(gen.TT_S2AP_WRITE), table(gen.TT_S2AP_DIRTY)],
    expected: [
      { 0: false, 1: true, 2: false, 3: true },
      { 0: false, 1: false, 2: true, 3: true },
      { 0: 2, 1: 3, 2: 2, 3: 3 },
    ],
    spec: "DDI 0487 D8.4: S2AP[0] grants read, S2AP[1] grants write; a write through DBM sets S2AP[1]",
  },
  {
    name: "TT_S2XN_EL0_EXEC, TT_S2XN_EL1_EXEC, TT_S2XN_WITHOUT_XNX",
    actual: [table(gen.TT_S2XN_EL0_EXEC), table(gen.TT_S2XN_EL1_EXEC), table(gen.TT_S2XN_WITHOUT_XNX)],
    expected: [
      { 0: true, 1: true, 2: false, 3: false },
      { 0: true, 1: false, 2: false, 3: true },
      { 0: 0, 1: 0, 2: 2, 3: 2 },
    ],
    spec: "DDI 0487 D8.4 (FEAT_XNX): XN 0b00 executable at EL0 and EL1, 0b01 not at EL1, 0b10 at neither, 0b11 " +
      "not at EL0; without FEAT_XNX only XN[1] is used",
  },
  // ---- structure sizes
  {
    name: "STE_BYTES, CD_BYTES, L1STD_BYTES, L1CD_BYTES",
    actual: [gen.STE_BYTES, gen.CD_BYTES, gen.L1STD_BYTES, gen.L1CD_BYTES],
    expected: [64, 64, 8, 8],
    spec: 'IHI 0070 5.2 "STE is a 64-byte structure", 5.4 "CD is a 64-byte structure", 5.1 and 5.3 (L1STD and ' +
      "L1CD are 64-bit descriptors)",
  },
  {
    name: "COMMAND_BYTES, EVENT_BYTES, PRI_RECORD_BYTES, TT_DESC_BYTES",
    actual: [gen.COMMAND_BYTES, gen.EVENT_BYTES, gen.PRI_RECORD_BYTES, gen.TT_DESC_BYTES],
    expected: [16, 32, 16, 8],
    spec: "IHI 0070 4.1.1 (commands are 16 bytes), 7.3 (event records are 32 bytes), 8 (PRI queue entries are 16 " +
      "bytes); DDI 0487 D8.3 (VMSAv8-64 descriptors are 64 bits)",
  },
];

for (const row of ROWS) {
  Deno.test(`registers.yaml meaning ${row.name} is what the spec says`, () => {
    assert.deepEqual(row.actual, row.expected, row.spec);
  });
}

Deno.test("every command extends COMMAND: one Opcode, in bits [7:0] (IHI 0070 4.1.1), and COMMAND_CODES is every opcode", () => {
  assert.deepEqual([...gen.COMMAND_CODES].sort(), [...gen.COMMANDS.keys()].sort());
  for (const layout of gen.COMMANDS.values()) {
    assert.equal(layout.fields.find((f) => f.name === "Opcode"), gen.COMMAND.Opcode, layout.name);
    assert.equal(layout.bytes, gen.COMMAND_BYTES, layout.name);
  }
});

Deno.test("every event extends EVENT: one Type in bits [7:0] and StreamID in [63:32] (IHI 0070 7.3)", () => {
  assert.deepEqual([...gen.EVENT_CODES].sort(), [...gen.EVENTS.keys()].sort());
  assert.deepEqual([gen.EVENT.Type.lsb, gen.EVENT.Type.width, gen.EVENT.StreamID.lsb, gen.EVENT.StreamID.width], [
    0,
    8,
    32,
    32,
  ]);
  for (const layout of gen.EVENTS.values()) {
    assert.equal(layout.fields.find((f) => f.name === "Type"), gen.EVENT.Type, layout.name);
    assert.equal(layout.fields.find((f) => f.name === "StreamID"), gen.EVENT.StreamID, layout.name);
  }
  // IHI 0070 7.3.13-7.3.16: F_TRANSLATION, F_ADDR_SIZE, F_ACCESS and F_PERMISSION share one layout.
  assert.deepEqual([...gen.EVT_TRANSLATION_CODES], [
    gen.EVENT_TYPE.F_TRANSLATION,
    gen.EVENT_TYPE.F_ADDR_SIZE,
    gen.EVENT_TYPE.F_ACCESS,
    gen.EVENT_TYPE.F_PERMISSION,
  ]);
});

Deno.test("the range TLBIs share CMD_TLBI_RANGE (IHI 0070 4.4.1.1: NUM, SCALE, TTL, TG); the VA ones a signed VA", () => {
  const byOpcode = (op: number): Layout => gen.COMMANDS.get(op)!;
  const ranged = [...gen.COMMANDS.keys()].filter((op) => byOpcode(op).fields.some((f) => f.name === "TG"));
  assert.deepEqual([...gen.CMD_TLBI_RANGE_CODES].sort(), ranged.sort());
  assert.ok(!gen.CMD_TLBI_VA_CODES.has(gen.OPCODE.TLBI_S2_IPA), "the IPA of CMD_TLBI_S2_IPA is not a VA");
  // IHI 0070 4.4.2: "The Address parameters of these commands are VAs"; Address[63:12] with bit 63 set is a TTB1
  // (upper range) address, read here as a negative number.
  const w = new Uint32Array(4);
  gen.CMD_TLBI_NH_VA.Address.set(w, 2 ** 52 - 1); // VA 0xffff_ffff_ffff_f000
  assert.equal(gen.CMD_TLBI_NH_VA.Address.getAddress(w), -0x1000);
  gen.CMD_TLBI_NH_VA.Address.setAddress(w, -0x20_0000); // VA 0xffff_ffff_ffe0_0000
  assert.equal(gen.CMD_TLBI_NH_VA.Address.get(w), 2 ** 52 - 0x200);
  gen.CMD_TLBI_NH_VA.Address.setAddress(w, 0x7fff_ffff_f000);
  assert.equal(gen.CMD_TLBI_NH_VA.Address.getAddress(w), 0x7fff_ffff_f000);
});
