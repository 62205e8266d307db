/**
 * `smmuv3 trace`: runs a scenario on a fresh device and tells, step by step, what happened. {@link Tracer} gives each
 * step as data ({@link TraceStep}: for a DMA the table walk the side-effect-free `probe` sees, the real outcome, the
 * events it raised; for a read, the value; for a recorded observation, whether this model agrees); the writers turn
 * that into text or JSON (trace_format.ts); trace_command.ts is the command.
 * @module
 */
import { EVENT_LAYOUT, EVENTQ_PROD, REG, REGISTERS } from "../../gen/mod.ts";
import type { Smmu, TranslationResult } from "../device/smmu.ts";
import type { DmaResult } from "../device/dma.ts";
import type { IdRegisterValues } from "../registers/features.ts";
import { EVENTQ, type QueueRegs, Ring } from "../registers/ring.ts";
import type { GuestMemory } from "../core/memory.ts";
import type { WalkStep } from "../translation/translate.ts";
import { accept, type Applied, type Context, type Observation, same, type ScenarioDeviations } from "./deviations.ts";
import { InputError } from "../core/errors.ts";
import type { RecordingDevice } from "./recorded.ts";
import {
  type CallbackName,
  endpointSummary,
  firstLine,
  type Scenario,
  ScenarioRunner,
  type Step,
  transactionOf,
} from "./scenario.ts";

/** A recorded observation, checked: what the recording says, what this model gives, and the verdict. */
export interface Check {
  recorded: Observation;
  ours: Observation;
  matches: boolean;
  /** Why a difference is accepted: the documented deviations that explain it. */
  accepted?: Applied[];
}

/** What a `dma` step did: one transaction (`translate`), or a copy through a DmaView. */
export type DmaOutcome =
  | { kind: "translate"; result: TranslationResult; /** what `probe` answered first */ probe: TranslationResult }
  | { kind: "copy"; result: DmaResult };

/** A register: its offset and, where the frame has one there, its name. */
export interface RegisterRef {
  offset: number;
  name?: string;
}

/** One step of a trace, as data. `step` is its index in the scenario. */
export type TraceStep =
  | { step: number; op: "comment"; text: string }
  | { step: number; op: "mem_write"; addr: bigint; bytes: number }
  | { step: number; op: "mmio_write"; register: RegisterRef; size: number; value: bigint; from?: RegisterRef }
  | { step: number; op: "mmio_read"; register: RegisterRef; size: number; value: bigint; check?: Check }
  | { step: number; op: "mem_read"; addr: bigint; hex: string; check?: Check }
  | { step: number; op: "save_restore"; into: "same" | "fresh" }
  | { step: number; op: "reset" }
  /** A host callback armed: the next time the device calls `from`, `steps` steps run inside it. */
  | { step: number; op: "reenter"; from: CallbackName; steps: number }
  /** A PCIe endpoint's page request or ATS step, and what came of it. */
  | { step: number; op: "endpoint"; title: string; outcome: string }
  | {
    step: number;
    op: "dma";
    sid: number;
    ssid?: number;
    dir: "read" | "write";
    /** The input address as the scenario gives it (64 bits, unsigned). */
    iova: bigint;
    /** Bytes copied through a DmaView (`view`), or the transaction's declared length. */
    len?: number;
    view: boolean;
    /** The walk `probe` saw before the step ran: one entry per descriptor read. */
    walk: WalkStep[];
    /** The step was answered from the TLB. */
    tlbHit: boolean;
    outcome: DmaOutcome;
    /** The event records the step wrote, oldest first. */
    events: Uint32Array[];
    check?: Check;
  };

/** The device a trace ran on. */
export interface TraceDevice {
  idRegisters: IdRegisterValues;
  /** A recorded vector (it has qemu_version) replays as recorded: its ID registers, 4 GiB of RAM, privileged DMA. */
  recordedVector: boolean;
  /** The recording whose ID registers the device advertises, e.g. "QEMU 10.0, nested" (recorded.ts). */
  recording?: string;
  privilegedDma: boolean;
}

/** What the whole run did. */
export interface TraceTotals {
  translations: number;
  eventsWritten: number;
  commands: number;
  /** Recorded observations compared, those that differ, and those of them a deviation list accepts. */
  checked: number;
  differences: number;
  accepted: number;
  /** The steps whose observation differs and no deviation accepts. */
  unexplained: number[];
  /** The deviations applied: the listed steps, each record rule with the reads it explained, the stale translations. */
  applied: { listed: number[]; records: { rule: string; reads: number }[]; stale: number[] };
}

/** Runs a scenario step by step; `steps()` yields each step's {@link TraceStep} as it runs. */
export class Tracer {
  readonly device: TraceDevice;
  readonly #runner: ScenarioRunner;
  readonly #counts = { checked: 0, differences: 0, accepted: 0, unexplained: [] as number[] };
  readonly #applied: TraceTotals["applied"] = { listed: [], records: [], stale: [] };
  /** The steps a documented deviation was accepted at. */
  readonly acceptedSteps = new Set<number>();

  /** `deviations`: recorded observations this model is known to differ from, and why (accepted, counted apart). */
  constructor(readonly scenario: Scenario, readonly file: string, readonly deviations?: ScenarioDeviations) {
    this.#runner = new ScenarioRunner(scenario, file);
    this.device = {
      idRegisters: this.#runner.smmu.idRegisters,
      recordedVector: scenario.qemu_version !== undefined,
      recording: this.#runner.recording && `QEMU ${this.#runner.recording.qemu}, ${stageText(this.#runner.recording)}`,
      privilegedDma: this.#runner.privilegedDma,
    };
  }

  /** Runs every step. A step the host could not make (an offset outside the frame…) throws InputError naming it. */
  *steps(): Generator<TraceStep> {
    for (const [i, step] of this.scenario.steps.entries()) {
      let traced: TraceStep;
      try {
        traced = this.#run(step, i);
      } catch (e) {
        if (e instanceof InputError) throw e;
        throw new InputError(firstLine(e), `${this.file} steps[${i}]`);
      }
      yield traced;
    }
  }

  /** Totals so far (all of them once `steps()` is done). */
  totals(): TraceTotals {
    const s = this.#runner.smmu.stats;
    const c = this.#counts, a = this.#applied;
    return {
      translations: s.translation.translations,
      eventsWritten: s.eventsWritten,
      commands: s.commands,
      ...c,
      unexplained: [...c.unexplained],
      applied: { listed: [...a.listed], records: a.records.map((r) => ({ ...r })), stale: [...a.stale] },
    };
  }

  #run(step: Step, i: number): TraceStep {
    const runner = this.#runner, smmu = runner.smmu;
    switch (step.op) {
      case "comment":
        return { step: i, op: "comment", text: step.text };
      case "mem_write":
        runner.run(step);
        return { step: i, op: "mem_write", addr: step.addr, bytes: step.hex.length / 2 };
      case "mmio_write": {
        const from = step.value_from === undefined ? undefined : registerRef(Number(step.value_from));
        const value = step.value ?? smmu.mmioRead(Number(step.value_from), step.size);
        runner.run(step);
        return { step: i, op: "mmio_write", register: registerRef(Number(step.offset)), size: step.size, value, from };
      }
      case "mmio_read": {
        const r = runner.run(step);
        const value = r.op === "mmio_read" ? r.value : 0n;
        const check = this.#check(i, step.observed === undefined ? undefined : hex(step.observed), hex(value));
        return { step: i, op: "mmio_read", register: registerRef(Number(step.offset)), size: step.size, value, check };
      }
      case "mem_read": {
        const r = runner.run(step);
        const got = r.op === "mem_read" ? [...r.bytes].map((x) => x.toString(16).padStart(2, "0")).join("") : "";
        const eventRecords = holdsEventRecords(smmu, Number(step.addr), step.len);
        const check = this.#check(i, step.observed_hex, got, { eventRecords });
        return { step: i, op: "mem_read", addr: step.addr, hex: got, check };
      }
      case "save_restore":
        runner.run(step);
        return { step: i, op: "save_restore", into: step.into };
      case "reset":
        runner.run(step);
        return { step: i, op: "reset" };
      case "reenter":
        runner.run(step);
        return { step: i, op: "reenter", from: step.from, steps: step.steps.length };
      case "dma":
        return this.#dma(step, i);
      case "pri_request":
      case "ats_translate":
      case "ats_translated":
        return { step: i, op: "endpoint", ...endpointSummary(step, runner.run(step)) };
    }
  }

  #dma(step: Step & { op: "dma" }, i: number): TraceStep {
    const smmu = this.#runner.smmu;
    const walk: WalkStep[] = [];
    const t = transactionOf(step, this.#runner.privilegedDma);
    const probe = smmu.probe(t.sid, t.iova, t.access, walk);
    const before = smmu.stats.eventsWritten, hits = smmu.stats.translation.tlbHits;
    const r = this.#runner.run(step);
    const tlbHit = smmu.stats.translation.tlbHits > hits;
    const events = latestEvents(smmu, this.#runner.memory, smmu.stats.eventsWritten - before);
    const outcome: DmaOutcome = r.op === "translate"
      ? { kind: "translate", result: r.result, probe }
      : { kind: "copy", result: r.op === "copy" ? r.result : { ok: true } };
    let check: Check | undefined;
    const o = step.observed;
    if (o !== undefined && outcome.kind === "translate") {
      const res = outcome.result;
      const recorded: Observation = "pa" in o ? { pa: hex(o.pa) } : o;
      const ours: Observation = res.ok
        ? { pa: hex(res.pa) }
        : "event" in recorded && recorded.event !== undefined
        ? { fault: true, event: res.event }
        : { fault: true };
      const uncached = (): Observation => {
        const r = this.#runner.uncached(t);
        return r.ok ? { pa: hex(r.pa) } : { fault: true };
      };
      check = this.#check(i, recorded, ours, { uncached });
    }
    const len = step.hex ? step.hex.length / 2 : step.len;
    const ssid = step.ssid === undefined ? undefined : Number(step.ssid);
    const view = step.view ?? false;
    return {
      step: i,
      op: "dma",
      sid: t.sid,
      ssid,
      dir: step.dir,
      iova: step.iova,
      len,
      view,
      walk,
      tlbHit,
      outcome,
      events,
      check,
    };
  }

  #check(i: number, recorded: Observation | undefined, ours: Observation, context?: Context): Check | undefined {
    if (recorded === undefined) return undefined;
    this.#counts.checked++;
    if (same(recorded, ours)) return { recorded, ours, matches: true };
    this.#counts.differences++;
    const accepted = accept(this.deviations, i, ours, recorded, context);
    if (accepted === undefined) {
      this.#counts.unexplained.push(i);
      return { recorded, ours, matches: false };
    }
    this.#counts.accepted++;
    const a = this.#applied;
    for (const d of accepted) {
      if (d.kind === "step") {
        a.listed.push(i);
        this.acceptedSteps.add(i);
      } else if (d.kind === "record") {
        const r = a.records.find((r) => r.rule === d.rule);
        if (r) r.reads++;
        else a.records.push({ rule: d.rule, reads: 1 });
      } else a.stale.push(i);
    }
    return { recorded, ours, matches: false, accepted };
  }
}

const hex = (v: number | bigint) => `0x${v.toString(16)}`;
const stageText = (r: RecordingDevice) => r.stage === "nested" ? "nested" : `stage ${r.stage}`;

const REG_NAMES = new Map(REGISTERS.map((r) => [r.offset, r.name]));

function registerRef(offset: number): RegisterRef {
  return { offset, name: REG_NAMES.get(offset) };
}

/** Queue `q` as the guest programmed it (its BASE register, read without side effects). */
export function queueRing(smmu: Smmu, q: QueueRegs): Ring {
  const base = smmu.mmioPeek(q.base, 8);
  return new Ring(q.entryBytes).load(q, Uint32Array.of(Number(base & 0xffff_ffffn), Number(base >> 32n)), 0);
}

/** Whether `len` bytes at `addr` are whole slots of the event queue: event records, as a driver reads them. */
function holdsEventRecords(smmu: Smmu, addr: number, len: number): boolean {
  const ring = queueRing(smmu, EVENTQ), bytes = ring.entryBytes;
  const at = addr - ring.base;
  return len > 0 && at >= 0 && at % bytes === 0 && len % bytes === 0 && at + len <= ring.size * bytes;
}

/** The `count` most recent records of the event queue, read through the registers the guest programmed. */
export function latestEvents(smmu: Smmu, memory: GuestMemory, count: number): Uint32Array[] {
  const ring = queueRing(smmu, EVENTQ);
  const prod = EVENTQ_PROD.WR.get(Uint32Array.of(Number(smmu.mmioPeek(REG.EVENTQ_PROD, 4))));
  const out: Uint32Array[] = [];
  const words = EVENT_LAYOUT.words;
  for (let i = Math.min(count, ring.size); i > 0; i--) {
    const at = ring.slot(prod - i);
    const rec = new Uint32Array(words);
    for (let w = 0; w < words; w++) rec[w] = memory.read32(at + 4 * w);
    out.push(rec);
  }
  return out;
}
