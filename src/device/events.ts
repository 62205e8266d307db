/**
 * The event queue producer (IHI 0070 7.1–7.3): encodes each fault the engine reports as an event record (layouts
 * from gen/), writes it at EVENTQ_PROD, advances PROD with its wrap bit, signals overflow through OVFLG, and raises
 * the event queue interrupt. No allocation per event: one scratch record is reused.
 * @module
 */
import {
  CR0ACK,
  EVENT_LAYOUT,
  EVENTQ_CONS,
  EVENTQ_PROD,
  EVENTS,
  EVT_CLASS,
  GERROR,
  REG,
  VA_LAYOUT,
} from "../../gen/mod.ts";
import type { Field, Layout } from "../../gen/mod.ts";
import type { GuestMemory } from "../core/memory.ts";
import type { RegisterFile } from "../registers/regfile.ts";
import { word } from "../registers/regfile.ts";
import type { EventSink, Fault } from "../core/types.ts";
import { writeVa } from "../core/address.ts";
import { pow2, WORD_BYTES } from "../core/numbers.ts";
import { EVENTQ_IRQ, type Interrupts } from "./irq.ts";
import { EVENTQ, Ring } from "../registers/ring.ts";

/** The fields of one event layout that a Fault can fill, looked up once by name (absent where the type has none). */
interface RecordFields {
  readonly type?: Field;
  readonly sid?: Field;
  readonly ssv?: Field;
  readonly ssid?: Field;
  readonly pnu?: Field;
  readonly ind?: Field;
  readonly rnw?: Field;
  readonly s2?: Field;
  readonly cls?: Field;
  readonly ttrnw?: Field;
  readonly inLo?: Field;
  readonly inHi?: Field;
  readonly fetch?: Field;
  readonly ipa?: Field;
  readonly stall?: Field;
  readonly stag?: Field;
  readonly atsR?: Field;
  readonly atsW?: Field;
  readonly atsX?: Field;
  readonly atsPriv?: Field;
  readonly span?: Field;
}

function fieldsOf(layout: Layout): RecordFields {
  const f = new Map(layout.fields.map((x) => [x.name, x]));
  return {
    type: f.get("Type"),
    sid: f.get("StreamID"),
    ssv: f.get("SSV"),
    ssid: f.get("SubstreamID"),
    pnu: f.get("PnU"),
    ind: f.get("InD"),
    rnw: f.get("RnW"),
    s2: f.get("S2"),
    cls: f.get("CLASS"),
    ttrnw: f.get("TTRnW"),
    inLo: f.get("InputAddr_LO"),
    inHi: f.get("InputAddr_HI"),
    fetch: f.get("FetchAddr"),
    ipa: f.get("IPA"),
    stall: f.get("Stall"),
    stag: f.get("STAG"),
    atsR: f.get("R"),
    atsW: f.get("W"),
    atsX: f.get("X"),
    atsPriv: f.get("PRIV"),
    span: f.get("Span"),
  };
}

const FIELDS: ReadonlyMap<number, RecordFields> = new Map([...EVENTS].map(([code, l]) => [code, fieldsOf(l)]));

const W_CR0ACK = word(REG.CR0ACK);
const W_EVENTQ_PROD = word(REG.EVENTQ_PROD);
const W_EVENTQ_CONS = word(REG.EVENTQ_CONS);
const W_GERROR = word(REG.GERROR);
const W_GERRORN = word(REG.GERRORN);
const bit = (b: boolean) => (b ? 1 : 0);
const shifted = (f: Field, v: number) => Math.floor(v / pow2(f.shift ?? 0));
/** The input address as the record's InputAddr holds it: 64 bits, a tag in place of the sign extension (VA). */
const INPUT = new Uint32Array(VA_LAYOUT.words);

/**
 * Encodes `fault` as an event record into `out` (EVENT_LAYOUT.words words); false for a type with no record layout.
 * The record's layout alone decides which of the fault's fields it carries.
 */
export function encodeEvent(fault: Fault, out: Uint32Array): boolean {
  const r = FIELDS.get(fault.type);
  if (r === undefined) return false;
  out.fill(0);
  r.type?.set(out, fault.type);
  r.sid?.set(out, fault.sid >>> 0);
  if (r.ssv === undefined) r.ssid?.set(out, fault.ssid); // C_BAD_SUBSTREAMID: the field is always valid
  else if (fault.ssv) r.ssv.set(out, 1), r.ssid?.set(out, fault.ssid);
  r.pnu?.set(out, bit(fault.pnu));
  r.ind?.set(out, bit(fault.ind));
  r.rnw?.set(out, bit(fault.rnw));
  r.s2?.set(out, bit(fault.s2));
  r.cls?.set(out, fault.class); // the engine sets it where the type defines it (TT for a stage-1 walk abort)
  // TTRnW is valid for CLASS TT at stage 2, UNKNOWN otherwise (IHI 0070 7.3.16): 0 there.
  r.ttrnw?.set(out, bit(fault.s2 && fault.class === EVT_CLASS.TT && fault.ttRead));
  // The input address is 64-bit two's complement (the engine gives upper-range, TTB1, addresses as negative
  // numbers); a tagged address reports its tag in bits [63:56] instead of the sign extension of bit 55.
  if (r.inLo !== undefined || r.inHi !== undefined) {
    writeVa(INPUT, fault.inputAddr, fault.inputTag);
    if (r.inLo !== undefined) r.inLo.set(out, shifted(r.inLo, INPUT[0]));
    r.inHi?.set(out, INPUT[1]);
  }
  if (r.fetch !== undefined) r.fetch.set(out, shifted(r.fetch, fault.fetchAddr));
  if (r.ipa !== undefined && fault.s2) r.ipa.set(out, shifted(r.ipa, fault.ipa));
  // F_BAD_ATS_TREQ: the permissions the request asked for, before STE overrides (IHI 0070 7.3.6: "Write == !NW",
  // "R (Read) is always 1 in a request"), and "Span equals the number of STUs requested": one, as a request here
  // translates one address.
  if (r.atsR !== undefined) {
    r.atsR.set(out, 1);
    r.atsW?.set(out, bit(!fault.rnw));
    r.atsX?.set(out, bit(fault.ind));
    r.atsPriv?.set(out, bit(fault.pnu));
    r.span?.set(out, 1);
  }
  if (fault.stall && r.stall !== undefined) {
    r.stall.set(out, 1);
    r.stag?.set(out, fault.stag);
  }
  return true;
}

const SCRATCH = new Ring(EVENTQ.entryBytes);

/**
 * Whether the event queue of register frame `w` is writable (IHI 0070 7.2.1): enabled, not full, no unacknowledged
 * EVENTQ_ABT_ERR (and, in this model, PROD and CONS consistent).
 */
export function eventQueueWritable(w: Uint32Array): boolean {
  if (!CR0ACK.EVENTQEN.get(w, W_CR0ACK)) return false;
  if (GERROR.EVENTQ_ABT_ERR.get(w, W_GERROR) !== GERROR.EVENTQ_ABT_ERR.get(w, W_GERRORN)) return false;
  const ring = SCRATCH.load(EVENTQ, w);
  const used = ring.entries(EVENTQ_PROD.WR.get(w, W_EVENTQ_PROD), EVENTQ_CONS.RD.get(w, W_EVENTQ_CONS));
  return used >= 0 && used < ring.size;
}

/** The event queue: the engine's EventSink. */
export class EventQueue implements EventSink {
  /** Records written to guest memory, and records lost (queue full or write aborted), for tests and tools. */
  readonly counts = { written: 0, lost: 0 };
  readonly #record = new Uint32Array(EVENT_LAYOUT.words);
  readonly #ring = new Ring(EVENTQ.entryBytes);

  readonly #regs: RegisterFile;
  readonly #memory: GuestMemory;
  readonly #irq: Interrupts;

  constructor(
    regs: RegisterFile,
    memory: GuestMemory,
    irq: Interrupts,
  ) {
    this.#regs = regs;
    this.#memory = memory;
    this.#irq = irq;
  }

  /**
   * Whether the queue is writable (IHI 0070 7.2.1): enabled, not full, no unacknowledged EVENTQ_ABT_ERR (and, in this
   * model, PROD and CONS consistent).
   */
  writable(): boolean {
    return eventQueueWritable(this.#regs.words);
  }

  /**
   * A stalled transaction's record (IHI 0070 7.2.1, 7.4): written only into a writable queue, and never lost: while
   * the queue is not writable the record waits (the transaction is retried later), with no overflow. True if written.
   */
  recordStall(fault: Fault): boolean {
    if (!this.writable()) return false;
    const before = this.counts.written;
    this.report(fault);
    return this.counts.written !== before;
  }

  /**
   * Records one event; nothing when the queue is disabled; a lost record while EVENTQ_ABT_ERR is active, or when the
   * queue is full (then with OVFLG).
   */
  report(fault: Fault): void {
    const w = this.#regs.words;
    if (!CR0ACK.EVENTQEN.get(w, W_CR0ACK)) return; // IHI 0070 7.2: a disabled queue records nothing
    // IHI 0070 7.2.1, 7.2.2: with EVENTQ_ABT_ERR unacknowledged the queue is not writable ("The SMMU only writes to the
    // Event queue when the queue is both enabled and writable"): the record is discarded, which is no overflow.
    if (GERROR.EVENTQ_ABT_ERR.get(w, W_GERROR) !== GERROR.EVENTQ_ABT_ERR.get(w, W_GERRORN)) return this.#lose();
    if (!encodeEvent(fault, this.#record)) return;
    const ring = this.#ring.load(EVENTQ, w);
    const prod = ring.index(EVENTQ_PROD.WR.get(w, W_EVENTQ_PROD));
    const cons = EVENTQ_CONS.RD.get(w, W_EVENTQ_CONS);
    if (ring.entries(prod, cons) < 0) return this.#lose(); // CONS inconsistent with PROD: nothing is produced
    if (ring.full(prod, cons)) {
      // Full (same index, different wrap). IHI 0070 7.4: the record is lost and OVFLG toggles, once per
      // acknowledged overflow (only while OVFLG equals CONS.OVACKFLG).
      if (EVENTQ_PROD.OVFLG.get(w, W_EVENTQ_PROD) === EVENTQ_CONS.OVACKFLG.get(w, W_EVENTQ_CONS)) {
        EVENTQ_PROD.OVFLG.set(w, EVENTQ_PROD.OVFLG.get(w, W_EVENTQ_PROD) ^ 1, W_EVENTQ_PROD);
        this.#mirror();
      }
      return this.#lose();
    }
    const at = ring.slot(prod);
    for (let i = 0; i < this.#record.length; i++) {
      if (!this.#memory.write32(at + WORD_BYTES * i, this.#record[i])) {
        this.#irq.raise(GERROR.EVENTQ_ABT_ERR);
        return this.#lose();
      }
    }
    EVENTQ_PROD.WR.set(w, ring.next(prod), W_EVENTQ_PROD);
    this.#mirror();
    this.counts.written++;
    this.#irq.signal(EVENTQ_IRQ);
  }

  #lose(): void {
    this.counts.lost++;
  }

  /** Keeps the page-0 alias in step with EVENTQ_PROD. */
  #mirror(): void {
    this.#regs.words[word(REG.EVENTQ_PROD_P0)] = this.#regs.words[W_EVENTQ_PROD];
  }
}
