// Tests of the code generator (codegen/): a broken spec is refused with an error at the offending entry's line, a
// spec edit shows up in the accessors and the saved-state schema, and `--check` names what is stale.
import assert from "node:assert/strict";
import { loadSpec, SpecError } from "../codegen/spec.ts";
import { staleFiles } from "../codegen/main.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const MAIN = `${ROOT}/codegen/main.ts`;

/** A small valid spec exercising every section; each broken case below edits one spot of it. */
const BASE = `meta:
  name: t
  spec: "test spec"
  schema_version: 1
enums:
  MODE:
    description: A mode.
    values:
      OFF: { value: 0, description: Off. }
      ON: { value: "0b11", description: On. }
fieldsets:
  DESC:
    description: A descriptor.
    bits: 64
    fields: &desc
      V: { bits: 0, description: Valid. }
      Mode: { bits: "2:1", enum: MODE, description: Mode. }
      Ptr: { bits: "51:12", shift: 12, description: Pointer. }
registers:
  ID0:
    offset: 0x0
    width: 32
    access: RO
    reset: 0x5
    state: id
    proto: 1
    description: Identification.
    fields:
      F: { bits: "3:0", description: Features. }
  CTRL:
    offset: 0x20
    width: 32
    access: RW
    reset: 0
    state: saved
    proto: 3
    description: Control.
    fields:
      EN: { bits: 0, description: Enable. }
      MODE: { bits: "2:1", enum: MODE, description: Mode. }
  CTRLACK:
    offset: 0x24
    width: 32
    access: RO
    reset: 0
    state: derived
    description: Acknowledge.
    fieldset: CTRL
commands:
  CMD_NOP:
    opcode: 0x01
    description: Nothing.
    fields:
      Opcode: { bits: "7:0", description: Opcode. }
events:
  F_BAD:
    type: 0x10
    description: Bad.
    fields: &hdr
      Type: { bits: "7:0", description: Type. }
      StreamID: { bits: "63:32", description: Stream. }
      Far: { bits: "200:192", description: Far. }
  F_WORSE:
    type: 0x11
    description: Worse.
    fields:
      <<: *hdr
      Extra: { bits: "71:64", description: Extra. }
`;

const REGISTER = (name: string, offset: string, extra: string) =>
  `  ${name}:\n    offset: ${offset}\n    width: 32\n    access: RW\n    reset: 0\n${extra}` +
  `    description: Another.\n    fieldset: CTRL\n`;
const BEFORE_COMMANDS = "commands:\n";

interface BrokenCase {
  what: string;
  /** Replace the first occurrence of [0] in BASE by [1]. */
  edit: [string, string];
  /** The error must point here: the first occurrence of [0] in the broken text, at its substring [1]. */
  at: [string, string];
  entry: string;
  problem: RegExp;
}

const CASES: BrokenCase[] = [
  {
    what: "overlapping fields",
    edit: ['Ptr: { bits: "51:12"', 'Ptr: { bits: "51:2"'],
    at: ["Ptr:", "Ptr"],
    entry: "fieldsets.DESC.fields.Ptr",
    problem: /overlaps field Mode/,
  },
  {
    what: "overlapping register fields starting at the same bit",
    edit: ['MODE: { bits: "2:1"', 'MODE: { bits: "1:0"'],
    at: ["MODE: { bits", "MODE"],
    entry: "registers.CTRL.fields.MODE",
    problem: /overlaps field EN/,
  },
  {
    what: "field past its container's width",
    edit: ['Ptr: { bits: "51:12"', 'Ptr: { bits: "64:12"'],
    at: ['bits: "64:12"', "bits"],
    entry: "fieldsets.DESC.fields.Ptr.bits",
    problem: /run past the 64-bit container/,
  },
  {
    what: "register field past the register's width",
    edit: ["EN: { bits: 0,", "EN: { bits: 32,"],
    at: ["bits: 32,", "bits"],
    entry: "registers.CTRL.fields.EN.bits",
    problem: /32-bit container/,
  },
  {
    what: "field wider than 53 bits",
    edit: ['Ptr: { bits: "51:12"', 'Ptr: { bits: "63:8"'],
    at: ['bits: "63:8"', "bits"],
    entry: "fieldsets.DESC.fields.Ptr.bits",
    problem: /56 bits wide.*53/,
  },
  {
    what: "address field whose shift puts the address past bit 63",
    edit: ["shift: 12", "shift: 40"],
    at: ["shift: 40", "shift"],
    entry: "fieldsets.DESC.fields.Ptr.shift",
    problem: /address bits \[79:40\] run past bit 63/,
  },
  {
    what: "address field with shift 0",
    edit: ["shift: 12", "shift: 0"],
    at: ["shift: 0", "shift"],
    entry: "fieldsets.DESC.fields.Ptr.shift",
    problem: /shift is 1 to 63/,
  },
  {
    what: "enum value that does not fit its field",
    edit: ['Mode: { bits: "2:1", enum: MODE', "Mode: { bits: 1, enum: MODE"],
    at: ["Mode: { bits: 1, enum", "enum"],
    entry: "fieldsets.DESC.fields.Mode.enum",
    problem: /enum MODE value ON = 3 does not fit in 1 bits/,
  },
  {
    what: "two enum values with the same value",
    edit: ['ON: { value: "0b11"', 'ON: { value: "0b00"'],
    at: ["ON: {", "ON"],
    entry: "enums.MODE.values.ON",
    problem: /value 0 already used by OFF/,
  },
  {
    what: "enum value name that is not an identifier",
    edit: ["      OFF: {", "      4K: {"],
    at: ["4K: {", "4K"],
    entry: "enums.MODE.values.4K",
    problem: /bad enum value name/,
  },
  {
    what: "reset value that does not fit the register",
    edit: ["reset: 0x5", "reset: 0x100000000"],
    at: ["reset: 0x100000000", "reset"],
    entry: "registers.ID0.reset",
    problem: /does not fit in 32 bits/,
  },
  {
    what: "reset value that sets reserved bits",
    edit: ["reset: 0x5", "reset: 0x15"],
    at: ["reset: 0x15", "reset"],
    entry: "registers.ID0.reset",
    problem: /sets reserved bits 0x10/,
  },
  {
    what: "reset value above 2^53 written unquoted (YAML would round it)",
    edit: ["reset: 0x5", "reset: 0x8000000000000001"],
    at: ["reset: 0x8", "reset"],
    entry: "registers.ID0.reset",
    problem: /above 2\^53: quote it/,
  },
  {
    what: "duplicate YAML key (two fields named EN)",
    edit: [
      "EN: { bits: 0, description: Enable. }",
      "EN: { bits: 0, description: Enable. }\n      EN: { bits: 3, x: y }",
    ],
    at: ["EN: { bits: 3", "EN"],
    entry: "registers.CTRL.fields.EN",
    problem: /unique/,
  },
  {
    what: "same name in two sections (an enum and a fieldset)",
    edit: ["  DESC:\n", "  MODE:\n    description: x.\n    bits: 32\n    fields: {}\n  DESC:\n"],
    at: ["  MODE:\n    description: x.", "MODE"],
    entry: "fieldsets.MODE",
    problem: /duplicate name MODE \(also enums\.MODE\)/,
  },
  {
    what: "a register sharing a layout under a fieldset's name",
    edit: [BEFORE_COMMANDS, REGISTER("DESC", "0x40", "    state: none\n").replace("CTRL", "DESC") + BEFORE_COMMANDS],
    at: ["  DESC:\n    offset", "DESC"],
    entry: "registers.DESC",
    problem: /duplicate name DESC \(also fieldsets\.DESC\)/,
  },
  {
    what: "a name that collides with a generated one (MODE_NAMES of enum MODE)",
    edit: ["  DESC:\n", "  MODE_NAMES:\n    description: x.\n    bits: 32\n    fields: {}\n  DESC:\n"],
    at: ["  MODE_NAMES:", "MODE_NAMES"],
    entry: "fieldsets.MODE_NAMES",
    problem: /duplicate name MODE_NAMES \(also enums\.MODE\)/,
  },
  {
    what: "a name the generator exports itself",
    edit: ["  DESC:\n", "  REG:\n    description: x.\n    bits: 32\n    fields: {}\n  DESC:\n"],
    at: ["  REG:", "REG"],
    entry: "fieldsets.REG",
    problem: /duplicate name REG/,
  },
  {
    what: "duplicate register offset",
    edit: ["offset: 0x24", "offset: 0x20"],
    at: ["offset: 0x20\n    width: 32\n    access: RO", "offset"],
    entry: "registers.CTRLACK.offset",
    problem: /offset 0x20 already used by CTRL/,
  },
  {
    what: "64-bit register overlapping a 32-bit one",
    edit: [
      BEFORE_COMMANDS,
      REGISTER("WIDE", "0x20", "    state: none\n").replace("width: 32", "width: 64") + BEFORE_COMMANDS,
    ],
    at: ["offset: 0x20\n    width: 64", "offset"],
    entry: "registers.WIDE.offset",
    problem: /offset 0x20 already used by CTRL/,
  },
  {
    what: "misaligned register offset",
    edit: ["offset: 0x24", "offset: 0x26"],
    at: ["offset: 0x26", "offset"],
    entry: "registers.CTRLACK.offset",
    problem: /not aligned/,
  },
  {
    what: "missing description (register)",
    edit: ["    description: Control.\n", ""],
    at: ["  CTRL:", "CTRL"],
    entry: "registers.CTRL.description",
    problem: /missing description/,
  },
  {
    what: "missing description (field)",
    edit: ["EN: { bits: 0, description: Enable. }", "EN: { bits: 0 }"],
    at: ["EN: { bits: 0 }", "EN"],
    entry: "registers.CTRL.fields.EN.description",
    problem: /missing description/,
  },
  {
    what: "empty description",
    edit: ["description: Nothing.", 'description: " "'],
    at: ['description: " "', "description"],
    entry: "commands.CMD_NOP.description",
    problem: /missing description/,
  },
  {
    what: "unknown key in a register",
    edit: ["    state: saved\n", "    state: saved\n    colour: red\n"],
    at: ["colour: red", "colour"],
    entry: "registers.CTRL.colour",
    problem: /unknown key "colour"/,
  },
  {
    what: "unknown key in a field",
    edit: ["EN: { bits: 0, description: Enable. }", "EN: { bits: 0, description: Enable., width: 3 }"],
    at: ["width: 3 }", "width"],
    entry: "registers.CTRL.fields.EN.width",
    problem: /unknown key "width"/,
  },
  {
    what: "unknown top-level section",
    edit: ["enums:\n", "macros: {}\nenums:\n"],
    at: ["macros:", "macros"],
    entry: "macros",
    problem: /unknown key "macros"/,
  },
  {
    what: "bad bits syntax",
    edit: ["EN: { bits: 0,", 'EN: { bits: "0-3",'],
    at: ['bits: "0-3"', "bits"],
    entry: "registers.CTRL.fields.EN.bits",
    problem: /bits must be "hi:lo"/,
  },
  {
    what: "bits written low first",
    edit: ["EN: { bits: 0,", 'EN: { bits: "0:3",'],
    at: ['bits: "0:3"', "bits"],
    entry: "registers.CTRL.fields.EN.bits",
    problem: /run backwards/,
  },
  {
    what: "unknown enum",
    edit: ['Mode: { bits: "2:1", enum: MODE', 'Mode: { bits: "2:1", enum: NOPE'],
    at: ["enum: NOPE", "enum"],
    entry: "fieldsets.DESC.fields.Mode.enum",
    problem: /unknown enum NOPE/,
  },
  {
    what: "unknown shared fieldset",
    edit: ["fieldset: CTRL", "fieldset: NOPE"],
    at: ["fieldset: NOPE", "fieldset"],
    entry: "registers.CTRLACK.fieldset",
    problem: /unknown fieldset NOPE/,
  },
  {
    what: "proto number reuse",
    edit: [BEFORE_COMMANDS, REGISTER("CTRL2", "0x30", "    state: saved\n    proto: 3\n") + BEFORE_COMMANDS],
    at: ["proto: 3\n    description: Another.", "proto"],
    entry: "registers.CTRL2.proto",
    problem: /proto number 3 already used by CTRL/,
  },
  {
    what: "saved register without proto",
    edit: ["    proto: 3\n", ""],
    at: ["  CTRL:", "CTRL"],
    entry: "registers.CTRL",
    problem: /missing proto/,
  },
  {
    what: "proto number on a register that is not saved",
    edit: ["    state: derived\n", "    state: derived\n    proto: 9\n"],
    at: ["proto: 9", "proto"],
    entry: "registers.CTRLACK.proto",
    problem: /derived register is not in the saved state/,
  },
  {
    what: "proto number in protobuf's reserved range",
    edit: ["    proto: 3\n", "    proto: 19000\n"],
    at: ["proto: 19000", "proto"],
    entry: "registers.CTRL.proto",
    problem: /reserved by protobuf/,
  },
  {
    what: "duplicate event type code",
    edit: ["type: 0x11", "type: 0x10"],
    at: ["  F_WORSE:", "F_WORSE"],
    entry: "events.F_WORSE",
    problem: /code 0x10 already used by EVT_F_BAD/,
  },
  {
    what: "a merged-in field that does not fit is reported at the merge",
    edit: ["    fieldset: CTRL\n", "    fields:\n      <<: *desc\n"],
    at: ["<<: *desc", "<<"],
    entry: "registers.CTRLACK.fields.Ptr.bits",
    problem: /run past the 32-bit container/,
  },
  {
    what: "YAML syntax error",
    edit: ["    width: 32\n    access: RW", "    width: [32\n    access: RW"],
    at: ["    access: RW\n    reset: 0\n    state: saved", "access"],
    entry: "registers.CTRL.access",
    problem: /Flow sequence/,
  },
];

/** 1-based line and column of offset `i` in `text`. */
function position(text: string, i: number): [number, number] {
  const before = text.slice(0, i).split("\n");
  return [before.length, before[before.length - 1].length + 1];
}

Deno.test("the base spec of the broken-spec cases is valid", () => {
  const spec = loadSpec("base.yaml", BASE);
  assert.deepEqual(spec.registers.map((r) => r.name), ["ID0", "CTRL", "CTRLACK"]);
  assert.equal(spec.fieldsets.find((f) => f.name === "EVT_F_WORSE")?.fields.length, 4, "merged fields count");
});

for (const c of CASES) {
  Deno.test(`a broken spec is refused at the offending entry: ${c.what}`, () => {
    assert.ok(BASE.includes(c.edit[0]), "the edit applies");
    const text = BASE.replace(c.edit[0], c.edit[1]);
    const at = text.indexOf(c.at[0]);
    assert.ok(at >= 0 && c.at[0].includes(c.at[1]), "the expected position exists");
    const [line, column] = position(text, at + c.at[0].indexOf(c.at[1]));
    let error: unknown;
    try {
      loadSpec("broken.yaml", text);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof SpecError, `refused with a SpecError, got ${error}`);
    assert.deepEqual(
      { file: error.file, line: error.line, column: error.column, entry: error.entry },
      { file: "broken.yaml", line, column, entry: c.entry },
    );
    assert.match(error.problem, c.problem);
    assert.equal(error.message, `broken.yaml:${line}:${column}: ${c.entry}: ${error.problem}`);
  });
}

Deno.test("a quoted 64-bit reset value keeps every bit", () => {
  const text = BASE.replace(
    BEFORE_COMMANDS,
    `  BIG:\n    offset: 0x40\n    width: 64\n    access: RW\n    reset: "0xFFFF_FFFF_FFFF_FFFF"\n    state: none\n` +
      `    description: Big.\n    fields:\n      LO: { bits: "31:0", description: Low. }\n` +
      `      HI: { bits: "63:32", description: High. }\n` + BEFORE_COMMANDS,
  );
  const big = loadSpec("big.yaml", text).registers.find((r) => r.name === "BIG");
  assert.equal(big?.reset, 0xffff_ffff_ffff_ffffn);
});

Deno.test("the project's registers.yaml is valid", () => {
  const spec = loadSpec(`${ROOT}/registers.yaml`);
  assert.ok(spec.registers.length > 50);
  assert.ok(spec.registers.every((r) => r.state !== "saved" || r.proto !== undefined));
});

async function codegen(args: string[]): Promise<{ code: number; out: string }> {
  const cmd = new Deno.Command(Deno.execPath(), { args: ["run", "-A", MAIN, ...args], cwd: ROOT });
  const { code, stdout, stderr } = await cmd.output();
  return { code, out: new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr) };
}

Deno.test("codegen refuses a mistyped option and a broken spec without writing anything", async () => {
  const typo = await codegen(["--chek"]);
  assert.equal(typo.code, 2);
  assert.match(typo.out, /unknown argument --chek/);
  const dir = await Deno.makeTempDir({ prefix: "codegen-test-" });
  try {
    const text = BASE.replace("    proto: 3\n", "");
    await Deno.writeTextFile(`${dir}/broken.yaml`, text);
    const broken = await codegen(["--spec", `${dir}/broken.yaml`, "--out", `${dir}/out`]);
    assert.equal(broken.code, 2);
    const [line] = position(text, text.indexOf("  CTRL:"));
    assert.ok(broken.out.includes(`${dir}/broken.yaml:${line}:3: registers.CTRL: missing proto`), broken.out);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["broken.yaml"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a saved register added to a copy of the spec appears in the accessors and the saved-state message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "codegen-test-" });
  try {
    const spec = loadSpec(`${ROOT}/registers.yaml`);
    const proto = Math.max(...spec.registers.map((r) => r.proto ?? 0)) + 1;
    const used = new Set(spec.registers.flatMap((r) => [r.offset, r.offset + 4]));
    const offset = [...Array(0x400).keys()].map((i) => 0x1000 + 4 * i).find((o) => !used.has(o))!;
    const added =
      `  TEST_KNOBS:\n    offset: 0x${offset.toString(16)}\n    width: 32\n    access: RW\n    reset: 0x40\n` +
      `    state: saved\n    proto: ${proto}\n    description: A register added by the codegen test.\n` +
      `    fields:\n      Knob: { bits: "7:4", description: A knob added by the codegen test. }\n\n`;
    const text = (await Deno.readTextFile(`${ROOT}/registers.yaml`)).replace(/^commands:\n/m, added + "commands:\n");
    await Deno.writeTextFile(`${dir}/registers.yaml`, text);

    const run = await codegen(["--spec", `${dir}/registers.yaml`, "--out", `${dir}/out`]);
    assert.equal(run.code, 0, run.out);
    const registersTs = await Deno.readTextFile(`${dir}/out/gen/registers.ts`);
    assert.match(registersTs, /export const TEST_KNOBS = \{[^]*?Knob: \{[^]*?lsb: 4,\s*width: 4,/);
    assert.match(registersTs, new RegExp(`TEST_KNOBS: 0x${offset.toString(16)},`));
    const schema = await Deno.readTextFile(`${dir}/out/proto/smmuv3/v1/saved_state.proto`);
    assert.match(schema, new RegExp(`optional uint32 test_knobs = ${proto};`));
    const messageTs = await Deno.readTextFile(`${dir}/out/gen/proto/smmuv3/v1/saved_state.ts`);
    assert.match(messageTs, /testKnobs\?: number/);

    // The generated code works: the accessor places the field and the message carries the register.
    const gen = await import(`file://${dir}/out/gen/mod.ts`);
    const w = new Uint32Array(1);
    gen.TEST_KNOBS.Knob.set(w, 0xf);
    assert.equal(w[0], 0xf0);
    assert.deepEqual(gen.REGISTERS.find((r: { name: string }) => r.name === "TEST_KNOBS").reset, [0x40, 0]);
    const { SavedState } = await import(`file://${dir}/out/gen/proto/smmuv3/v1/saved_state.ts`);
    const blob = SavedState.encode(SavedState.fromPartial({ schemaVersion: 1, testKnobs: 0x70 })).finish();
    assert.equal(SavedState.decode(blob).testKnobs, 0x70);

    // --check against what was just written passes, and names exactly the file that is then altered.
    const clean = await codegen(["--check", "--spec", `${dir}/registers.yaml`, "--out", `${dir}/out`]);
    assert.equal(clean.code, 0, clean.out);
    assert.match(clean.out, /match/);
    await Deno.writeTextFile(`${dir}/out/gen/enums.ts`, "// edited by hand\n", { append: true });
    await Deno.remove(`${dir}/out/proto/smmuv3/v1/saved_state.proto`);
    const stale = await codegen(["--check", "--spec", `${dir}/registers.yaml`, "--out", `${dir}/out`]);
    assert.equal(stale.code, 1, stale.out);
    const listed = stale.out.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim());
    assert.deepEqual(listed, ["gen/enums.ts", "proto/smmuv3/v1/saved_state.proto (missing)"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the project's gen/ and proto/ are what registers.yaml generates; an edited copy is reported stale", async () => {
  const dir = await Deno.makeTempDir({ prefix: "codegen-test-" });
  try {
    for (const top of ["gen", "proto"]) {
      const cp = await new Deno.Command("cp", { args: ["-r", `${ROOT}/${top}`, `${dir}/${top}`] }).output();
      assert.ok(cp.success);
    }
    const clean = await codegen(["--check", "--out", dir]);
    assert.equal(clean.code, 0, clean.out);
    // Without regenerating: compare the copy with itself edited, with a file added, and with one removed.
    await Deno.writeTextFile(`${dir}/gen/structs.ts`, "export const STALE = 1;\n", { append: true });
    await Deno.writeTextFile(`${dir}/gen/extra.ts`, "export {};\n");
    await Deno.remove(`${dir}/gen/commands.ts`);
    assert.deepEqual((await staleFiles(ROOT, dir)).sort(), [
      "gen/commands.ts (missing)",
      "gen/extra.ts (should not exist)",
      "gen/structs.ts",
    ]);
    assert.deepEqual(await staleFiles(ROOT, ROOT), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
