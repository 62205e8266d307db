/**
 * `smmuv3 decode`: picks the generated layout for a kind of record and names every field of it.
 * @module
 */
import {
  CD,
  CD_LAYOUT,
  COMMAND,
  COMMAND_LAYOUT,
  COMMANDS,
  EVENT,
  EVENT_LAYOUT,
  EVENTS,
  EVT_TYPE_NAMES,
  GATOS_PAR_FAULT,
  GATOS_PAR_FAULT_LAYOUT,
  GRANULE,
  GRANULE_BY_KIB,
  GRANULE_FIRST_BLOCK_LEVEL,
  GRANULE_FIRST_LEVEL,
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
  TT_DESC_BYTES,
  TT_DESC_LAYOUT,
  TT_LEVEL,
  TT_PAGE_S1_LAYOUT,
  TT_PAGE_S2_LAYOUT,
  TT_TABLE_LAYOUT,
  TT_TYPE,
} from "../../gen/mod.ts";
import { countTokens, parseNumber, parseWords, type WordWidth } from "./hex.ts";
import { InputError, oneOf } from "../core/errors.ts";
import { type LogRecord, parseLinuxLog } from "./linux_log.ts";

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
  /** For a record from a Linux log: what the log says about it. */
  log?: LogOrigin;
  words: number[];
  fields: DecodedField[];
  /** Bits set that no field covers, as absolute bit ranges like "[40]" or "[102:100]". */
  reservedSet: string[];
  /** Remarks on the record as a whole (an invalid entry, a descriptor not allowed at this level). */
  notes: string[];
}

/** Where a record from a Linux log was printed: line, time, SMMU (driver and instance), client, context line. */
export type LogOrigin = Pick<LogRecord, "line" | "time" | "driver" | "device" | "client" | "context">;

/** A part of the input that gave no record, and why (reported as a warning; the rest is decoded). */
export interface Skipped {
  what: string;
  where: string;
}

/** What `decode` found: the records, and (in a Linux log) the blocks it had to skip. */
export interface Decoded {
  records: DecodedRecord[];
  skipped: Skipped[];
  /** Whether the input was a Linux log (else hex words). */
  fromLog: boolean;
}

const EVENT_WORDS = EVENT_LAYOUT.words;
const COMMAND_WORDS = COMMAND_LAYOUT.words;

/**
 * Decodes the request. Hex input is all or nothing: bad input throws {@link InputError}. A Linux log gives every
 * complete record it holds; each block that gives none is listed in `skipped`.
 */
export function decode(req: DecodeRequest): Decoded {
  if (req.kind === "reg") {
    return { records: [decodeRegister(req.register ?? "", req.text)], skipped: [], fromLog: false };
  }
  const log = parseLinuxLog(req.text, { event: EVENT_WORDS / 2, cmd: COMMAND_WORDS / 2 });
  if (log) {
    const skipped = log.problems.map((p) => ({ what: p.what, where: `line ${p.line}` }));
    const records: DecodedRecord[] = [];
    for (const block of log.records) {
      try {
        records.push(decodeLogRecord(req.kind, block));
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        skipped.push({ what: e.what, where: e.where });
      }
    }
    skipped.sort((a, b) => lineOf(a.where) - lineOf(b.where));
    return { records, skipped, fromLog: true };
  }
  const size = recordWords(req.kind);
  // A one-dword record pasted as one number is that number, even when it has 8 digits or fewer.
  const oneNumber = size === 2 && (req.width ?? "auto") === "auto" && countTokens(req.text) === 1;
  let words: Uint32Array;
  try {
    words = parseWords(req.text, { width: oneNumber ? 64 : req.width, bytes: req.bytes });
  } catch (e) {
    const header = req.kind === "event" || req.kind === "cmd" ? LOG_HEADERS[req.kind] : undefined;
    if (!(e instanceof InputError) || !header || !/^not a hex number/.test(e.what)) throw e;
    throw new InputError(`${e.what} (and no arm-smmu-v3 "${header}" line either)`, e.where);
  }
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
  return { records, skipped: [], fromLog: false };
}

const LOG_HEADERS = { event: "event 0x.. received:", cmd: "skipping command in error state:" } as const;
const lineOf = (where: string) => Number(/^line (\d+)/.exec(where)?.[1] ?? 0);

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

function decodeLogRecord(kind: Kind, block: LogRecord): DecodedRecord {
  const where = `line ${block.line}`;
  if (kind !== block.kind) {
    const holds = block.kind === "event" ? "an event record (decode event)" : "a command (decode cmd)";
    throw new InputError(`the block holds ${holds}, not ${kind}`, where);
  }
  const type = EVENT.Type.get(block.words); // every event record has its type in the same place
  if (block.id !== undefined && block.id !== type) {
    throw new InputError(`header says event ${hex2(block.id)} but the first word holds type ${hex2(type)}`, where);
  }
  const { line, time, driver, device, client, context } = block;
  return { ...decodeKind(kind, block.words, 0, where), log: { line, time, driver, device, client, context } };
}

const hex2 = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;

/**
 * IHI 0070 7.3.21: event numbers 0xE0 to 0xEF are IMPLEMENTATION DEFINED (registers.yaml names them IMPDEF_Ex). Only
 * the type is architected, so the record is shown by its type and words, with no field or bit called reserved.
 */
const IMPDEF_EVENT: Layout = {
  ...EVENT_LAYOUT, // an event record's size
  name: "EVT_IMPDEF",
  description: "An IMPLEMENTATION DEFINED event (IHI 0070 7.3.21): only its type is architected.",
  code: undefined,
  fields: [EVENT.Type],
  reserved: EVENT_LAYOUT.reserved.map(() => 0),
};

function eventLayout(type: number, source: string): Layout {
  const layout = EVENTS.get(type);
  if (layout) return layout;
  if (/^IMPDEF_/.test(EVT_TYPE_NAMES[type] ?? "")) return IMPDEF_EVENT;
  const known = Object.entries(EVT_TYPE_NAMES).filter(([, n]) => !/^IMPDEF_/.test(n))
    .map(([v, n]) => `${hex2(Number(v))} ${n}`);
  throw new InputError(
    `event type ${hex2(type)} in ${bits(EVENT.Type)} is reserved (IHI 0070 7.3.21); ` +
      `${oneOf([...known, "0xe0-0xef IMPLEMENTATION DEFINED"])}`,
    source,
  );
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
      const opcode = COMMAND.Opcode.get(w, o); // every command has its opcode in the same place
      const layout = COMMANDS.get(opcode);
      if (!layout) {
        const known = [...COMMANDS].map(([op, l]) => `${hex2(op)} ${l.name.replace(/^CMD_/, "")}`);
        throw new InputError(
          `unknown command opcode ${hex2(opcode)} in ${bits(COMMAND.Opcode)}; ${oneOf(known)}`,
          source,
        );
      }
      return decodeRecord(layout, w, o, source);
    }
    case "event": {
      const layout = eventLayout(EVENT.Type.get(w, o), source);
      const notes = layout === IMPDEF_EVENT ? ["an IMPLEMENTATION DEFINED event: see the SMMU's documentation"] : [];
      return decodeRecord(layout, w, o, source, notes);
    }
    case "pte":
      return decodeDescriptor(w, o, source, pte ?? { stage: 1, level: 3, granule: 4 });
    case "reg":
      throw new InputError("a register value is decoded with 'reg NAME'", source);
  }
}

/** The register names `decode reg` takes. */
export const REGISTER_NAMES: readonly string[] = REGISTERS.map((r) => r.name);

function decodeRegister(name: string, text: string): DecodedRecord {
  const info = REGISTERS.find((r) => r.name === name.toUpperCase());
  if (!info) throw new InputError(`unknown register "${name}" (${oneOf(REGISTER_NAMES)})`, "the register name");
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

const LAST_LEVEL = TT_LEVEL.LEVEL_3;

function decodeDescriptor(w: Uint32Array, o: number, source: string, pte: PteOptions): DecodedRecord {
  const { stage, level, granule } = pte;
  const shift = GRANULE_BY_KIB[granule]!; // log2 of the granule: a GRANULE value
  const large = shift === GRANULE.GRAN_64K;
  if (level < GRANULE_FIRST_LEVEL[shift]! || level > LAST_LEVEL) {
    throw new InputError(`level ${level} is not a level of a ${granule} KiB granule walk`, "option --level");
  }
  if (!TT_DESC.Valid.get(w, o)) {
    return decodeRecord(TT_DESC_LAYOUT, w, o, source, ["Valid is 0: the descriptor is invalid (translation fault)"]);
  }
  const tableOrPage = TT_DESC.Type.get(w, o) === TT_TYPE.TABLE_OR_PAGE;
  const notes: string[] = [];
  let layout: Layout;
  if (level === LAST_LEVEL) {
    layout = stage === 1 ? TT_PAGE_S1_LAYOUT : TT_PAGE_S2_LAYOUT;
    if (!tableOrPage) notes.push("Type 0 at level 3 is reserved: the walk treats it as invalid (translation fault)");
  } else if (tableOrPage) {
    layout = TT_TABLE_LAYOUT;
  } else {
    layout = stage === 1 ? TT_BLOCK_S1_LAYOUT : TT_BLOCK_S2_LAYOUT;
    if (level < GRANULE_FIRST_BLOCK_LEVEL[shift]!) {
      notes.push(`a block is not allowed at level ${level} with a ${granule} KiB granule (translation fault)`);
    }
  }
  const extraReserved = [0, 0];
  const oaField = layout.fields.find((f) => f.shift !== undefined)!;
  // With 64 KiB pages the low four bits of the address field carry address bits [51:48].
  const address = large
    ? TT_ADDR_64K.ADDR.getAddress(w, o) + TT_ADDR_64K.ADDR_51_48.getAddress(w, o)
    : oaField.get(w, o) * 2 ** oaField.shift!;
  if (layout === TT_BLOCK_S1_LAYOUT || layout === TT_BLOCK_S2_LAYOUT) {
    // A block maps 2^blockShift bytes, so address bits below that are RES0.
    const stride = shift - Math.log2(TT_DESC_BYTES);
    const blockShift = shift + (LAST_LEVEL - level) * stride;
    const first = large ? TT_ADDR_64K.ADDR.lsb : oaField.lsb;
    for (let bit = first; bit < blockShift; bit++) extraReserved[bit >> 5] |= 1 << (bit & 31);
    const base = Math.floor(address / 2 ** blockShift) * 2 ** blockShift;
    notes.push(`maps a ${sizeName(blockShift)} block at 0x${base.toString(16)}`);
  }
  const record = decodeRecord(layout, w, o, source, notes, extraReserved);
  if (large) {
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
