import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import { decode as decodeAll, type DecodedRecord, type DecodeRequest, KINDS } from "../src/decode/records.ts";
import { formatJson, formatText } from "../src/cli/format.ts";
import { InputError } from "../src/core/errors.ts";
import { runMain } from "./helpers/cli.ts";

// Records below are built by hand from the bit positions in IHI 0070 (not with the generated setters), so a wrong
// position in registers.yaml shows up here.

const field = (r: DecodedRecord, name: string) => {
  const f = r.fields.find((f) => f.name === name);
  assert.ok(f, `no field ${name} in ${r.layout}`);
  return f;
};
const values = (r: DecodedRecord, names: string[]) =>
  Object.fromEntries(names.map((n) => [n, field(r, n).meaning || field(r, n).value]));
/** The records of a request that must decode whole (hex input, or a log with no block to skip). */
const decode = (req: DecodeRequest) => {
  const { records, skipped } = decodeAll(req);
  assert.deepEqual(skipped, []);
  return records;
};
const one = (req: DecodeRequest) => {
  const records = decode(req);
  assert.equal(records.length, 1);
  return records[0];
};
const dword = (v: bigint) => `0x${v.toString(16).padStart(16, "0")}`;
const prefix = (t: string) => `[   42.1234${t}] arm-smmu-v3 arm-smmu-v3.0.auto: `;

// F_TRANSLATION (IHI 0070 7.3.12): SID 0x8, no substream, an unprivileged data read of 0xffffa0001000, stage 1, IN.
const TRANSLATION = [
  0x10n | 0x8n << 32n, // Type [7:0], StreamID [63:32]
  1n << (99n - 64n) | 2n << (104n - 64n), // RnW [99], CLASS [105:104] = IN
  0xffffa0001000n, // InputAddr [191:128]
  0n, // IPA [243:204]
];
// F_PERMISSION (IHI 0070 7.3.15): SID 0x10, SSID 5, a privileged instruction write at stage 2, IPA 0x400000000.
const PERMISSION = [
  0x13n | 1n << 11n | 5n << 12n | 0x10n << 32n, // Type, SSV [11], SubstreamID [31:12], StreamID
  1n << (97n - 64n) | 1n << (98n - 64n) | 1n << (103n - 64n) | 2n << (104n - 64n), // PnU, InD, S2, CLASS = IN
  0x80000000n,
  0x400000000n, // IPA [51:12] sits at record bits [243:204], i.e. in place within dword 3
];
const linuxBlock = (id: string, dwords: bigint[]) =>
  [`${prefix("56")}event ${id} received:`, ...dwords.map((d) => `${prefix("60")}\t${dword(d)}`)].join("\n");
const LINUX_LOG = [
  linuxBlock("0x10", TRANSLATION),
  `${prefix("70")}event: F_TRANSLATION client: 0000:00:01.0 sid: 0x8 ssid: 0x0 iova: 0xffffa0001000 ipa: 0x0`,
  `${prefix("72")}unpriv data read s1 "IN" stag: 0x0`,
  "[   43.000000] some other driver: hello",
  linuxBlock("0x13", PERMISSION),
].join("\n");

Deno.test("a Linux event log decodes each event block and skips the summary lines", () => {
  const [t, p] = decode({ kind: "event", text: LINUX_LOG });
  assert.equal(t.layout, "EVT_F_TRANSLATION");
  assert.equal(t.source, "line 1");
  // Linux 6.15's summary line after the block names the client device.
  assert.deepEqual(t.log, {
    line: 1,
    time: "42.123456",
    driver: "arm-smmu-v3",
    device: "arm-smmu-v3.0.auto",
    client: "0000:00:01.0",
    context: undefined,
  });
  // IHI 0070 7.3: RnW 1 is a read, PnU 0 unprivileged, InD 0 data, S2 0 a stage 1 fault.
  assert.deepEqual(values(t, ["Type", "StreamID", "SSV", "RnW", "PnU", "InD", "S2", "CLASS"]), {
    Type: "F_TRANSLATION",
    StreamID: 0x8,
    SSV: 0,
    RnW: "READ",
    PnU: "UNPRIVILEGED",
    InD: "DATA",
    S2: "STAGE_1",
    CLASS: "IN",
  });
  assert.equal(field(t, "InputAddr").value, 0xffffa0001000n);
  assert.equal(field(t, "InputAddr").meaning, "address 0xffffa0001000");
  assert.deepEqual(t.reservedSet, []);

  assert.equal(p.layout, "EVT_F_PERMISSION");
  assert.equal(p.source, "line 9");
  assert.deepEqual(values(p, ["StreamID", "SSV", "SubstreamID", "RnW", "PnU", "InD", "S2", "CLASS"]), {
    StreamID: 0x10,
    SSV: 1,
    SubstreamID: 5,
    RnW: "WRITE",
    PnU: "PRIVILEGED",
    InD: "INSTRUCTION",
    S2: "STAGE_2",
    CLASS: "IN",
  });
  assert.equal(field(p, "IPA").meaning, "address 0x400000000");
  assert.equal(field(p, "InputAddr").value, 0x80000000n);
});

Deno.test("a Linux CMDQ error block decodes the command it skipped", () => {
  const text = [
    "arm-smmu-v3 arm-smmu-v3.0.auto: CMDQ error (cons 0x01000002): Illegal command",
    "arm-smmu-v3 arm-smmu-v3.0.auto: skipping command in error state:",
    `arm-smmu-v3 arm-smmu-v3.0.auto: \t${dword(0x3n | 0x42n << 32n)}`, // CFGI_STE, StreamID [63:32]
    `arm-smmu-v3 arm-smmu-v3.0.auto: \t${dword(1n)}`, // Leaf [64]
  ].join("\n");
  const r = one({ kind: "cmd", text });
  assert.equal(r.layout, "CMD_CFGI_STE");
  assert.deepEqual(values(r, ["StreamID", "Leaf"]), { StreamID: 0x42, Leaf: 1 });
});

Deno.test("a log block that disagrees with itself, is cut short or holds another kind is skipped with its line", () => {
  const cases: [string, RegExp][] = [
    [linuxBlock("0x11", TRANSLATION), /^header says event 0x11 but the first word holds type 0x10$/],
    [
      linuxBlock("0x10", TRANSLATION.slice(0, 3)),
      /^event block cut short after 3 of 4 64-bit words \(a new block starts at line 5\)$/,
    ],
  ];
  for (const [text, message] of cases) {
    const { records, skipped } = decodeAll({ kind: "event", text: `${text}\n${linuxBlock("0x13", PERMISSION)}` });
    assert.deepEqual(records.map((r) => r.layout), ["EVT_F_PERMISSION"], text);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0].what, message);
    assert.equal(skipped[0].where, "line 1");
  }
  const { records, skipped } = decodeAll({ kind: "ste", text: LINUX_LOG });
  assert.deepEqual(records, []);
  assert.deepEqual(skipped.map((s) => s.what), [
    "the block holds an event record (decode event), not ste",
    "the block holds an event record (decode event), not ste",
  ]);
});

// STE (IHI 0070 5.2): valid, Config S1_TRANS, linear CD table at 0x80001000 with 2^4 CDs, S1DSS SSID0,
// CD fetches WBRA/WBRA/ISH.
const STE_DWORDS = [
  1n | 0b101n << 1n | 0x80001000n | 4n << 59n, // V [0], Config [3:1], S1ContextPtr [51:6], S1CDMax [63:59]
  0b10n | 1n << 2n | 1n << 4n | 0b11n << 6n, // S1DSS [65:64], S1CIR [67:66], S1COR [69:68], S1CSH [71:70]
  0n,
  0n,
  0n,
  0n,
  0n,
  0n,
];

Deno.test("an STE built from the spec's bit positions decodes field by field", () => {
  const r = one({ kind: "ste", text: STE_DWORDS.map(dword).join(" ") });
  assert.equal(r.layout, "STE");
  assert.deepEqual(values(r, ["V", "Config", "S1Fmt", "S1CDMax", "S1DSS", "S1CIR", "S1COR", "S1CSH", "S2VMID"]), {
    V: 1,
    Config: "S1_TRANS",
    S1Fmt: "LINEAR",
    S1CDMax: 4,
    S1DSS: "SSID0",
    S1CIR: "WBRA",
    S1COR: "WBRA",
    S1CSH: "ISH",
    S2VMID: 0,
  });
  assert.equal(field(r, "S1ContextPtr").meaning, "address 0x80001000");
  assert.deepEqual(r.reservedSet, []);
  assert.deepEqual(r.notes, []);
});

Deno.test("reserved bits that are set are listed by absolute bit number", () => {
  const dwords = [...STE_DWORDS];
  dwords[1] |= 1n << (88n - 64n); // STE[88] is RES0 between SW_RESERVED [87:84] and S2FWB [89]
  const r = one({ kind: "ste", text: dwords.map(dword).join(" ") });
  assert.deepEqual(r.reservedSet, ["[88]"]);
  assert.match(formatText([r]), /reserved bits set: \[88\]/);
  assert.match(formatText([one({ kind: "ste", text: STE_DWORDS.map(dword).join(" ") })]), /reserved bits: clear/);
  assert.match(formatText([one({ kind: "ste", text: "0 ".repeat(16) })]), /note: V is 0/);
});

// CD (IHI 0070 5.4): 48-bit VA, 4K granule, TTB0 0x4012345000, walks WBRAWA/ISH, TTB1 walks disabled, AArch64,
// A and R set, ASID 0x42, IPS 48 bits.
const CD_DWORDS = [
  16n | 1n << 8n | 1n << 10n | 3n << 12n | 1n << 30n | 1n << 31n | // T0SZ, IR0, OR0, SH0, EPD1 [30], V [31]
  5n << 32n | 1n << 41n | 1n << 45n | 1n << 46n | 0x42n << 48n, // IPS [34:32], AA64 [41], R [45], A [46], ASID
  0x4012345000n, // TTB0 [115:68]: address bits [51:4] in place within dword 1
  0n,
  0x0000000000ff4400n, // MAIR0 [223:192]
  0n,
  0n,
  0n,
  0n,
];

Deno.test("a CD built from the spec's bit positions decodes field by field", () => {
  const r = one({ kind: "cd", text: CD_DWORDS.map(dword).join("\n") });
  assert.deepEqual(
    values(r, ["T0SZ", "TG0", "IR0", "OR0", "SH0", "EPD0", "EPD1", "V", "IPS", "AA64", "R", "A", "ASID", "MAIR0"]),
    {
      T0SZ: 16,
      TG0: "GRAN_4K",
      IR0: "WBRAWA",
      OR0: "WBRAWA",
      SH0: "ISH",
      EPD0: 0,
      EPD1: 1,
      V: 1,
      IPS: "BITS_48",
      AA64: "VMSAV8_64",
      R: 1,
      A: 1,
      ASID: 0x42,
      MAIR0: 0xff4400,
    },
  );
  assert.equal(field(r, "TTB0").value, 0x4012345000 / 16);
  assert.equal(field(r, "TTB0").meaning, "address 0x4012345000");
  assert.deepEqual(r.reservedSet, []);
});

const split32 = (dwords: bigint[]) => dwords.flatMap((d) => [d & 0xffffffffn, d >> 32n]);
const littleEndianBytes = (dwords: bigint[]) =>
  dwords.map((d) => Array.from({ length: 8 }, (_, i) => ((d >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, "0")))
    .flat().join("");

Deno.test("comma, space, blob, byte and forced-width inputs give the same record", () => {
  fc.assert(
    fc.property(fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 8, maxLength: 8 }), (dwords) => {
      const expected = decode({ kind: "cd", text: dwords.map(dword).join(" ") });
      const forms: DecodeRequest[] = [
        { kind: "cd", text: split32(dwords).map((w) => `0x${w.toString(16)}`).join(", ") },
        { kind: "cd", text: split32(dwords).map((w) => w.toString(16)).join(",") },
        { kind: "cd", text: "0x" + dwords.map((d) => dword(d).slice(2)).join("") }, // one blob
        { kind: "cd", text: littleEndianBytes(dwords), bytes: true },
        { kind: "cd", text: dwords.map((d) => d.toString(16)).join(" "), width: 64 },
      ];
      for (const form of forms) assert.deepEqual(decode(form), expected, form.text);
    }),
    { numRuns: 50 },
  );
});

Deno.test("commands are decoded by opcode; an unknown opcode is named", () => {
  // CMD_TLBI_NH_ASID (IHI 0070 4.4.2): opcode 0x11, VMID [47:32], ASID [63:48].
  const r = one({ kind: "cmd", text: `${dword(0x11n | 7n << 32n | 0x42n << 48n)} ${dword(0n)}` });
  assert.equal(r.layout, "CMD_TLBI_NH_ASID");
  assert.deepEqual(values(r, ["VMID", "ASID"]), { VMID: 7, ASID: 0x42 });
  assert.throws(
    () => decode({ kind: "cmd", text: "0x55 0 0 0" }),
    /unknown command opcode 0x55 in bits \[7:0\]; one of 0x01 PREFETCH_CONFIG, .*0x46 SYNC/,
  );
  // IHI 0070 7.3.21: event numbers other than the architected ones and 0xE0-0xEF are reserved.
  assert.throws(
    () => decode({ kind: "event", text: "0xff 0 0 0 0 0 0 0" }),
    /event type 0xff in bits \[7:0\] is reserved \(IHI 0070 7.3.21\); one of 0x01 F_UUT, .*0xe0-0xef IMPLEMENTATION DEFINED/,
  );
});

Deno.test("descriptors are read as table, block or page by Valid, Type and level", () => {
  // Stage 1 level 3 page (DDI 0487 D8.3): Valid, Type, AttrIndx 1, AP RW_ANY, SH ISH, AF, OA 0x40001000, UXN.
  const page = one({ kind: "pte", text: "0x0040000040001747" });
  assert.equal(page.layout, "TT_PAGE_S1");
  assert.deepEqual(values(page, ["AttrIndx", "AP", "SH", "AF", "UXN", "PXN"]), {
    AttrIndx: 1,
    AP: "RW_ANY",
    SH: "ISH",
    AF: 1,
    UXN: 1,
    PXN: 0,
  });
  assert.equal(field(page, "OA").meaning, "address 0x40001000");

  // A 2 MiB block at level 2 with address bit 12 set: bits below the block size are RES0.
  const block = one({ kind: "pte", text: "0x40201401", pte: { stage: 1, level: 2, granule: 4 } });
  assert.equal(block.layout, "TT_BLOCK_S1");
  assert.deepEqual(block.reservedSet, ["[12]"]);
  assert.deepEqual(block.notes, ["maps a 2 MiB block at 0x40200000"]);
  const gib = one({ kind: "pte", text: "0x40201401", pte: { stage: 2, level: 1, granule: 4 } }); // bits [29:12] RES0
  assert.equal(gib.layout, "TT_BLOCK_S2");
  assert.deepEqual(gib.reservedSet, ["[12]", "[21]"]);
  assert.deepEqual(gib.notes, ["maps a 1 GiB block at 0x40000000"]);

  const table = one({ kind: "pte", text: "0x80000000_40002003", pte: { stage: 1, level: 1, granule: 4 } });
  assert.equal(table.layout, "TT_TABLE");
  assert.equal(field(table, "NLTA").meaning, "address 0x40002000");
  assert.equal(field(table, "NSTable").value, 1);

  const early = one({ kind: "pte", text: "0x40000001", pte: { stage: 1, level: 0, granule: 4 } });
  assert.match(early.notes.join(), /not allowed at level 0/);
  assert.equal(one({ kind: "pte", text: "0x40000000" }).layout, "TT_DESC");

  // 64 KiB granule: bits [15:12] carry address bits [51:48].
  const big = one({ kind: "pte", text: "0x40011743", pte: { stage: 1, level: 3, granule: 64 } });
  assert.match(field(big, "OA").meaning, /^address 0x1000040010000 /);
  assert.throws(
    () => decode({ kind: "pte", text: "3", pte: { stage: 1, level: 0, granule: 64 } }),
    /level 0 is not a level of a 64 KiB granule walk at option --level/,
  );
});

Deno.test("register values decode by name, 64-bit registers included", () => {
  const cr0 = one({ kind: "reg", register: "cr0", text: "0x5" });
  assert.equal(cr0.layout, "CR0");
  assert.deepEqual(values(cr0, ["SMMUEN", "PRIQEN", "EVENTQEN", "CMDQEN"]), {
    SMMUEN: 1,
    PRIQEN: 0,
    EVENTQEN: 1,
    CMDQEN: 0,
  });
  const base = one({ kind: "reg", register: "STRTAB_BASE", text: "0x4000_0000_8000_0000" }); // RA [62], ADDR [51:6]
  assert.deepEqual(values(base, ["RA", "ADDR"]), { RA: 1, ADDR: "address 0x80000000" });
  assert.throws(
    () => decode({ kind: "reg", register: "CR9", text: "1" }),
    /unknown register "CR9" \(one of IDR0, .*CR0, /,
  );
  assert.throws(() => decode({ kind: "reg", register: "CR0", text: "0x100000000" }), /does not fit 32-bit/);
  assert.throws(() => decode({ kind: "reg", register: "CR0", text: "1 2" }), /expected one hex number, got 2/);
});

Deno.test("several records in a row are decoded in turn; JSON keeps every field", () => {
  const records = decode({ kind: "pri", text: "1 0 0 0 2 0 0 0" });
  assert.deepEqual(records.map((r) => [r.source, field(r, "StreamID").value]), [["record 1", 1], ["record 2", 2]]);
  const [t] = JSON.parse(formatJson(decode({ kind: "event", text: LINUX_LOG })));
  assert.equal(t.layout, "EVT_F_TRANSLATION");
  const json = Object.fromEntries(t.fields.map((f: { name: string }) => [f.name, f]));
  assert.equal(json.StreamID.value, "0x8");
  assert.equal(json.CLASS.meaning, "IN");
  assert.equal(json.InputAddr.value, "0xffffa0001000");
  assert.equal(json.InputAddr.bits, "[191:128]");
});

Deno.test("bad input is one error saying what and where", () => {
  const cases: [DecodeRequest, RegExp][] = [
    [{ kind: "ste", text: "0x1 0xzz" }, /^not a hex number at token 2 "0xzz" \(line 1\)$/],
    [{ kind: "l1std", text: "123", bytes: true }, /^odd number of hex digits \(3\) in byte input at token 1/],
    [{ kind: "cd", text: "0x" + "1".repeat(20) }, /blob of 20 hex digits is not a whole number of 64-bit words/],
    [{ kind: "ste", text: "1 2 3" }, /^too few words: ste is 16 32-bit words \(8 64-bit\), got 3 32-bit words/],
    [{ kind: "l1std", text: "1 2 3" }, /^words left over: l1std is 2 32-bit words/],
    [{ kind: "ste", text: "" }, /^no hex words given at end of input$/],
    [{ kind: "l1std", text: "1 0x123456789", width: 32 }, /does not fit in 32 bits at token 2/],
  ];
  for (const [req, message] of cases) {
    assert.throws(() => decode(req), (e) => e instanceof InputError && message.test(e.message), req.text);
  }
});

Deno.test("no input text makes decode throw anything but InputError", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...KINDS),
      fc.string({ unit: fc.constantFrom(..."0123456789abcdefx ,:\n_-") }),
      (k, t) => {
        try {
          decode({ kind: k, register: "GATOS_PAR", text: t });
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
        }
      },
    ),
  );
});

Deno.test("the command line exits 2 with one line for every kind of bad use", async () => {
  const cases: [string[], RegExp][] = [
    [["decode", "sTe", "1"], /^smmuv3 decode: unknown kind "sTe" \(one of ste, cd, .*\) at argument 2$/],
    [
      ["decode", "reg", "NOPE", "1"],
      /^smmuv3 decode: unknown register "NOPE" \(one of IDR0, .*\) at the register name$/,
    ],
    [
      ["decode", "reg", "0x1"],
      /^smmuv3 decode: reg needs a register name before the value, .*\(one of IDR0, .*\) at argument 3$/,
    ],
    [["decode", "reg"], /^smmuv3 decode: reg needs a register name .* at argument 3$/],
    [["decode", "ste", "1", "2"], /^smmuv3 decode: too few words: .* at end of input$/],
    [["decode", "ste", "--granule", "8k", "1"], /^smmuv3 decode: --granule must be one of 4k, 16k, 64k at argument 3$/],
    [
      ["decode", "ste", "--frob"],
      /^smmuv3 decode: unknown option --frob \(one of --json, --bytes, --file, .*\) at argument 3$/,
    ],
    [["decode", "ste", "--json=yes", "1"], /^smmuv3 decode: --json takes no value at argument 3$/],
    [["decode", "event", "--file", "nope.txt"], /^smmuv3 decode: cannot read \(No such file.*\) at --file nope.txt$/],
    [
      ["decode", "event", "hello", "world"],
      /^smmuv3 decode: not a hex number .*\(and no arm-smmu-v3 "event 0x.. received:" line either\) at token 1/,
    ],
    [["decode"], /^smmuv3 decode: missing kind \(one of ste, /],
    [
      ["frobnicate"],
      /^smmuv3: unknown command "frobnicate" \(one of decode, trace, state, --version, --help\) at argument 1$/,
    ],
    [[], /^smmuv3: missing command \(one of decode, trace, state\)/],
    [["trace", "boot"], /^smmuv3 trace: cannot read .* at boot$/],
    [
      ["trace", "a.json", "--frob"],
      /^smmuv3 trace: unknown option --frob \(one of --json, --allow-deviations, --html\) at argument 3$/,
    ],
    [["state", "x.bin"], /^smmuv3 state: cannot read .* at x\.bin$/],
  ];
  for (const [args, message] of cases) {
    const r = await runMain(args, { "log.txt": LINUX_LOG });
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.errors.length, 1, args.join(" "));
    assert.match(r.errors[0], message);
    assert.equal(r.out, "");
  }
});

Deno.test("the command line reads stdin with '-' and files with --file", async () => {
  for (const args of [["decode", "event", "-"], ["decode", "event", "--file", "log.txt"]]) {
    const r = await runMain(args, { "log.txt": LINUX_LOG }, LINUX_LOG);
    assert.equal(r.code, 0);
    assert.deepEqual(r.errors, []);
    assert.match(r.out, /^EVT_F_TRANSLATION \(line 1\)/);
    assert.match(r.out, /\n {2}logged: 42\.123456, arm-smmu-v3 arm-smmu-v3\.0\.auto, client 0000:00:01\.0\n/);
    assert.match(r.out, /\n {2}StreamID +\[63:32\] +0x8 /);
    assert.match(r.out, /\n {2}RnW +\[99\] +0x1 +READ /);
    assert.match(r.out, /\nEVT_F_PERMISSION \(line 9\)/);
  }
  const pte = await runMain(["decode", "pte", "--level", "2", "--stage=2", "0x40201401"]);
  assert.equal(pte.code, 0);
  assert.match(
    pte.out,
    /^TT_BLOCK_S2 .*\n(.*\n)* {2}reserved bits set: \[12\]\n {2}note: maps a 2 MiB block at 0x40200000\n$/,
  );
  const reg = await runMain(["decode", "--json", "reg", "CR0", "1"]);
  assert.equal(reg.code, 0);
  assert.equal(JSON.parse(reg.out)[0].fields[0].name, "SMMUEN");
});

Deno.test("--version prints the version deno.json gives the package", async () => {
  const { version } = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  for (const flag of ["--version", "-V"]) {
    const r = await runMain([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.out, `smmuv3 ${version}\n`);
  }
  assert.match((await runMain(["--help"])).out, new RegExp(`^smmuv3 ${version.replaceAll(".", "\\.")}: `));
});
