/**
 * `smmuv3 decode`: picks the generated layout for a kind of record and names every field of it.
 * @module
 */
import {
  CD,
  CD_LAYOUT,
  CMD_SYNC,
  CMD_SYNC_LAYOUT,
  COMMANDS,
  EVENTS,
  EVT_F_UUT,
  EVT_F_UUT_LAYOUT,
  GATOS_PAR_FAULT,
  GATOS_PAR_FAULT_LAYOUT,
  L1CD,
  L1CD_LAYOUT,
  L1STD_LAYOUT,
  type Layout,
  PRI_RECORD_LAYOUT,
  REGISTERS,
  reservedSet,
  STE,
  STE_LAYOUT,
  TT_ADDR_64K,
  TT_BLOCK_S1_LAYOUT,
  TT_BLOCK_S2_LAYOUT,
  TT_DESC,
  TT_DESC_LAYOUT,
  TT_PAGE_S1_LAYOUT,
  TT_PAGE_S2_LAYOUT,
  TT_TABLE_LAYOUT,
  TT_TYPE,
} from "../../gen/mod.ts";
import { formatJson, formatText } from "./format.ts";
import { countTokens, InputError, type LogBlock, parseLog, parseNumber, parseWords, type WordWidth } from "./hex.ts";

/** The kinds of record `decode` knows. */
export const KINDS = ["ste", "cd", "l1std", "l1cd", "cmd", "event", "pte", "pri", "reg"] as const;
/** One of {@link KINDS}. */
export type Kind = typeof KINDS[number];

/** How to read a VMSAv8-64 descriptor: the walk it belongs to. */
export interface PteOptions {
  stage: 1 | 2;
  level: number;
  granule: 4 | 16 | 64;
}

/** What to decode. */
export interface DecodeRequest {
  kind: Kind;
  /** Register name, for kind "reg". */
  register?: string;
  /** The pasted input: hex words, a blob, or a Linux log. */
  text: string;
  width?: WordWidth;
  bytes?: boolean;
  pte?: PteOptions;
}

/** One field, decoded. */
export interface DecodedField {
  name: string;
  lsb: number;
  msb: number;
  /** A number, or a bigint for a 64-bit value joined from _LO and _HI halves. */
  value: number | bigint;
  /** Enum name, "address 0x…", or "". */
  meaning: string;
  description: string;
}

/** One record, decoded. */
export interface DecodedRecord {
  layout: string;
  description: string;
  /** Where the record came from (record number or log line). */
  source: string;
  words: number[];
  fields: DecodedField[];
  /** Bits set that no field covers, as absolute bit ranges like "[40]" or "[102:100]". */
  reservedSet: string[];
  /** Remarks on the record as a whole (an invalid entry, a descriptor not allowed at this level). */
  notes: string[];
}

const EVENT_WORDS = EVT_F_UUT_LAYOUT.words;
const COMMAND_WORDS = CMD_SYNC_LAYOUT.words;

/** Decodes the request into records; bad input throws {@link InputError}. */
export function decode(req: DecodeRequest): DecodedRecord[] {
  if (req.kind === "reg") return [decodeRegister(req.register ?? "", req.text)];
  const log = parseLog(req.text, { event: EVENT_WORDS / 2, cmd: COMMAND_WORDS / 2 });
  if (log) return log.map((block) => decodeLogBlock(req.kind, block));
  const size = recordWords(req.kind);
  // A one-dword record pasted as one number is that number, even when it has 8 digits or fewer.
  const oneNumber = size === 2 && (req.width ?? "auto") === "auto" && countTokens(req.text) === 1;
  const words = parseWords(req.text, { width: oneNumber ? 64 : req.width, bytes: req.bytes });
  if (words.length % size !== 0) {
    const what = words.length < size ? "too few words" : "words left over";
    const hint = (req.width ?? "auto") === "auto" && !req.bytes
      ? " (tokens over 8 digits are 64-bit; see --width)"
      : "";
    throw new InputError(
      `${what}: ${req.kind} is ${size} 32-bit words (${size / 2} 64-bit), got ${words.length} 32-bit words${hint}`,
      "end of input",
    );
  }
  const records: DecodedRecord[] = [];
  for (let o = 0; o < words.length; o += size) {
    const source = words.length > size ? `record ${o / size + 1}` : "input";
    records.push(decodeKind(req.kind, words, o, source, req.pte));
  }
  return records;
}

function recordWords(kind: Exclude<Kind, "reg">): number {
  switch (kind) {
    case "ste":
      return STE_LAYOUT.words;
    case "cd":
      return CD_LAYOUT.words;
    case "l1std":
      return L1STD_LAYOUT.words;
    case "l1cd":
      return L1CD_LAYOUT.words;
    case "cmd":
      return COMMAND_WORDS;
    case "event":
      return EVENT_WORDS;
    case "pte":
      return TT_DESC_LAYOUT.words;
    case "pri":
      return PRI_RECORD_LAYOUT.words;
  }
}

function decodeLogBlock(kind: Kind, block: LogBlock): DecodedRecord {
  const where = `line ${block.line}`;
  if (kind !== block.kind) {
    throw new InputError(
      `the log block holds ${block.kind === "event" ? "an event" : "a command"}, not ${kind}`,
      where,
    );
  }
  const type = EVT_F_UUT.Type.get(block.words); // every event record has its type in the same place
  if (block.id !== undefined && block.id !== type) {
    const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;
    throw new InputError(`header says event ${hex(block.id)} but the first word holds type ${hex(type)}`, where);
  }
  return decodeKind(kind, block.words, 0, where);
}

function decodeKind(kind: Kind, w: Uint32Array, o: number, source: string, pte?: PteOptions): DecodedRecord {
  switch (kind) {
    case "ste": {
      const notes = STE.V.get(w, o) ? [] : ["V is 0: the STE is invalid and its other fields are ignored"];
      return decodeRecord(STE_LAYOUT, w, o, source, notes);
    }
    case "cd": {
      const notes = CD.V.get(w, o) ? [] : ["V is 0: the CD is invalid and its other fields are ignored"];
      return decodeRecord(CD_LAYOUT, w, o, source, notes);
    }
    case "l1cd": {
      const notes = L1CD.V.get(w, o) ? [] : ["V is 0: the descriptor is invalid"];
      return decodeRecord(L1CD_LAYOUT, w, o, source, notes);
    }
    case "l1std":
      return decodeRecord(L1STD_LAYOUT, w, o, source);
    case "pri":
      return decodeRecord(PRI_RECORD_LAYOUT, w, o, source);
    case "cmd": {
      const opcode = CMD_SYNC.Opcode.get(w, o); // every command has its opcode in the same place
      const layout = COMMANDS.get(opcode);
      if (!layout) {
        throw new InputError(`unknown command opcode 0x${opcode.toString(16)} in ${bits(CMD_SYNC.Opcode)}`, source);
      }
      return decodeRecord(layout, w, o, source);
    }
    case "event": {
      const type = EVT_F_UUT.Type.get(w, o);
      const layout = EVENTS.get(type);
      if (!layout) throw new InputError(`unknown event type 0x${type.toString(16)} in ${bits(EVT_F_UUT.Type)}`, source);
      return decodeRecord(layout, w, o, source);
    }
    case "pte":
      return decodeDescriptor(w, o, source, pte ?? { stage: 1, level: 3, granule: 4 });
    case "reg":
      throw new InputError("a register value is decoded with 'reg NAME'", source);
  }
}

function decodeRegister(name: string, text: string): DecodedRecord {
  const info = REGISTERS.find((r) => r.name === name.toUpperCase());
  if (!info) throw new InputError(`unknown register "${name}"`, "the register name");
  const [lo, hi] = parseNumber(text);
  if (info.width === 32 && hi !== 0) {
    throw new InputError(`value does not fit 32-bit register ${info.name}`, "the register value");
  }
  const w = Uint32Array.of(lo, hi);
  const source = `offset 0x${info.offset.toString(16)}`;
  // GATOS_PAR has a second view of the same bits when it reports a fault.
  const layout = info.name === "GATOS_PAR" && GATOS_PAR_FAULT.FAULT.get(w) ? GATOS_PAR_FAULT_LAYOUT : info.layout;
  return decodeRecord(layout, w.subarray(0, layout.words), 0, source);
}

const GRANULE_SHIFT = { 4: 12, 16: 14, 64: 16 } as const;
// Lowest level a walk starts at, and the lowest level that may hold a block, per granule (without FEAT_LPA2).
const FIRST_LEVEL = { 4: 0, 16: 0, 64: 1 } as const;
const FIRST_BLOCK_LEVEL = { 4: 1, 16: 2, 64: 2 } as const;

function decodeDescriptor(w: Uint32Array, o: number, source: string, pte: PteOptions): DecodedRecord {
  const { stage, level, granule } = pte;
  if (level < FIRST_LEVEL[granule] || level > 3) {
    throw new InputError(`level ${level} is not a level of a ${granule} KiB granule walk`, "option --level");
  }
  if (!TT_DESC.Valid.get(w, o)) {
    return decodeRecord(TT_DESC_LAYOUT, w, o, source, ["Valid is 0: the descriptor is invalid (translation fault)"]);
  }
  const tableOrPage = TT_DESC.Type.get(w, o) === TT_TYPE.TABLE_OR_PAGE;
  const notes: string[] = [];
  let layout: Layout;
  if (level === 3) {
    layout = stage === 1 ? TT_PAGE_S1_LAYOUT : TT_PAGE_S2_LAYOUT;
    if (!tableOrPage) notes.push("Type 0 at level 3 is reserved: the walk treats it as invalid (translation fault)");
  } else if (tableOrPage) {
    layout = TT_TABLE_LAYOUT;
  } else {
    layout = stage === 1 ? TT_BLOCK_S1_LAYOUT : TT_BLOCK_S2_LAYOUT;
    if (level < FIRST_BLOCK_LEVEL[granule]) {
      notes.push(`a block is not allowed at level ${level} with a ${granule} KiB granule (translation fault)`);
    }
  }
  const extraReserved = [0, 0];
  const oaField = layout.fields.find((f) => f.shift !== undefined)!;
  // With 64 KiB pages the low four bits of the address field carry address bits [51:48].
  const address = granule === 64
    ? TT_ADDR_64K.ADDR.getAddress(w, o) + TT_ADDR_64K.ADDR_51_48.getAddress(w, o)
    : oaField.get(w, o) * 2 ** oaField.shift!;
  if (layout === TT_BLOCK_S1_LAYOUT || layout === TT_BLOCK_S2_LAYOUT) {
    // A block maps 2^blockShift bytes, so address bits below that are RES0.
    const shift = GRANULE_SHIFT[granule];
    const blockShift = shift + (3 - level) * (shift - 3);
    const first = granule === 64 ? TT_ADDR_64K.ADDR.lsb : oaField.lsb;
    for (let bit = first; bit < blockShift; bit++) extraReserved[bit >> 5] |= 1 << (bit & 31);
    const base = Math.floor(address / 2 ** blockShift) * 2 ** blockShift;
    notes.push(`maps a ${sizeName(blockShift)} block at 0x${base.toString(16)}`);
  }
  const record = decodeRecord(layout, w, o, source, notes, extraReserved);
  if (granule === 64) {
    const oa = record.fields.find((f) => f.name === oaField.name)!;
    const high = TT_ADDR_64K.ADDR_51_48;
    const held = `${bits(high)} are address [${high.shift + high.width - 1}:${high.shift}]`;
    oa.meaning = `address 0x${address.toString(16)} (${held} with 64 KiB pages)`;
  }
  return record;
}

function bits(f: { lsb: number; width: number }): string {
  return `bits [${f.lsb + f.width - 1}:${f.lsb}]`;
}

function sizeName(shift: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  const unit = Math.min(Math.floor(shift / 10), units.length - 1);
  return `${2 ** (shift - 10 * unit)} ${units[unit]}`;
}

/** Decodes one record of a layout at word offset `o`. */
export function decodeRecord(
  layout: Layout,
  w: Uint32Array,
  o = 0,
  source = "input",
  notes: string[] = [],
  extraReserved: readonly number[] = [],
): DecodedRecord {
  const fields: DecodedField[] = [];
  for (const f of layout.fields) {
    const value = f.get(w, o);
    let meaning = "";
    if (f.enumValues) meaning = f.enumValues[value] ?? "reserved value";
    else if (f.shift !== undefined) meaning = `address 0x${(BigInt(value) << BigInt(f.shift)).toString(16)}`;
    const msb = f.lsb + f.width - 1;
    fields.push({ name: f.name, lsb: f.lsb, msb, value, meaning, description: f.description });
    const lo = f.name.endsWith("_HI") && fields.find((x) => x.name === f.name.replace(/_HI$/, "_LO"));
    if (lo) {
      // Join a 64-bit quantity split in halves, so it reads as one address.
      const joined = (BigInt(value) << BigInt(lo.msb - lo.lsb + 1)) | BigInt(lo.value);
      const name = f.name.slice(0, -3);
      fields.push({
        name,
        lsb: lo.lsb,
        msb,
        value: joined,
        meaning: `address 0x${joined.toString(16)}`,
        description: `${name}_HI:${name}_LO joined`,
      });
    }
  }
  return {
    layout: layout.name,
    description: layout.description,
    source,
    words: Array.from(w.subarray(o, o + layout.words)),
    fields,
    reservedSet: bitRanges(reservedSet(layout, w, o).map((m, i) => (m | (w[o + i] & (extraReserved[i] ?? 0))) >>> 0)),
    notes,
  };
}

/** Turns per-word masks into absolute bit ranges, lowest first. */
function bitRanges(masks: number[]): string[] {
  const ranges: string[] = [];
  masks.forEach((mask, word) => {
    let bit = 0;
    while (bit < 32) {
      if (!(mask & (1 << bit))) {
        bit++;
        continue;
      }
      let end = bit;
      while (end + 1 < 32 && mask & (1 << (end + 1))) end++;
      const [lsb, msb] = [word * 32 + bit, word * 32 + end];
      ranges.push(lsb === msb ? `[${lsb}]` : `[${msb}:${lsb}]`);
      bit = end + 1;
    }
  });
  return ranges;
}

/** What the CLI commands need from the outside world (replaced in tests). */
export interface CliIo {
  /** Writes output text (the decoded records). */
  out(text: string): void;
  /** Reads all of stdin. */
  readStdin(): Promise<string>;
  /** Reads a text file. */
  readFile(path: string): Promise<string>;
}

/** `smmuv3 decode <kind> [NAME] [options] <hex…> | - | --file PATH`: returns the exit code; bad input throws. */
export async function decodeCommand(args: readonly string[], io: CliIo): Promise<number> {
  let json = false, bytes = false, file: string | undefined;
  let width: WordWidth = "auto";
  const pte: PteOptions = { stage: 1, level: 3, granule: 4 };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const where = `argument ${i + 2}`; // argument 1 is "decode"
    if (arg === "-" || !arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const value = (): string => {
      const v = eq < 0 ? args[++i] : arg.slice(eq + 1);
      if (v === undefined) throw new InputError(`${flag} needs a value`, where);
      return v;
    };
    const choice = <T>(allowed: Record<string, T>): T => {
      const v = value();
      if (!(v in allowed)) throw new InputError(`${flag} must be one of ${Object.keys(allowed).join(", ")}`, where);
      return allowed[v];
    };
    if (flag === "--json") json = true;
    else if (flag === "--bytes") bytes = true;
    else if (flag === "--file") file = value();
    else if (flag === "--width") width = choice({ auto: "auto", 32: 32, 64: 64 } as Record<string, WordWidth>);
    else if (flag === "--stage") pte.stage = choice({ 1: 1, 2: 2 } as const);
    else if (flag === "--level") pte.level = choice({ 0: 0, 1: 1, 2: 2, 3: 3 });
    else if (flag === "--granule") pte.granule = choice({ "4k": 4, "16k": 16, "64k": 64 } as const);
    else throw new InputError(`unknown option ${flag}`, where);
  }
  const kind = positional.shift();
  if (!kind) throw new InputError(`missing kind (one of ${KINDS.join(", ")})`, "argument 2");
  if (!(KINDS as readonly string[]).includes(kind)) {
    throw new InputError(`unknown kind "${kind}" (one of ${KINDS.join(", ")})`, "argument 2");
  }
  const register = kind === "reg" ? positional.shift() : undefined;
  if (kind === "reg" && !register) throw new InputError("reg needs a register name", "argument 3");
  const text = await inputText(positional, file, io);
  const records = decode({ kind: kind as Kind, register, text, width, bytes, pte });
  io.out(json ? formatJson(records) : formatText(records));
  return 0;
}

async function inputText(hex: string[], file: string | undefined, io: CliIo): Promise<string> {
  if (file !== undefined && hex.length) throw new InputError("give hex words or --file, not both", "--file");
  if (hex.length === 0 && file === undefined) throw new InputError("no hex words given", "end of arguments");
  const read = async (where: string, reader: () => Promise<string>): Promise<string> => {
    try {
      return await reader();
    } catch (e) {
      // Deno's message ends with the call and path, which `where` already gives.
      const why = (e instanceof Error ? e.message : String(e)).replace(/: \w+ '.*'$/, "");
      throw new InputError(`cannot read input (${why})`, where);
    }
  };
  if (file !== undefined) return await read(`--file ${file}`, () => io.readFile(file));
  if (hex.length === 1 && hex[0] === "-") return await read("stdin", io.readStdin);
  if (hex.includes("-")) throw new InputError('"-" (stdin) must be the only input', `input ${hex.indexOf("-") + 1}`);
  return hex.join(" ");
}
