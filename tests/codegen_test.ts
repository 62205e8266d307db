// Tests of the code generator (codegen/): a broken spec is refused with an error at the offending entry's line and a
// message naming the problem, what values mean and which fieldsets records share come out as generated tables and
// accessors, a spec edit shows up in the accessors and the saved-state schema, and `--check` names what is stale.
import assert from "node:assert/strict";
import { loadSpec, SpecError } from "../codegen/spec.ts";
import { staleFiles } from "../codegen/main.ts";
import { emitTypeScript } from "../codegen/emit_ts.ts";

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
  SIZE:
    description: A size.
    attributes:
      bits: { type: int, unique: true, description: Size in bits. }
      big: { type: bool, description: Large. }
      mode: { type: MODE, optional: true, description: The mode it implies. }
    values:
      S8: { value: 0, bits: 8, big: false, description: Small. }
      S16: { value: 1, bits: 16, big: true, mode: ON, description: Large. }
    reserved:
      "0b10": { as: S16, description: Behaves as 0b01. }
      others: { description: No meaning. }
  SPECIAL:
    description: Special values of a number.
    values:
      ALL: { value: 31, description: Everything. }
fieldsets:
  DESC:
    description: A descriptor.
    bits: 64
    fields: &desc
      V: { bits: 0, description: Valid. }
      Mode: { bits: "2:1", enum: MODE, description: Mode. }
      Size: { bits: "4:3", enum: SIZE, description: Size. }
      Ptr: { bits: "51:12", shift: 12, description: Pointer. }
  HDR:
    description: What every command shares.
    bits: 128
    fields:
      Opcode: { bits: "7:0", description: Opcode. }
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
      F: { bits: "3:0", max: 9, description: Features. }
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
    extends: HDR
  CMD_GO:
    opcode: 0x02
    description: Go somewhere.
    extends: HDR
    fields:
      Addr: { bits: "127:76", shift: 12, signed: true, description: Where. }
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
  // ---- what values mean (enum attributes, reserved encodings)
  {
    what: "attribute of an unknown enum type",
    edit: ["mode: { type: MODE,", "mode: { type: NOPE,"],
    at: ["type: NOPE", "type"],
    entry: "enums.SIZE.attributes.mode.type",
    problem: /unknown enum NOPE/,
  },
  {
    what: "attribute type that is neither int, bool nor an enum name",
    edit: ["bits: { type: int,", "bits: { type: Integer,"],
    at: ["type: Integer", "type"],
    entry: "enums.SIZE.attributes.bits.type",
    problem: /type is "int", "bool" or an enum name/,
  },
  {
    what: "attribute name that is not lower_snake",
    edit: ["      big: { type: bool,", "      Big: { type: bool,"],
    at: ["Big: {", "Big"],
    entry: "enums.SIZE.attributes.Big",
    problem: /attribute names are lower_snake/,
  },
  {
    what: "attribute named like a key every value has",
    edit: ["      big: { type: bool,", "      value: { type: bool,"],
    at: ["value: { type: bool", "value"],
    entry: "enums.SIZE.attributes.value",
    problem: /"value" is a key of every value, not an attribute/,
  },
  {
    what: "a value without a required attribute",
    edit: ["S8: { value: 0, bits: 8, big: false,", "S8: { value: 0, bits: 8,"],
    at: ["S8: {", "S8"],
    entry: "enums.SIZE.values.S8",
    problem: /missing attribute big/,
  },
  {
    what: "a value with an attribute the enum does not declare (a typo)",
    edit: ["S8: { value: 0, bits: 8,", "S8: { value: 0, bitz: 8, bits: 8,"],
    at: ["bitz: 8", "bitz"],
    entry: "enums.SIZE.values.S8.bitz",
    problem: /unknown key "bitz" \(attributes: bits, big, mode\)/,
  },
  {
    what: "an attribute on an enum that declares none",
    edit: ["OFF: { value: 0,", "OFF: { value: 0, bits: 8,"],
    at: ["bits: 8, description: Off", "bits"],
    entry: "enums.MODE.values.OFF.bits",
    problem: /unknown key "bits"$/,
  },
  {
    what: "an int attribute given text",
    edit: ["S8: { value: 0, bits: 8,", "S8: { value: 0, bits: eight,"],
    at: ["bits: eight", "bits"],
    entry: "enums.SIZE.values.S8.bits",
    problem: /bits is an integer, not eight/,
  },
  {
    what: "a bool attribute given a number",
    edit: ["big: false,", "big: 0,"],
    at: ["big: 0", "big"],
    entry: "enums.SIZE.values.S8.big",
    problem: /big is true or false, not 0/,
  },
  {
    what: "an attribute of enum type naming no value of that enum",
    edit: ["mode: ON,", "mode: MAYBE,"],
    at: ["mode: MAYBE", "mode"],
    entry: "enums.SIZE.values.S16.mode",
    problem: /mode names a value of MODE, and MAYBE is not one/,
  },
  {
    what: "a unique attribute repeated",
    edit: ["S16: { value: 1, bits: 16,", "S16: { value: 1, bits: 8,"],
    at: ["bits: 8, big: true", "bits"],
    entry: "enums.SIZE.values.S16.bits",
    problem: /bits 8 already used by S8 \(unique\)/,
  },
  {
    what: "a unique bool attribute",
    edit: ["big: { type: bool,", "big: { type: bool, unique: true,"],
    at: ["unique: true, description: Large", "unique"],
    entry: "enums.SIZE.attributes.big.unique",
    problem: /a bool attribute cannot be unique/,
  },
  {
    what: "a reserved encoding that a value names",
    edit: ['"0b10": { as: S16', '"0b01": { as: S16'],
    at: ['"0b01": {', '"0b01"'],
    entry: "enums.SIZE.reserved.0b01",
    problem: /encoding 1 is value S16, not reserved/,
  },
  {
    what: "a reserved encoding wider than the enum's fields",
    edit: ['"0b10": { as: S16', '"0b110": { as: S16'],
    at: ['"0b110": {', '"0b110"'],
    entry: "enums.SIZE.reserved.0b110",
    problem: /encoding 6 does not fit in 2 bits/,
  },
  {
    what: "a reserved encoding that behaves as no value of the enum",
    edit: ["as: S16,", "as: S32,"],
    at: ["as: S32", "as"],
    entry: "enums.SIZE.reserved.0b10.as",
    problem: /S32 is not a value of SIZE/,
  },
  {
    what: "a reserved key that is not an encoding",
    edit: ['"0b10": { as: S16', '"two": { as: S16'],
    at: ['"two": {', '"two"'],
    entry: "enums.SIZE.reserved.two",
    problem: /"two" is not an encoding/,
  },
  {
    what: "the same encoding reserved twice",
    edit: ["      others: { description: No meaning. }", '      "0x2": { description: Again. }'],
    at: ['"0x2": {', '"0x2"'],
    entry: "enums.SIZE.reserved.0x2",
    problem: /encoding 2 is already reserved as 0b10/,
  },
  {
    what: "others on an enum no field gives a width",
    edit: [
      "      ALL: { value: 31, description: Everything. }",
      "      ALL: { value: 31, description: Everything. }\n    reserved:\n      others: { description: x. }",
    ],
    at: ["others: { description: x. }", "others"],
    entry: "enums.SPECIAL.reserved.others",
    problem: /others needs the enum's width/,
  },
  {
    what: "an enum used by fields of different widths",
    edit: [
      'MODE: { bits: "2:1", enum: MODE, description: Mode. }',
      'MODE: { bits: "2:1", enum: MODE, description: Mode. }\n      SZ: { bits: "6:4", enum: SIZE, description: Size. }',
    ],
    at: ["  SIZE:", "SIZE"],
    entry: "enums.SIZE",
    problem: /fields of different widths use it \(DESC\.Size is 2 bits, CTRL\.SZ is 3 bits\)/,
  },
  {
    what: "an enum width that differs from its fields'",
    edit: ["    description: A size.\n", "    description: A size.\n    width: 3\n"],
    at: ["width: 3", "width"],
    entry: "enums.SIZE.width",
    problem: /width 3, but field DESC\.Size is 2 bits/,
  },
  // ---- fields: signed addresses, max
  {
    what: "signed on a field that is not an address",
    edit: ["V: { bits: 0, description: Valid. }", "V: { bits: 0, signed: true, description: Valid. }"],
    at: ["signed: true, description: Valid", "signed"],
    entry: "fieldsets.DESC.fields.V.signed",
    problem: /signed applies to address fields \(with shift\) only/,
  },
  {
    what: "a signed address that does not end at bit 63",
    edit: ['Addr: { bits: "127:76", shift: 12, signed: true', 'Addr: { bits: "126:76", shift: 12, signed: true'],
    at: ["signed: true, description: Where", "signed"],
    entry: "commands.CMD_GO.fields.Addr.signed",
    problem: /a signed address ends at bit 63, not 62/,
  },
  {
    what: "signed: false",
    edit: ["signed: true, description: Where", "signed: false, description: Where"],
    at: ["signed: false", "signed"],
    entry: "commands.CMD_GO.fields.Addr.signed",
    problem: /signed is true or absent/,
  },
  {
    what: "a max that does not fit the field",
    edit: ['F: { bits: "3:0", max: 9,', 'F: { bits: "3:0", max: 16,'],
    at: ["max: 16", "max"],
    entry: "registers.ID0.fields.F.max",
    problem: /max 16 does not fit in 4 bits/,
  },
  // ---- extends
  {
    what: "extends an unknown fieldset",
    edit: ["    extends: HDR\n  CMD_GO", "    extends: NOPE\n  CMD_GO"],
    at: ["extends: NOPE", "extends"],
    entry: "commands.CMD_NOP.extends",
    problem: /unknown fieldset NOPE \(extends names an entry of fieldsets\)/,
  },
  {
    what: "extends a fieldset of another size",
    edit: ["    extends: HDR\n  CMD_GO", "    extends: DESC\n  CMD_GO"],
    at: ["extends: DESC", "extends"],
    entry: "commands.CMD_NOP.extends",
    problem: /extends DESC, a 64-bit fieldset, but is 128 bits/,
  },
  {
    what: "a field that the base already has",
    edit: ["      Addr: {", '      Opcode: { bits: "7:0", description: Again. }\n      Addr: {'],
    at: ['Opcode: { bits: "7:0", description: Again', "Opcode"],
    entry: "commands.CMD_GO.fields.Opcode",
    problem: /field Opcode is already inherited from HDR/,
  },
  {
    what: "a field overlapping an inherited one",
    edit: ["      Addr: {", '      Sub: { bits: "11:4", description: Sub. }\n      Addr: {'],
    at: ["Sub: {", "Sub"],
    entry: "commands.CMD_GO.fields.Sub",
    problem: /overlaps field Opcode/,
  },
  {
    what: "fieldsets that extend each other",
    edit: [
      "    bits: 128\n    fields:\n      Opcode",
      "    bits: 128\n    extends: HDR2\n    fields:\n      Opcode: { bits: 9, description: x. }\n" +
      "  HDR2:\n    description: y.\n    bits: 128\n    extends: HDR\n    fields: { X: { bits: 10, description: x. } }\n" +
      "  HDR3:\n    description: z.\n    bits: 128\n    fields:\n      Opcode",
    ],
    at: ["extends: HDR\n    fields: { X", "extends"],
    entry: "fieldsets.HDR2.extends",
    problem: /extends HDR, which extends it back/,
  },
  {
    what: "a fieldset that extends itself",
    edit: ["    bits: 128\n    fields:\n      Opcode", "    bits: 128\n    extends: HDR\n    fields:\n      Opcode"],
    at: ["extends: HDR\n    fields:\n      Opcode", "extends"],
    entry: "fieldsets.HDR.extends",
    problem: /extends HDR, which extends it back/,
  },
  {
    what: "a command with neither fields nor extends",
    edit: ["    description: Nothing.\n    extends: HDR\n", "    description: Nothing.\n"],
    at: ["  CMD_NOP:", "CMD_NOP"],
    entry: "commands.CMD_NOP",
    problem: /missing fields \(or extends\)/,
  },
  {
    what: "a name that collides with a generated meaning table (SIZE_BITS)",
    edit: ["  DESC:\n", "  SIZE_BITS:\n    description: x.\n    bits: 32\n    fields: {}\n  DESC:\n"],
    at: ["  SIZE:", "SIZE"],
    entry: "enums.SIZE",
    problem: /duplicate name SIZE_BITS \(also fieldsets\.SIZE_BITS\)/,
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

Deno.test("the base spec's meanings, sizes and shared fieldsets come out as generated tables and accessors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "codegen-test-" });
  try {
    for (const [rel, text] of emitTypeScript(loadSpec("base.yaml", BASE))) {
      await Deno.mkdir(`${dir}/${rel.slice(0, rel.lastIndexOf("/"))}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/${rel}`, text);
    }
    const gen = await import(`file://${dir}/gen/mod.ts`);
    // One table per attribute, by encoding: reserved 0b10 behaves as S16, the others have no meaning.
    assert.deepEqual({ ...gen.SIZE_BITS }, { 0: 8, 1: 16, 2: 16 });
    assert.deepEqual({ ...gen.SIZE_BIG }, { 0: false, 1: true, 2: true });
    assert.deepEqual({ ...gen.SIZE_MODE }, { 1: 3, 2: 3 }, "an enum-typed attribute holds the value (ON = 0b11)");
    assert.deepEqual({ ...gen.SIZE_BY_BITS }, { 8: 0, 16: 1 }, "a unique attribute's inverse names values only");
    assert.deepEqual({ ...gen.SIZE_EFFECTIVE }, { 0: 0, 1: 1, 2: 1 });
    assert.equal(gen.SPECIAL.ALL, 31);
    // Sizes: a plain fieldset that extends none, and every layout.
    assert.deepEqual([gen.DESC_BYTES, gen.HDR_BYTES, gen.CMD_GO_LAYOUT.bytes], [8, 16, 16]);
    assert.equal(gen.CMD_GO_BYTES, undefined, "commands share their root's size");
    // A command that extends HDR has HDR's accessors, and HDR names the codes of those that extend it.
    assert.equal(gen.CMD_GO.Opcode, gen.HDR.Opcode);
    assert.deepEqual([...gen.HDR_CODES], [0x01, 0x02]);
    assert.deepEqual(gen.CMD_NOP_LAYOUT.fields.map((f: { name: string }) => f.name), ["Opcode"]);
    // A signed address field reads and writes two's complement addresses.
    const w = new Uint32Array(4);
    gen.CMD_GO.Addr.setAddress(w, -0x1000);
    assert.equal(gen.CMD_GO.Addr.get(w), 2 ** 52 - 1);
    assert.equal(gen.CMD_GO.Addr.getAddress(w), -0x1000);
    gen.CMD_GO.Addr.setAddress(w, 0x7fff_ffff_f000);
    assert.equal(gen.CMD_GO.Addr.getAddress(w), 0x7fff_ffff_f000);
    assert.equal(gen.ID0.F.max, 9);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
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
    assert.match(messageTs, /testKnobs\?:\s*\|?\s*number/); // ts-proto may break the union over lines

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
