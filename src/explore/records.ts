/**
 * Decoded records for the explorer: every STE, CD, descriptor, command, event and register value the page shows,
 * decoded field by field with the generated spec (through the command line's decoder), and each layout's
 * descriptions collected once per model.
 * @module
 */
import {
  CD_LAYOUT,
  COMMAND,
  COMMANDS,
  EVENT,
  EVENTS,
  L1CD_LAYOUT,
  L1STD_LAYOUT,
  type Layout,
  type RegisterInfo,
  STE_LAYOUT,
  TT_DESC_LAYOUT,
} from "../../gen/mod.ts";
import { decode, type DecodedRecord, decodeRecord } from "../decode/records.ts";
import type { ConfigRead } from "../translation/explain.ts";
import type { LayoutView, RecordView } from "./model.ts";

/** `n` as hex; negative numbers (the upper half of the input address space) as their 64-bit pattern. */
export function hex(n: number | bigint): string {
  const v = typeof n === "bigint" ? n : BigInt(n);
  return `0x${BigInt.asUintN(64, v).toString(16)}`;
}

/** A descriptor's 64 bits from its halves, as 16 hex digits. */
export function hex64(lo: number, hi: number): string {
  return `0x${(hi >>> 0).toString(16).padStart(8, "0")}${(lo >>> 0).toString(16).padStart(8, "0")}`;
}

const STRUCTURES: Record<ConfigRead["structure"], Layout> = {
  L1STD: L1STD_LAYOUT,
  STE: STE_LAYOUT,
  L1CD: L1CD_LAYOUT,
  CD: CD_LAYOUT,
};

const GRANULE_KIB = { 12: 4, 14: 16, 16: 64 } as const;

/** Makes {@link RecordView}s and keeps the descriptions of the layouts they use. */
export class Records {
  /** Layout name → descriptions, for the model. */
  readonly layouts: Record<string, LayoutView> = {};

  /** A decoded record as the page shows it. */
  view(d: DecodedRecord, layout?: Layout): RecordView {
    if (!(d.layout in this.layouts)) {
      const fields: Record<string, string> = {};
      for (const f of d.fields) fields[f.name] = f.description;
      this.layouts[d.layout] = { description: d.description, fields };
    }
    const words: string[] = [];
    const w = d.words;
    if (w.length === 1 || (layout?.bits ?? 64) === 32) words.push(`0x${(w[0] >>> 0).toString(16).padStart(8, "0")}`);
    else for (let i = 0; i < w.length; i += 2) words.push(hex64(w[i], w[i + 1] ?? 0));
    return {
      layout: d.layout,
      words,
      fields: d.fields.map((f) => ({
        name: f.name,
        bits: f.lsb === f.msb ? `[${f.lsb}]` : `[${f.msb}:${f.lsb}]`,
        value: hex(f.value),
        meaning: f.meaning,
      })),
      reserved: d.reservedSet,
      notes: d.notes,
    };
  }

  /** An STE, CD or level-1 descriptor as read. */
  structure(structure: ConfigRead["structure"], words: readonly number[]): RecordView {
    return this.view(decodeRecord(STRUCTURES[structure], Uint32Array.from(words)));
  }

  /** A translation table descriptor read at `level` of a stage-`stage` walk with a 2^granuleShift granule. */
  descriptor(stage: 1 | 2, level: number, granuleShift: number, lo: number, hi: number): RecordView {
    const granule = GRANULE_KIB[granuleShift as keyof typeof GRANULE_KIB] ?? 4;
    try {
      const [d] = decode({ kind: "pte", text: hex64(lo, hi), pte: { stage, level, granule } }).records;
      return this.view(d);
    } catch {
      // A level no walk of this granule has (cannot come from the walker): the bare descriptor.
      return this.view(decodeRecord(TT_DESC_LAYOUT, Uint32Array.of(lo, hi)));
    }
  }

  /** An event record, by its type; null for a type the spec does not define. */
  event(words: Uint32Array): RecordView | null {
    const layout = EVENTS.get(EVENT.Type.get(words));
    return layout ? this.view(decodeRecord(layout, words)) : null;
  }

  /** A command, by its opcode; null for an opcode the spec does not define. */
  command(words: Uint32Array): RecordView | null {
    const layout = COMMANDS.get(COMMAND.Opcode.get(words));
    return layout ? this.view(decodeRecord(layout, words)) : null;
  }

  /** A register's value. */
  register(info: RegisterInfo, value: bigint): RecordView {
    const w = Uint32Array.of(Number(value & 0xffff_ffffn), Number(value >> 32n));
    return this.view(decodeRecord(info.layout, w.subarray(0, info.layout.words)), info.layout);
  }
}

/** The meaning of field `name` of a record ("" when it has none), e.g. an enum name or "address 0x…". */
export function meaningOf(record: RecordView, name: string): string {
  return record.fields.find((f) => f.name === name)?.meaning ?? "";
}

/** The first address a record's fields give (a descriptor's next table or output), or "". */
export function addressIn(record: RecordView): string {
  const f = record.fields.find((x) => x.meaning.startsWith("address "));
  return f ? f.meaning.slice("address ".length).split(" ")[0] : "";
}
