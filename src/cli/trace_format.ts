/**
 * Writers of a trace (trace.ts): text for people, one line per event of a step; JSON for programs, one object per
 * step. In JSON every value (address, register or descriptor value, StreamID, field) is a "0x…" string; plain numbers
 * only count or index things (step, stage, level, size in bytes).
 * @module
 */
import { EVENTS } from "../../gen/mod.ts";
import type { TranslationResult } from "../device/smmu.ts";
import type { DmaResult } from "../device/dma.ts";
import type { WalkStep } from "../translation/translate.ts";
import { eventFields, eventSummary } from "../decode/events.ts";
import type { Applied, Observation } from "../scenario/deviations.ts";
import type { Check, RegisterRef, TraceDevice, TraceStep, TraceTotals } from "../scenario/trace.ts";

const hex = (v: number | bigint) => `0x${v.toString(16)}`;
const desc64 = (hi: number, lo: number) =>
  `0x${(hi >>> 0).toString(16).padStart(8, "0")}${(lo >>> 0).toString(16).padStart(8, "0")}`;
const short = (s: string) => s.length > 40 ? s.slice(0, 40) + "…" : s;

/** One walk step as a line: stage and level, table address, descriptor address and value, the walker's decision. */
export function formatWalkStep(s: WalkStep): string {
  return `S${s.stage} L${s.level}  table ${hex(s.tableAddr)}  desc @${hex(s.descAddr)} = ${
    desc64(s.descHi, s.descLo)
  }  ${s.decision}`;
}

/** A translation result in one line. */
export function formatResult(r: TranslationResult): string {
  return r.ok ? `pa ${hex(r.pa)}` : `fault ${r.fault}${r.event ? "" : " (no event)"}`;
}

/** A DmaView copy's outcome in one line: done, or where it stopped and why. */
function formatCopy(r: DmaResult): string {
  return r.ok ? "copied" : `stopped after ${r.done} bytes at iova ${hex(r.iova)}: ${copyFault(r)}`;
}

const copyFault = (r: DmaResult & { ok: false }) =>
  r.fault.type === 0 ? "ABORT" : EVENTS.get(r.fault.type)?.name.replace(/^EVT_/, "") ?? hex(r.fault.type);

const regName = (r: RegisterRef) => r.name ? `${r.name} (${hex(r.offset)})` : hex(r.offset);

function observationText(o: Observation): string {
  if (typeof o === "string") return short(o);
  if ("pa" in o) return `pa ${o.pa}`;
  return o.event === undefined ? "fault" : `fault ${o.event ? "with" : "without"} event`;
}

/** What a check adds to its step's line; a documented deviation's reason goes on a line of its own. */
function checkNote(c: Check | undefined): string {
  if (c === undefined) return "";
  if (c.matches) return "  (as recorded)";
  return `  (recorded: ${observationText(c.recorded)}; differs${c.accepted ? ": a documented deviation" : ""})`;
}

const PAD = " ".repeat(11);

/** A step as text lines: a heading, and for a DMA its walk, outcome and events. */
export function stepText(s: TraceStep): string[] {
  const tag = `step ${s.step}`.padEnd(9);
  switch (s.op) {
    case "comment":
      return [`${tag}# ${s.text}`];
    case "mem_write":
      return [`${tag}mem_write ${hex(s.addr)} (${s.bytes} bytes)`];
    case "mmio_write": {
      const from = s.from ? ` (from ${regName(s.from)})` : "";
      return [`${tag}mmio_write ${regName(s.register)} = ${hex(s.value)}${from}`];
    }
    case "mmio_read":
      return withReason([`${tag}mmio_read ${regName(s.register)} = ${hex(s.value)}${checkNote(s.check)}`], s.check);
    case "mem_read":
      return withReason(
        [`${tag}mem_read ${hex(s.addr)} (${s.hex.length / 2} bytes) = ${short(s.hex)}${checkNote(s.check)}`],
        s.check,
      );
    case "save_restore":
      return [`${tag}save, restore into ${s.into === "same" ? "the same device" : "a fresh device"}`];
    case "reset":
      return [`${tag}reset (every register at its reset value, every cache empty)`];
    case "reenter":
      return [`${tag}reenter: the next ${s.from} callback runs ${s.steps} steps inside it`];
    case "endpoint":
      return [`${tag}${s.title}`, `${PAD}→ ${s.outcome}`];
    case "dma": {
      const ssid = s.ssid === undefined ? "" : ` ssid ${s.ssid}`;
      const lines = [
        `${tag}dma sid ${s.sid}${ssid} ${s.dir} iova ${hex(s.iova)}${s.len ? ` (${s.len} bytes)` : ""}` +
        (s.view ? " through a DmaView" : ""),
        ...s.walk.map((w) => PAD + formatWalkStep(w)),
      ];
      if (s.tlbHit) lines.push(`${PAD}TLB hit`);
      const o = s.outcome;
      if (o.kind === "translate") {
        lines.push(`${PAD}→ ${formatResult(o.result)}${checkNote(s.check)}`);
        if (formatResult(o.probe) !== formatResult(o.result)) lines.push(`${PAD}(probe said ${formatResult(o.probe)})`);
      } else lines.push(`${PAD}→ ${formatCopy(o.result)}`);
      for (const e of s.events) lines.push(`${PAD}event ${eventSummary(e)}`);
      return withReason(lines, s.check);
    }
  }
}

function withReason(lines: string[], c: Check | undefined): string[] {
  return c?.accepted ? [...lines, ...c.accepted.map((a) => `${PAD}${appliedLabel(a)}: ${a.reason}`)] : lines;
}

/** How a trace names an applied deviation. */
function appliedLabel(a: Applied): string {
  return a.kind === "step"
    ? "deviation"
    : a.kind === "record"
    ? `deviation (record rule ${a.rule})`
    : "deviation (stale translation)";
}

/** Which deviations a run applied, in one line; undefined when none was. */
export function appliedText(t: TraceTotals): string | undefined {
  const { listed, records, stale } = t.applied;
  const parts = [
    ...(listed.length ? [`listed at step ${listed.join(", ")}`] : []),
    ...records.map((r) => `record rule ${r.rule} (${r.reads} read${r.reads > 1 ? "s" : ""})`),
    ...(stale.length ? [`stale translation at step ${stale.join(", ")}`] : []),
  ];
  return parts.length ? `deviations applied: ${parts.join("; ")}` : undefined;
}

/** The trace's first lines: the scenario and the device. */
export function headerText(name: string | undefined, description: string | undefined, d: TraceDevice): string[] {
  const idr = d.idRegisters;
  return [
    ...(name ? [`scenario ${name}${description ? `: ${description}` : ""}`] : []),
    `device: IDR0 ${hex(idr.IDR0)} IDR1 ${hex(idr.IDR1)} IDR3 ${hex(idr.IDR3)} IDR5 ${hex(idr.IDR5)}` +
    (d.recordedVector ? ` (the recording's${d.recording ? `: ${d.recording}` : ""})` : "") +
    (d.privilegedDma ? ", privileged DMA" : ""),
  ];
}

/** The trace's last line: what the device did, and how the recorded observations compared. */
export function totalsText(t: TraceTotals): string {
  const done = `done: ${t.translations} translations, ${t.eventsWritten} events, ${t.commands} commands`;
  if (t.checked === 0) return done;
  const differ = t.differences === 0
    ? "all as recorded"
    : `${t.differences} differ${t.accepted ? ` (${t.accepted} of them documented deviations)` : ""}`;
  return `${done}; ${t.checked} recorded observations: ${differ}`;
}

// -------------------------------------------------------------------------------------------------------- JSON

/** A step as a JSON value (see the module's rule for numbers). */
export function stepJson(s: TraceStep): Record<string, unknown> {
  const check = (c: Check | undefined) =>
    c === undefined ? {} : {
      recorded: observationJson(c.recorded),
      ours: observationJson(c.ours),
      matches: c.matches,
      acceptedBy: c.accepted,
    };
  const reg = (r: RegisterRef) => ({ offset: hex(r.offset), name: r.name });
  switch (s.op) {
    case "comment":
    case "save_restore":
    case "reset":
    case "reenter":
    case "endpoint":
      return s;
    case "mem_write":
      return { ...s, addr: hex(s.addr) };
    case "mmio_write":
      return { ...s, register: reg(s.register), value: hex(s.value), from: s.from && reg(s.from) };
    case "mmio_read":
      return { ...s, register: reg(s.register), value: hex(s.value), ...check(s.check), check: undefined };
    case "mem_read":
      return { ...s, addr: hex(s.addr), bytes: s.hex.length / 2, ...check(s.check), check: undefined };
    case "dma": {
      const o = s.outcome;
      return {
        step: s.step,
        op: s.op,
        sid: hex(s.sid),
        ssid: s.ssid === undefined ? undefined : hex(s.ssid),
        dir: s.dir,
        iova: hex(s.iova),
        len: s.len,
        view: s.view,
        walk: s.walk.map((w) => ({
          stage: w.stage,
          level: w.level,
          table: hex(w.tableAddr),
          descriptorAddress: hex(w.descAddr),
          descriptor: desc64(w.descHi, w.descLo),
          decision: w.decision,
        })),
        tlbHit: s.tlbHit,
        ...(o.kind === "translate"
          ? {
            result: resultJson(o.result),
            probe: formatResult(o.probe) === formatResult(o.result) ? undefined : resultJson(o.probe),
          }
          : {
            copy: o.result.ok
              ? { ok: true }
              : { ok: false, done: o.result.done, iova: hex(o.result.iova), type: copyFault(o.result) },
          }),
        events: s.events.map(eventJson),
        ...check(s.check),
      };
    }
  }
}

function eventJson(record: Uint32Array): Record<string, unknown> {
  const { type, fields } = eventFields(record);
  return {
    type,
    fields: Object.fromEntries(fields.map((f) => [f.name, f.shown])),
    words: [...record].map((w) => `0x${w.toString(16).padStart(8, "0")}`),
  };
}

/** An observation as a JSON object: a register value { value }, memory bytes { hex }, a DMA's { pa } or { fault }. */
function observationJson(o: Observation): object {
  if (typeof o !== "string") return o;
  return o.startsWith("0x") ? { value: o } : { hex: o };
}

function resultJson(r: TranslationResult): Record<string, unknown> {
  return r.ok ? { ok: true, pa: hex(r.pa) } : { ok: false, type: r.fault, event: r.event };
}

/** The whole trace as one JSON document: scenario, device, one object per step, totals. */
export function traceJson(
  scenario: { name?: string; description?: string; file: string },
  device: TraceDevice,
  steps: readonly TraceStep[],
  totals: TraceTotals,
): string {
  const idr = Object.fromEntries(Object.entries(device.idRegisters).map(([k, v]) => [k, hex(v)]));
  const doc = {
    scenario,
    device: {
      idRegisters: idr,
      recordedVector: device.recordedVector,
      recording: device.recording,
      privilegedDma: device.privilegedDma,
    },
    steps: steps.map(stepJson),
    totals,
  };
  return JSON.stringify(doc, null, 2) + "\n";
}
