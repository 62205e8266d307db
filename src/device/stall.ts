/**
 * The stall model (IHI 0070 3.12.2, 4.7.1, 4.7.2, 7.2.1): transactions whose translation-related fault a stalling
 * configuration (CD.S, STE.S2S) holds, each under a STAG its event record carries (Stall = 1), until CMD_RESUME
 * retries or terminates it, CMD_STALL_TERM terminates its stream's, or SMMUEN is cleared. At most IDR5.STALL_MAX are
 * held; beyond that a stalling fault terminates and is recorded with Stall = 0, so no more stall records than
 * STALL_MAX are ever unacknowledged (6.3.6). A stall whose record the event queue cannot take stays unrecorded and is
 * retried as newly arrived once the queue is writable again (3.12.2, 7.2.1).
 *
 * Commands only mark transactions; the retries and terminations happen when the device call that consumed them has
 * finished its commands ({@link Stalls.settle}), and each host's `onEnd` callback runs after that.
 * @module
 */
import {
  CR0,
  EVT_TYPE_NAMES,
  IDR0,
  IDR0_STALL_MODEL,
  IDR1,
  IDR5,
  REG,
  STALL_STATE,
  STALL_STATE_LAYOUT,
  VA_LAYOUT,
} from "../../gen/mod.ts";
import { HostError, SavedStateError } from "../core/errors.ts";
import { eventQueueWritable } from "./events.ts";
import { word } from "../registers/regfile.ts";
import { ACCESS, NO_SSID, NO_STAG, NO_TAG } from "../core/types.ts";
import { readVa, writeVa } from "../core/address.ts";
import type { Fault, StallSink } from "../core/types.ts";

/**
 * A transaction the SMMU holds stalled, as its issuer sees it: `Smmu.translate` and `DmaView` copies return one in
 * their result. It ends once (`state` leaves "stalled"), with `result` what the call would have returned had it not
 * stalled: the retry's outcome, or the abort of its termination. A retry that stalls again keeps the same object under
 * a new STAG (a new event record, IHI 0070 3.12.2: "it is considered to be a new transaction").
 */
export interface Stall<R = unknown> {
  /** StreamID of the transaction. */
  readonly sid: number;
  /** SubstreamID, or -1 for none. */
  readonly ssid: number;
  /** The input address of the stalled access (a DMA copy's moves on as it progresses). */
  readonly iova: number;
  /** A write (RnW = 0). */
  readonly write: boolean;
  /** An instruction fetch. */
  readonly exec: boolean;
  /** Privileged. */
  readonly priv: boolean;
  /** The STAG of its stall event record while stalled; -1 once ended. */
  readonly stag: number;
  /** Whether its stall event record is in the event queue (else it waits for the queue to become writable). */
  readonly recorded: boolean;
  /** "stalled" until it ends; "completed" when a retry went through, "terminated" otherwise. */
  readonly state: "stalled" | "completed" | "terminated";
  /** How it ended (null while stalled). */
  readonly result: R | null;
  /**
   * Called once when it ends, after the device call that ended it has finished its work (never in the middle of a
   * command): it may call anything on the device. Set by the host; errors it throws propagate out of that call.
   */
  onEnd: ((result: R, stall: Stall<R>) => void) | null;
}

/** Where stall event records go: true when the record was written (the queue was writable). */
export type StallRecorder = (fault: Fault) => boolean;

/** One held transaction: the host's {@link Stall} and what the SMMU needs to retry or end it. */
export class Pending<R = unknown> implements Stall<R> {
  stag = NO_STAG;
  recorded = false;
  state: Stall["state"] = "stalled";
  result: R | null = null;
  #onEnd: ((result: R, stall: Stall<R>) => void) | null = null;
  /** The input address's tag (bits [63:56]) when the address was tagged, else -1. */
  tag = NO_TAG;
  /** Marked by a command: retry or terminate at the next settle (0: none). */
  action = 0;
  /** Re-issues the transaction (a DMA copy continues from where it stalled); returns the call's result. */
  run: () => R;
  /** The result of terminating it. */
  abort: () => R;

  constructor(
    readonly sid: number,
    readonly ssid: number,
    public iova: number,
    readonly flags: number,
    run: () => R,
    abort: () => R,
  ) {
    this.run = run;
    this.abort = abort;
  }

  get onEnd(): ((result: R, stall: Stall<R>) => void) | null {
    return this.#onEnd;
  }
  set onEnd(fn: ((result: R, stall: Stall<R>) => void) | null) {
    if (fn !== null && typeof fn !== "function") throw new HostError("Stall.onEnd must be a function or null");
    this.#onEnd = fn;
  }

  get write(): boolean {
    return (this.flags & ACCESS.WRITE) !== 0;
  }
  get exec(): boolean {
    return (this.flags & ACCESS.EXEC) !== 0;
  }
  get priv(): boolean {
    return (this.flags & ACCESS.PRIV) !== 0;
  }
}

const RETRY = 1, TERMINATE = 2;

/** A held transaction as saved state records it (see save_restore.ts). */
export interface SavedStall {
  sid: number;
  ssid: number;
  iova: number;
  tag: number;
  flags: number;
  stag: number;
  recorded: boolean;
}

/** The transactions one SMMU holds stalled, by STAG. */
export class Stalls implements StallSink {
  /** By STAG; a STAG is free while its slot is undefined. */
  #slots: (Pending | undefined)[] = [];
  #free: number[] = [];
  /** Marked by commands (or SMMUEN cleared), or waiting for the event queue: settled after the commands. */
  #due: Pending[] = [];
  /** Ended, their `onEnd` not yet called. */
  #ended: Pending[] = [];
  /** The transaction being retried: a stall now is its new stall. */
  #retrying: Pending | null = null;
  #settling = false;
  #unrecorded = 0;
  /** Stall records written, and stalling faults terminated because STALL_MAX transactions were held. */
  readonly counts = { stalled: 0, overflowed: 0 };

  readonly #record: StallRecorder;
  readonly #bareResult: (p: Pending) => { run: () => unknown; abort: () => unknown };
  readonly #writable: () => boolean;

  constructor(
    record: StallRecorder,
    /** The result a bare transaction (one no caller re-attached) gives: `Smmu.translate`'s. */
    bare: (p: Pending) => { run: () => unknown; abort: () => unknown },
    /** Whether the event queue is writable now (IHI 0070 7.2.1). */
    writable: () => boolean,
  ) {
    this.#record = record;
    this.#bareResult = bare;
    this.#writable = writable;
  }

  /** Sets the number of STAGs (IDR5.STALL_MAX; 0 without the stall model). Ends nothing: call on an empty table. */
  resize(max: number): void {
    this.#slots = new Array(max).fill(undefined);
    this.#free = Array.from({ length: max }, (_, i) => max - 1 - i); // STAG 0 first
  }

  /** Transactions held now (stalled, not yet retried or terminated), by STAG. */
  get held(): Pending[] {
    return this.#slots.filter((p): p is Pending => p !== undefined);
  }

  /** The held transaction with `stag`. */
  get(stag: number): Pending | undefined {
    return this.#slots[stag];
  }

  hold(fault: Fault): number {
    const stag = this.#free.pop();
    if (stag === undefined) {
      this.counts.overflowed++;
      return NO_STAG;
    }
    const flags = (fault.rnw ? 0 : ACCESS.WRITE) | (fault.ind ? ACCESS.EXEC : 0) | (fault.pnu ? ACCESS.PRIV : 0);
    const retrying = this.#retrying;
    this.#retrying = null; // one stall per retry
    const p = retrying ?? this.#bare(fault.sid, fault.ssv ? fault.ssid : NO_SSID, fault.inputAddr, flags);
    p.iova = fault.inputAddr;
    p.tag = fault.inputTag;
    p.stag = stag;
    this.#slots[stag] = p;
    fault.stall = true;
    fault.stag = stag;
    p.recorded = this.#record(fault);
    if (p.recorded) this.counts.stalled++;
    else this.#unrecorded++;
    return stag;
  }

  /** CMD_RESUME: the transaction of `sid` under `stag`, if any, is marked for retry or termination (IHI 0070 4.7.1). */
  resume(sid: number, stag: number, retry: boolean): void {
    const p = this.#slots[stag];
    if (p === undefined || p.sid !== sid) return; // "effectively a no-op"
    this.#mark(p, retry ? RETRY : TERMINATE);
  }

  /**
   * CMD_STALL_TERM: every transaction of `sid` held is marked for termination (IHI 0070 4.7.2). One a CMD_RESUME
   * already marked for retry keeps it: "Consumption of CMD_RESUME(Retry) ... does guarantee that, if it has not, it
   * will be retried at a later time" (IHI 0070 4.7.1).
   */
  terminateStream(sid: number): void {
    for (const p of this.#slots) if (p !== undefined && p.sid === sid) this.#mark(p, TERMINATE);
  }

  /** SMMUEN cleared, or a reset: every transaction held is terminated with an abort (IHI 0070 6.3.9.6). */
  terminateAll(): void {
    for (const p of this.#slots) if (p !== undefined) this.#mark(p, TERMINATE);
    for (const p of this.#due) if (p.action === RETRY) p.action = TERMINATE;
  }

  /** Frees `p`'s STAG ("returned to the set of values that the SMMU might use") and queues it for settling. */
  #mark(p: Pending, action: number): void {
    this.#slots[p.stag] = undefined;
    this.#free.push(p.stag);
    if (!p.recorded) this.#unrecorded--;
    p.stag = NO_STAG;
    p.action = action;
    this.#due.push(p);
  }

  /**
   * Carries out what commands marked, retries unrecorded stalls when the event queue has become writable, then calls
   * the `onEnd` callbacks of the transactions that ended. Re-entered (a callback calling the device), it returns at
   * once: the running loop takes what the nested call adds.
   */
  settle(): void {
    if (this.#settling) return;
    this.#settling = true;
    let retried = false; // unrecorded stalls are retried once per settle: a retry may fill the queue again
    try {
      for (;;) {
        if (!retried && this.#unrecorded > 0 && this.#writable()) {
          retried = true;
          for (const p of this.#slots) if (p !== undefined && !p.recorded) this.#mark(p, RETRY);
        }
        const p = this.#due.shift();
        if (p !== undefined) {
          this.#carry(p);
          continue;
        }
        const e = this.#ended.shift();
        if (e === undefined) return;
        e.onEnd?.(e.result, e);
      }
    } finally {
      this.#settling = false;
    }
  }

  /** Whether anything waits for {@link settle}. */
  get unsettled(): boolean {
    return this.#due.length > 0 || this.#ended.length > 0 || (this.#unrecorded > 0 && this.#writable());
  }

  #carry(p: Pending): void {
    const action = p.action;
    p.action = 0;
    if (action === TERMINATE) return this.#end(p, "terminated", p.abort());
    this.#retrying = p;
    let result: unknown;
    try {
      result = p.run();
    } finally {
      this.#retrying = null;
    }
    if (p.stag !== NO_STAG) return; // stalled again, under a new STAG
    this.#end(p, isFailure(result) ? "terminated" : "completed", result);
  }

  /** A transaction held for a caller that does not attach its own continuation. */
  #bare(sid: number, ssid: number, iova: number, flags: number): Pending {
    const p = new Pending<unknown>(sid, ssid, iova, flags, noop, noop);
    const r = this.#bareResult(p);
    p.run = r.run;
    p.abort = r.abort;
    return p;
  }

  #end(p: Pending, state: Stall["state"], result: unknown): void {
    p.state = state;
    p.result = result;
    this.#ended.push(p);
  }

  /** Every held transaction, for save(). */
  save(): SavedStall[] {
    return this.held.map((p) => ({
      sid: p.sid,
      ssid: p.ssid,
      iova: p.iova,
      tag: p.tag,
      flags: p.flags,
      stag: p.stag,
      recorded: p.recorded,
    }));
  }

  /**
   * Replaces the held transactions with `saved` (restore: a pure load, nothing retried or recorded). The transactions
   * of the state replaced are abandoned: they read "terminated" and their callbacks are not called.
   */
  load(saved: readonly SavedStall[]): void {
    for (const p of [...this.held, ...this.#due]) {
      p.state = "terminated";
      p.stag = NO_STAG;
    }
    this.#due = [];
    this.#ended = [];
    this.resize(this.#slots.length);
    this.#unrecorded = 0;
    for (const s of saved) {
      const p = this.#bare(s.sid, s.ssid, s.iova, s.flags);
      p.tag = s.tag;
      p.stag = s.stag;
      p.recorded = s.recorded;
      if (!s.recorded) this.#unrecorded++;
      this.#slots[s.stag] = p;
      this.#free.splice(this.#free.indexOf(s.stag), 1);
    }
  }
}

/** The input address as STALL_STATE's InputAddr holds it: 64 bits, the tag in place of the sign extension (VA). */
const INPUT = new Uint32Array(VA_LAYOUT.words);

/** A held transaction as its saved record (STALL_STATE): the input address as the event record gives it. */
export function encodeStall(s: SavedStall): Uint32Array {
  const w = new Uint32Array(STALL_STATE_LAYOUT.words);
  STALL_STATE.StreamID.set(w, s.sid >>> 0);
  if (s.ssid >= 0) STALL_STATE.SSV.set(w, 1), STALL_STATE.SubstreamID.set(w, s.ssid);
  STALL_STATE.STAG.set(w, s.stag);
  STALL_STATE.PnU.set(w, (s.flags & ACCESS.PRIV) !== 0 ? 1 : 0);
  STALL_STATE.InD.set(w, (s.flags & ACCESS.EXEC) !== 0 ? 1 : 0);
  STALL_STATE.RnW.set(w, (s.flags & ACCESS.WRITE) !== 0 ? 0 : 1);
  STALL_STATE.Recorded.set(w, s.recorded ? 1 : 0);
  writeVa(INPUT, s.iova, s.tag);
  STALL_STATE.InputAddr_LO.set(w, INPUT[0]);
  STALL_STATE.InputAddr_HI.set(w, INPUT[1]);
  return w;
}

/**
 * The saved records of held transactions, checked against the frame `w` they are restored with: a list is accepted
 * iff save() could have produced it there (throws SavedStateError naming the record and field). Transactions are held
 * only with the stall model, while SMMUEN is 1 (clearing it terminates them), at most IDR5.STALL_MAX of them, each
 * under its own STAG below it, with a StreamID and SubstreamID the SMMU takes, never a write marked instruction; one
 * whose record is not written only while the event queue is not writable (else it would have been retried).
 */
export function decodeStalls(w: Uint32Array, records: readonly Uint32Array[]): SavedStall[] {
  const stalls = IDR0.STALL_MODEL.get(w, word(REG.IDR0)) !== IDR0_STALL_MODEL.TERMINATE_ONLY;
  const max = stalls ? IDR5.STALL_MAX.get(w, word(REG.IDR5)) : 0;
  if (records.length > max) throw new SavedStateError("STALLS", `${records.length} held, more than STALL_MAX ${max}`);
  if (records.length > 0 && CR0.SMMUEN.get(w, word(REG.CR0)) === 0) {
    throw new SavedStateError("STALLS", "transactions held with SMMUEN 0 (clearing SMMUEN terminates them)");
  }
  const sidBits = IDR1.SIDSIZE.get(w, word(REG.IDR1));
  const ssidBits = IDR1.SSIDSIZE.get(w, word(REG.IDR1));
  const stags = new Set<number>();
  // CR0ACK is derived: once restored it acknowledges the saved CR0.
  const acked = w.slice();
  acked[word(REG.CR0ACK)] = acked[word(REG.CR0)];
  return records.map((r, i) => {
    const bad = (field: string, why: string) => new SavedStateError(`STALLS[${i}].${field}`, why);
    const stag = STALL_STATE.STAG.get(r);
    if (stag >= max) throw bad("STAG", `${stag} is not below STALL_MAX ${max}`);
    if (stags.has(stag)) throw bad("STAG", `${stag} is held twice`);
    stags.add(stag);
    const sid = STALL_STATE.StreamID.get(r);
    if (sidBits < IDR1.SIDSIZE.max && sid >= 2 ** sidBits) throw bad("StreamID", `beyond IDR1.SIDSIZE ${sidBits}`);
    const ssv = STALL_STATE.SSV.get(r) === 1;
    const ssid = STALL_STATE.SubstreamID.get(r);
    if (ssv ? ssid >= 2 ** ssidBits : ssid !== 0) throw bad("SubstreamID", ssv ? "beyond SSIDSIZE" : "set without SSV");
    const write = STALL_STATE.RnW.get(r) === 0;
    if (write && STALL_STATE.InD.get(r) === 1) throw bad("InD", "a write is never an instruction fetch");
    const recorded = STALL_STATE.Recorded.get(r) === 1;
    if (!recorded && eventQueueWritable(acked)) throw bad("Recorded", "0 while the event queue is writable");
    // Bits [55:0] sign-extended from bit 55 (the engine's address); a top byte that is not that extension is a tag.
    const [iova, tag] = readVa(Uint32Array.of(STALL_STATE.InputAddr_LO.get(r), STALL_STATE.InputAddr_HI.get(r)));
    const flags = (write ? ACCESS.WRITE : 0) | (STALL_STATE.InD.get(r) === 1 ? ACCESS.EXEC : 0) |
      (STALL_STATE.PnU.get(r) === 1 ? ACCESS.PRIV : 0);
    return { sid, ssid: ssv ? ssid : NO_SSID, iova, tag, flags, stag, recorded };
  });
}

const noop = (): unknown => {
  throw new HostError("a stalled transaction without its issuer's continuation");
};

/** Whether a call's result reports a failure (`ok: false`). */
function isFailure(r: unknown): boolean {
  return typeof r === "object" && r !== null && (r as { ok?: unknown }).ok === false;
}

/** The name of a stalling fault's type, for results. */
export function faultName(type: number): string {
  return type === 0 ? "ABORT" : EVT_TYPE_NAMES[type] ?? `0x${type.toString(16)}`;
}
