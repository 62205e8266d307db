/**
 * Builds the explorer's model: runs a scenario's steps on a device (the command line's scenario runner) and records,
 * around each one, what it did and the device after it: each DMA's walk as the device explains it, the commands it
 * consumed, the event records it wrote, the registers that changed and what the caches hold.
 * @module
 */
import { CMDQ_CONS, COMMAND_LAYOUT, CR0, REG, REGISTERS } from "../../gen/mod.ts";
import { SavedState } from "../../gen/proto/smmuv3/v1/saved_state.ts";
import type { Smmu } from "../device/smmu.ts";
import type { CacheContents } from "../translation/explain.ts";
import { latestEvents, queueRing } from "../scenario/trace.ts";
import { CMDQ } from "../registers/ring.ts";
import { eventSummary } from "../decode/events.ts";
import {
  endpointSummary,
  firstLine,
  type ScenarioRunner,
  type Step,
  type Transaction,
  transactionOf,
} from "../scenario/scenario.ts";
import type { DmaResult } from "../device/dma.ts";
import {
  type CacheView,
  type DmaView,
  type EventView,
  type ExploreModel,
  MODEL_FORMAT,
  type RecordView,
  type RegisterValue,
  type StepView,
} from "./model.ts";
import { hex, Records } from "./records.ts";
import { permsText, sizeName, walkView } from "./walk_view.ts";

const REG_NAMES = new Map(REGISTERS.map((r) => [r.offset, r.name]));
/** Most commands listed for one step (a ring may be consumed whole). */
const MAX_COMMANDS = 64;

/** What a step is, before the recorder adds what it did to the device. */
type StepStart = Pick<StepView, "source" | "kind" | "title"> & Partial<Pick<StepView, "status" | "lines">>;

/** The register file as `mmioPeek` reads it: name → value. */
function readRegisters(smmu: Smmu): Map<string, bigint> {
  return new Map(REGISTERS.map((r) => [r.name, smmu.mmioPeek(r.offset, r.width === 64 ? 8 : 4)]));
}

/** The caches as the page shows them. */
function cacheView(c: CacheContents): CacheView {
  return {
    streams: c.streams.map((s) => ({ sid: hex(s.sid), ste: hex(s.steAddr) })),
    contexts: c.contexts.map((x) => ({
      sid: hex(x.sid),
      ssid: x.ssid < 0 ? "none" : hex(x.ssid),
      kind: x.kind,
      asid: hex(x.asid),
      vmid: hex(x.vmid),
      ste: hex(x.steAddr),
      cd: x.cdAddr < 0 ? "" : hex(x.cdAddr),
      walkEntries: x.walkEntries,
      entries: x.entries.map((e) => ({
        iova: hex(e.iova),
        size: sizeName(e.size),
        pa: hex(e.pa),
        ipa: e.ipa < 0 ? "" : hex(e.ipa),
        perms: permsText(e.allow),
        global: e.global,
      })),
    })),
  };
}

/** A translation's outcome in words. */
function resultText(r: { ok: true; pa: number } | { ok: false; fault: string }): string {
  return r.ok ? `pa ${hex(r.pa)}` : `fault ${r.fault}`;
}

function copyText(r: DmaResult): string {
  return r.ok ? "copied" : `stopped after ${r.done} bytes at iova ${hex(r.iova)}`;
}

function accessText(t: Transaction): string {
  const a = t.access;
  return [a.write ? "write" : "read", a.priv ? "privileged" : "", a.exec && !a.write ? "instruction" : ""]
    .filter((x) => x).join(", ");
}

/** Runs steps on a scenario runner's device and records the timeline. */
export class Recorder {
  readonly records = new Records();
  readonly steps: StepView[] = [];
  readonly events: EventView[] = [];
  readonly warnings: string[] = [];
  readonly initial: Record<string, RegisterValue> = {};
  readonly initialCaches: CacheView;
  #regs: Map<string, bigint>;
  #caches: string;

  constructor(readonly runner: ScenarioRunner) {
    this.#regs = readRegisters(runner.smmu);
    for (const [name, value] of this.#regs) this.initial[name] = this.#register(name, value);
    this.initialCaches = cacheView(runner.smmu.cacheContents());
    this.#caches = JSON.stringify(this.initialCaches);
  }

  #register(name: string, value: bigint): RegisterValue {
    const info = REGISTERS.find((r) => r.name === name)!;
    return { value: hex(value), record: this.records.register(info, value) };
  }

  /** Runs one scenario step; `source` names it ("step 12"). */
  step(step: Step, source: string): void {
    const smmu = () => this.runner.smmu;
    switch (step.op) {
      case "comment":
        return this.#record({ source, kind: "comment", title: step.text, status: "info" }, () => {});
      case "mem_write":
        return this.#record(
          { source, kind: "mem_write", title: `mem_write ${hex(step.addr)} (${step.hex.length / 2} bytes)` },
          (v) => {
            this.runner.run(step);
            v.lines.push(...memoryWords(step.addr, step.hex));
          },
        );
      case "mem_read":
        return this.#record(
          { source, kind: "mem_read", title: `mem_read ${hex(step.addr)} (${step.len} bytes)` },
          (v) => {
            const r = this.runner.run(step);
            const got = r.op === "mem_read" ? [...r.bytes].map((x) => x.toString(16).padStart(2, "0")).join("") : "";
            v.lines.push(`read ${got}`);
            if (step.observed_hex !== undefined && step.observed_hex !== got) {
              v.status = "differs";
              v.lines.push(`recorded ${step.observed_hex}`);
            }
          },
        );
      case "mmio_write": {
        const offset = Number(step.offset);
        const name = REG_NAMES.get(offset) ?? hex(offset);
        return this.#record({ source, kind: "mmio_write", title: `${name} ← …` }, (v) => {
          const value = step.value ?? smmu().mmioRead(Number(step.value_from), step.size);
          v.title = `${name} ← ${hex(value)}`;
          if (step.value_from !== undefined) v.lines.push(`the value of ${REG_NAMES.get(Number(step.value_from))}`);
          const info = REGISTERS.find((r) => r.offset === offset);
          if (info) v.register = { name, record: this.records.register(info, value) };
          this.runner.run(step);
        });
      }
      case "mmio_read": {
        const offset = Number(step.offset);
        const name = REG_NAMES.get(offset) ?? hex(offset);
        return this.#record({ source, kind: "mmio_read", title: `${name} → …` }, (v) => {
          const r = this.runner.run(step);
          const value = r.op === "mmio_read" ? r.value : 0n;
          v.title = `${name} → ${hex(value)}`;
          const info = REGISTERS.find((x) => x.offset === offset);
          if (info) v.register = { name, record: this.records.register(info, value) };
          if (step.observed !== undefined && step.observed !== value) {
            v.status = "differs";
            v.lines.push(`recorded ${hex(step.observed)}`);
          }
        });
      }
      case "save_restore":
        return this.#record({
          source,
          kind: "save_restore",
          title: `save, restore into ${step.into === "same" ? "the same device" : "a fresh device"}`,
        }, () => void this.runner.run(step));
      case "reset":
        return this.#record({ source, kind: "reset", title: "reset" }, () => void this.runner.run(step));
      case "reenter": // arms a host callback: its steps run inside a later step (src/scenario/scenario.ts)
        return this.#record({
          source,
          kind: "comment",
          title: `reenter: the next ${step.from} callback runs ${step.steps.length} steps inside it`,
          status: "info",
        }, () => void this.runner.run(step));
      case "dma":
        return this.#dma(step, source);
      case "pri_request":
      case "ats_translate":
      case "ats_translated":
        return this.#record({ source, kind: "comment", title: step.op, status: "info" }, (v) => {
          const s = endpointSummary(step, this.runner.run(step));
          v.title = s.title;
          v.lines.push(`→ ${s.outcome}`);
        });
    }
  }

  #dma(step: Step & { op: "dma" }, source: string): void {
    const t = transactionOf(step, this.runner.privilegedDma);
    const len = step.hex ? step.hex.length / 2 : step.len;
    const title = `dma sid ${t.sid}${t.access.ssid === undefined ? "" : ` ssid ${t.access.ssid}`} ${step.dir} ` +
      `${hex(step.iova)}${len ? ` (${len} bytes)` : ""}${step.view ? " through a DmaView" : ""}`;
    this.#record({ source, kind: "dma", title }, (v) => {
      const dma = this.#explain(t);
      const r = this.runner.run(step);
      if (r.op === "translate") {
        dma.result = resultText(r.result);
        dma.ok = r.result.ok;
      } else if (r.op === "copy") {
        dma.result = copyText(r.result);
        dma.ok = r.result.ok;
      }
      if (step.observed) {
        dma.recorded = "pa" in step.observed ? `pa ${hex(step.observed.pa)}` : "fault";
        dma.matches = dma.ok ? dma.result === dma.recorded : dma.recorded === "fault";
      }
      v.dma = dma;
      v.status = dma.matches === false ? "differs" : dma.ok ? "ok" : "fault";
    });
  }

  /** The walk `t` takes on the device as it is now (no side effects), as a DMA view. */
  #explain(t: Transaction): DmaView {
    const smmu = this.runner.smmu;
    const e = smmu.explain(t.sid, t.iova, t.access);
    const view: DmaView = {
      sid: t.sid,
      ssid: t.access.ssid ?? null,
      access: accessText(t),
      iova: hex(t.iova),
      result: resultText(e.result),
      ok: e.result.ok,
      walk: walkView(e, this.records),
    };
    if (e.tlb !== null) {
      // What a walk of the tables as they are now gives: on a twin with empty caches (no queue runs on restore).
      const now = this.#twin().explain(t.sid, t.iova, t.access);
      const result = resultText(now.result);
      view.tablesNow = { walk: walkView(now, this.records), result, same: result === view.result };
    }
    return view;
  }

  #twin(): Smmu {
    const state = SavedState.decode(this.runner.smmu.save());
    const cr0 = Uint32Array.of(state.cr0 ?? 0);
    CR0.CMDQEN.set(cr0, 0);
    state.cr0 = cr0[0];
    const twin = this.runner.freshDevice();
    twin.restore(SavedState.encode(state).finish());
    return twin;
  }

  /** A transaction probed on the device as it is (no side effects): from a log's event record or a request. */
  probe(t: Transaction, source: string, kind: "probe" | "log_event", logged?: RecordView, title?: string): void {
    const head = `sid ${t.sid}${t.access.ssid === undefined ? "" : ` ssid ${t.access.ssid}`} ${accessText(t)} ` +
      hex(t.iova);
    this.#record({ source, kind, title: title ?? `probe ${head}` }, (v) => {
      v.dma = this.#explain(t);
      v.logged = logged;
      v.status = v.dma.ok ? "ok" : "fault";
      if (logged) v.lines.push(`the tables as they are now: ${head} → ${v.dma.result}`);
    });
  }

  /** A step that only shows something (a log record without a transaction, a note). */
  note(start: StepStart, logged?: RecordView): void {
    this.#record({ status: "info", ...start }, (v) => void (v.logged = logged));
  }

  /** Restores a saved state into the device. */
  restore(blob: Uint8Array, source: string): void {
    this.#record({ source, kind: "restore", title: `restore a saved state (${blob.length} bytes)` }, () => {
      this.runner.smmu.restore(blob);
    });
  }

  /** Records one step: runs `action`, then notes the commands, events, registers and caches it changed. */
  #record(start: StepStart, action: (v: StepView) => void): void {
    const smmu0 = this.runner.smmu;
    const eventsBefore = smmu0.stats.eventsWritten;
    const consBefore = smmu0.mmioPeek(REG.CMDQ_CONS, 4);
    const v: StepView = {
      index: this.steps.length,
      status: "ok",
      lines: [],
      commands: [],
      events: [],
      registers: {},
      ...start,
    };
    try {
      action(v);
    } catch (e) {
      v.status = "error";
      v.lines.push(firstLine(e));
      this.warnings.push(`${start.source}: ${firstLine(e)}`);
    }
    const smmu = this.runner.smmu;
    if (smmu === smmu0) {
      v.commands = this.#commands(consBefore);
      const raised = smmu.stats.eventsWritten - eventsBefore;
      for (const words of raised > 0 ? latestEvents(smmu, this.runner.ram, raised) : []) {
        const record = this.records.event(words);
        if (record === null) continue;
        v.events.push(this.events.length);
        this.events.push({ index: this.events.length, step: v.index, summary: eventSummary(words), record });
      }
    }
    const regs = readRegisters(smmu);
    for (const [name, value] of regs) {
      if (this.#regs.get(name) !== value) v.registers[name] = this.#register(name, value);
    }
    this.#regs = regs;
    const caches = cacheView(smmu.cacheContents());
    const json = JSON.stringify(caches);
    if (json !== this.#caches) v.caches = caches;
    this.#caches = json;
    if (v.status === "ok" && v.events.length && v.kind !== "dma") v.status = "fault";
    this.steps.push(v);
  }

  /** The commands consumed since CMDQ_CONS was `before` (IHI 0070 3.5: CONS counts consumed entries, with a wrap). */
  #commands(before: bigint): RecordView[] {
    const smmu = this.runner.smmu;
    const ring = queueRing(smmu, CMDQ);
    const rd = (v: bigint) => ring.index(CMDQ_CONS.RD.get(Uint32Array.of(Number(v))));
    const first = rd(before);
    const count = Math.min(ring.distance(rd(smmu.mmioPeek(REG.CMDQ_CONS, 4)), first), MAX_COMMANDS);
    const out: RecordView[] = [];
    for (let i = 0; i < count; i++) {
      const at = ring.slot(first + i);
      const words = new Uint32Array(COMMAND_LAYOUT.words);
      for (let k = 0; k < words.length; k++) words[k] = this.runner.ram.read32(at + 4 * k) >>> 0;
      const record = this.records.command(words);
      if (record) out.push(record);
    }
    return out;
  }

  /** The model of everything recorded. */
  model(meta: { title: string; description: string; source: string }): ExploreModel {
    const idr = this.runner.smmu.idRegisters;
    return {
      format: MODEL_FORMAT,
      ...meta,
      device: `IDR0 ${hex(idr.IDR0)} · IDR1 ${hex(idr.IDR1)} · IDR3 ${hex(idr.IDR3)} · IDR5 ${hex(idr.IDR5)}` +
        (this.runner.privilegedDma ? " · privileged DMA (as recorded)" : ""),
      registers: REGISTERS.map((r) => ({ name: r.name, offset: hex(r.offset) })),
      initial: this.initial,
      caches: this.initialCaches,
      steps: this.steps,
      events: this.events,
      layouts: this.records.layouts,
      warnings: this.warnings,
    };
  }
}

/** A memory write's bytes as little-endian 64-bit words, the way descriptors and structures read them. */
function memoryWords(addr: bigint, bytes: string): string[] {
  const lines: string[] = [];
  for (let o = 0; o < bytes.length && lines.length < 16; o += 16) {
    const chunk = bytes.slice(o, o + 16).match(/../g)!.reverse().join("").padStart(16, "0");
    lines.push(`${hex(addr + BigInt(o / 2))}: 0x${chunk}`);
  }
  if (bytes.length > 16 * 16) lines.push(`… ${bytes.length / 2 - 128} more bytes`);
  return lines;
}
