/**
 * How the translation engine ends a transaction that does not complete (IHI 0070 3.12 fault reporting): the one
 * {@link Fault} the walkers and the configuration reader describe a fault in is completed with the transaction, then
 * recorded as an event, held as a stall, or kept quiet. The engine's cold path, kept out of translate.ts so that it
 * reads as the paths that translate; the Translator's private fault methods hand over to a {@link FaultReporter},
 * adding the transaction's tag.
 * @module
 */
import { EVENT_TYPE, EVT_CLASS } from "../../gen/mod.ts";
import { ACCESS, NO_PA, NO_SSID, NO_STAG, setCause, translationRelated } from "../core/types.ts";
import type { EventSink, Fault, StallSink } from "../core/types.ts";
import type { ConfigReader } from "./config.ts";
import type { StreamConfig } from "./config_types.ts";
import type { Context } from "./tlb_context.ts";

/**
 * Completes and reports the engine's fault. Each method takes the transaction (StreamID, SubstreamID or NO_SSID,
 * input address, ACCESS flags, and its tag or NO_TAG) and whether it has effects (a probe's has none: nothing is
 * counted, recorded or held).
 */
export class FaultReporter {
  /** The engine's one Fault, shared with its walkers and its configuration reader. */
  readonly fault: Fault;
  /** Faults are not recorded (an ATS request: IHI 0070 3.9.1 "the SMMU does not record fault events"). */
  quiet = false;
  /** The stall model, when the device offers it: where stalling faults go (IHI 0070 3.12.2). */
  stalls: StallSink | null = null;
  readonly #events: EventSink;
  /** The engine's counters: faults are counted here. */
  readonly #stats: { faults: number };
  /** The reader that describes configuration faults, and why it refused. */
  readonly #reader: ConfigReader;

  constructor(fault: Fault, events: EventSink, stats: { faults: number }, reader: ConfigReader) {
    this.fault = fault;
    this.#events = events;
    this.#stats = stats;
    this.#reader = reader;
  }

  /**
   * A stage-1 walk failed (`walked`: the walker described the fault, a table access's stage-2 fault included) or did
   * not start (the address outside every range, E0PD, a tag no TBI ignores: a stage-1 Translation fault, CLASS IN).
   */
  s1Fault(
    ctx: Context,
    ssid: number,
    iova: number,
    flags: number,
    tag: number,
    effects: boolean,
    walked: boolean,
  ): false {
    const f = this.fault;
    if (!walked) setCause(f, EVENT_TYPE.F_TRANSLATION, false, EVT_CLASS.IN);
    this.describe(ctx.sid, ssid, iova, flags, tag);
    const related = translationRelated(f.type);
    const record = !related || (f.s2 ? ctx.stream.s2Record : ctx.cd!.record);
    this.report(record, effects, related && (f.s2 ? ctx.stream.s2Stall : ctx.cd!.stall));
    return false;
  }

  /** The stage-2 walk of the transaction's IPA failed (the walker described the fault: S2, CLASS IN, the IPA). */
  s2Fault(ctx: Context, ssid: number, iova: number, flags: number, tag: number, effects: boolean): false {
    this.describe(ctx.sid, ssid, iova, flags, tag);
    const related = translationRelated(this.fault.type);
    this.report(!related || ctx.stream.s2Record, effects, related && ctx.stream.s2Stall);
    return false;
  }

  /**
   * The configuration refused the transaction (the reader, or the translator's context lookup, described the fault
   * and whether it is recorded); a stage-2 fault of a CD fetch stalls as STE.S2S says.
   */
  configFault(
    sid: number,
    ssid: number,
    iova: number,
    flags: number,
    tag: number,
    effects: boolean,
    stream: StreamConfig | null,
    reason = this.#reader.reason,
  ): null {
    const f = this.fault;
    if (this.#reader.trace !== null) this.#reader.trace.refused = reason;
    this.describe(sid, ssid, iova, flags, tag);
    const stall = f.s2 && translationRelated(f.type) && stream !== null && stream.s2Stall;
    this.report(f.recorded, effects, stall);
    return null;
  }

  /**
   * Stage 1 bypassed, the input address beyond the IAS: a stage-1 Address Size fault, S2 = 0, CLASS = IN, recorded
   * (no CD's R applies: IHI 0070 3.4 "F_ADDR_SIZE is recorded", 7.3.14).
   */
  inputAddressSize(sid: number, ssid: number, iova: number, flags: number, tag: number, effects: boolean): number {
    setCause(this.fault, EVENT_TYPE.F_ADDR_SIZE, false, EVT_CLASS.IN);
    this.describe(sid, ssid, iova, flags, tag);
    this.report(true, effects);
    return NO_PA;
  }

  /** An abort without an event (STE.Config abort, GBPA abort, bypass out of range): fault.type is 0. */
  abort(sid: number, ssid: number, iova: number, flags: number, tag: number, type: number, effects: boolean): number {
    setCause(this.fault, type);
    this.describe(sid, ssid, iova, flags, tag);
    this.fault.recorded = false;
    if (effects) this.#stats.faults++;
    return NO_PA;
  }

  /**
   * Describes the transaction in the fault, in full: which of these fields a record carries is for encodeEvent to say,
   * from the record's layout (src/device/events.ts).
   */
  describe(sid: number, ssid: number, iova: number, flags: number, tag: number): void {
    const f = this.fault;
    f.sid = sid;
    f.ssv = ssid !== NO_SSID;
    f.ssid = ssid !== NO_SSID ? ssid : 0;
    f.inputAddr = iova;
    f.inputTag = tag;
    f.rnw = (flags & ACCESS.WRITE) === 0;
    f.ind = f.rnw && (flags & ACCESS.EXEC) !== 0;
    f.pnu = (flags & ACCESS.PRIV) !== 0;
    f.stall = false;
    f.stag = NO_STAG;
  }

  /**
   * The fault in `fault` ends the transaction: recorded if `record`; with `stall` (a stalling configuration) it is
   * held instead, its record written with Stall = 1, unless STALL_MAX transactions are held (then it terminates).
   */
  report(record: boolean, effects: boolean, stall = false): void {
    const f = this.fault;
    f.recorded = record && !this.quiet;
    if (!effects) return;
    this.#stats.faults++;
    if (stall && this.stalls !== null && !this.quiet && this.stalls.hold(f) !== NO_STAG) {
      f.recorded = true; // "The SMMU always records the details of the access" (IHI 0070 3.12.2)
      return;
    }
    if (f.recorded) this.#events.report(f);
  }
}
