/**
 * `smmuv3 trace <scenario>`: runs a scenario (the step kinds of the recorded vectors: register writes and reads,
 * memory writes and reads, DMAs) on a fresh device and prints, for every DMA, the table walk that the side-effect-free
 * `probe` sees (each level: table, descriptor, decision), then the real translation and the events it raised.
 * @module
 */
import { EVENTQ_BASE, EVENTQ_PROD, EVENTS, EVT_F_UUT, EVT_F_UUT_LAYOUT, REG, REGISTERS } from "../../gen/mod.ts";
import type { Smmu, TranslationResult } from "../device.ts";
import type { DmaResult } from "../dma.ts";
import type { GuestMemory } from "../memory.ts";
import type { WalkStep } from "../translate.ts";
import type { CliIo } from "./decode.ts";
import { decodeRecord } from "./decode.ts";
import { InputError } from "./hex.ts";
import { firstLine, parseScenario, type Scenario, ScenarioRunner, type Step, transactionOf } from "./scenario.ts";
import type { StepOutcome } from "./scenario.ts";

export { parseScenario, RECORDED_ID_REGISTERS, type Scenario } from "./scenario.ts";

const hex = (v: number | bigint) => `0x${v.toString(16)}`;
const short = (s: string) => s.length > 40 ? s.slice(0, 40) + "…" : s;
const REG_NAMES = new Map(REGISTERS.map((r) => [r.offset, r.name]));

/** One walk step as a line: stage and level, table address, descriptor address and value, the walker's decision. */
export function formatWalkStep(s: WalkStep): string {
  const desc = `0x${(s.descHi >>> 0).toString(16).padStart(8, "0")}${(s.descLo >>> 0).toString(16).padStart(8, "0")}`;
  return `S${s.stage} L${s.level}  table ${hex(s.tableAddr)}  desc @${hex(s.descAddr)} = ${desc}  ${s.decision}`;
}

/** An event record in one line: its type name, then every non-zero field by name (64-bit halves joined). */
export function eventSummary(record: Uint32Array): string {
  const layout = EVENTS.get(EVT_F_UUT.Type.get(record));
  if (layout === undefined) return `unknown event type ${hex(EVT_F_UUT.Type.get(record))}`;
  const fields = decodeRecord(layout, record).fields
    .filter((f) => f.name !== "Type" && !/_(LO|HI)$/.test(f.name) && f.value !== 0 && f.value !== 0n)
    .map((f) => `${f.name}=${f.meaning ? f.meaning.replace(/^address /, "") : hex(f.value)}`);
  return [layout.name.replace(/^EVT_/, ""), ...fields].join(" ");
}

/** A translation result in one line. */
export function formatResult(r: TranslationResult): string {
  return r.ok ? `pa ${hex(r.pa)}` : `fault ${r.fault}${r.event ? "" : " (no event)"}`;
}

/** The `count` most recent records of the event queue, read through the registers the guest programmed. */
export function latestEvents(smmu: Smmu, memory: GuestMemory, count: number): Uint32Array[] {
  const base = new Uint32Array(2);
  const b = smmu.mmioRead(REG.EVENTQ_BASE, 8);
  base[0] = Number(b & 0xffff_ffffn);
  base[1] = Number(b >> 32n);
  const slots = 2 ** EVENTQ_BASE.LOG2SIZE.get(base);
  const prod = EVENTQ_PROD.WR.get(Uint32Array.of(Number(smmu.mmioRead(REG.EVENTQ_PROD, 4))));
  const out: Uint32Array[] = [];
  const words = EVT_F_UUT_LAYOUT.words;
  for (let i = Math.min(count, slots); i > 0; i--) {
    const at = EVENTQ_BASE.ADDR.getAddress(base) + ((prod - i) & (slots - 1)) * 4 * words;
    const rec = new Uint32Array(words);
    for (let w = 0; w < words; w++) rec[w] = memory.read32(at + 4 * w);
    out.push(rec);
  }
  return out;
}

/** Runs `scenario`, writing the trace with `out`. Step problems (an offset outside the frame…) throw InputError. */
export function runTrace(scenario: Scenario, file: string, out: (line: string) => void): void {
  const runner = new ScenarioRunner(scenario, file, {
    onReentered: (from, step, outcome) => out(`           in ${from}: ${brief(step, outcome)}`),
  });
  if (scenario.name) out(`scenario ${scenario.name}${scenario.description ? `: ${scenario.description}` : ""}`);
  const idr = runner.smmu.idRegisters;
  out(
    `device: IDR0 ${hex(idr.IDR0)} IDR1 ${hex(idr.IDR1)} IDR3 ${hex(idr.IDR3)} IDR5 ${hex(idr.IDR5)}` +
      (runner.privilegedDma ? " (the recording's), privileged DMA" : ""),
  );
  scenario.steps.forEach((step, i) => {
    try {
      traceStep(runner, step, `step ${i}`.padEnd(9), out);
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(firstLine(e), `${file} steps[${i}]`);
    }
  });
  const s = runner.smmu.stats;
  out(`done: ${s.translation.translations} translations, ${s.eventsWritten} events, ${s.commands} commands`);
}

/** Runs one step, printing what it did (a DMA: the walk `probe` sees first, then the outcome and its events). */
function traceStep(runner: ScenarioRunner, step: Step, tag: string, out: (s: string) => void) {
  const note = (want: string | undefined, got: string) =>
    want === undefined ? "" : want === got ? "  (as recorded)" : `  (recorded: ${short(want)}; differs)`;
  const smmu = runner.smmu;
  switch (step.op) {
    case "comment":
      return out(`${tag}# ${step.text}`);
    case "mem_write":
      runner.run(step);
      return out(`${tag}mem_write ${hex(step.addr)} (${step.hex.length / 2} bytes)`);
    case "mmio_write": {
      const from = step.value_from === undefined ? "" : ` (from ${regName(Number(step.value_from))})`;
      const value = step.value ?? smmu.mmioRead(Number(step.value_from), step.size);
      runner.run(step);
      return out(`${tag}mmio_write ${regName(Number(step.offset))} = ${hex(value)}${from}`);
    }
    case "mmio_read": {
      const r = runner.run(step);
      const v = r.op === "mmio_read" ? hex(r.value) : "";
      const want = step.observed === undefined ? undefined : hex(step.observed);
      return out(`${tag}mmio_read ${regName(Number(step.offset))} = ${v}${note(want, v)}`);
    }
    case "mem_read": {
      const r = runner.run(step);
      const got = r.op === "mem_read" ? [...r.bytes].map((x) => x.toString(16).padStart(2, "0")).join("") : "";
      return out(`${tag}mem_read ${hex(step.addr)} (${step.len} bytes) = ${short(got)}${note(step.observed_hex, got)}`);
    }
    case "save_restore":
      runner.run(step);
      return out(`${tag}save, restore into ${step.into === "same" ? "the same device" : "a fresh device"}`);
    case "reset":
      runner.run(step);
      return out(`${tag}reset (every register at its reset value, every cache empty)`);
    case "reenter":
      runner.run(step);
      return out(`${tag}reenter: the next ${step.from} callback runs ${step.steps.length} steps inside it`);
    case "dma": {
      const sid = Number(step.sid);
      const ssid = step.ssid === undefined ? "" : ` ssid ${step.ssid}`;
      const len = step.hex ? step.hex.length / 2 : step.len;
      out(
        `${tag}dma sid ${sid}${ssid} ${step.dir} iova ${hex(step.iova)}${len ? ` (${len} bytes)` : ""}` +
          (step.view ? " through a DmaView" : ""),
      );
      const walk: WalkStep[] = [];
      const t = transactionOf(step, runner.privilegedDma);
      const probed = smmu.probe(t.sid, t.iova, t.access, walk);
      for (const s of walk) out(`           ${formatWalkStep(s)}`);
      const before = smmu.stats.eventsWritten, hits = smmu.stats.translation.tlbHits;
      const r = runner.run(step);
      if (smmu.stats.translation.tlbHits > hits) out("           TLB hit");
      const want = step.observed && ("pa" in step.observed ? `pa ${hex(step.observed.pa)}` : "fault");
      if (r.op === "translate") {
        out(`           → ${formatResult(r.result)}${note(want, r.result.ok ? formatResult(r.result) : "fault")}`);
        if (formatResult(probed) !== formatResult(r.result)) out(`           (probe said ${formatResult(probed)})`);
      } else if (r.op === "copy") out(`           → ${formatCopy(r.result)}`);
      const raised = smmu.stats.eventsWritten - before;
      for (const e of latestEvents(smmu, runner.memory, raised)) out(`           event ${eventSummary(e)}`);
      return;
    }
  }
}

/** A step a callback ran, in one line. */
function brief(step: Step, o: StepOutcome): string {
  switch (step.op) {
    case "mem_write":
      return `mem_write ${hex(step.addr)} (${step.hex.length / 2} bytes)`;
    case "mmio_write":
      return `mmio_write ${regName(Number(step.offset))}${step.value === undefined ? "" : ` = ${hex(step.value)}`}`;
    case "mmio_read":
      return `mmio_read ${regName(Number(step.offset))}${o.op === "mmio_read" ? ` = ${hex(o.value)}` : ""}`;
    case "dma":
      return `dma sid ${step.sid} ${step.dir} iova ${hex(step.iova)} → ` +
        (o.op === "translate" ? formatResult(o.result) : o.op === "copy" ? formatCopy(o.result) : "");
    default:
      return step.op;
  }
}

/** A DmaView copy's outcome in one line: done, or where it stopped and why. */
function formatCopy(r: DmaResult): string {
  if (r.ok) return "copied";
  const name = r.fault.type === 0 ? "ABORT" : EVENTS.get(r.fault.type)?.name.replace(/^EVT_/, "") ?? hex(r.fault.type);
  return `stopped after ${r.done} bytes at iova ${hex(r.iova)}: ${name}`;
}

function regName(offset: number): string {
  const name = REG_NAMES.get(offset);
  return name ? `${name} (${hex(offset)})` : hex(offset);
}

/** `smmuv3 trace <scenario.json|yaml>`: returns the exit code; bad input throws {@link InputError}. */
export async function traceCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [html, rest] = htmlOption(args);
  args = rest;
  if (args.length !== 1 || args[0].startsWith("-")) {
    throw new InputError("expected one scenario file (JSON or YAML)", `argument ${args.length === 0 ? 2 : 3}`);
  }
  const file = args[0];
  let text: string;
  try {
    text = await io.readFile(file);
  } catch (e) {
    throw new InputError(`cannot read (${firstLine(e).replace(/: \w+ '.*'$/, "")})`, file);
  }
  runTrace(parseScenario(text, file), file, (line) => io.out(line + "\n"));
  if (html !== undefined) {
    // Loaded only here, so that the demo and plain traces do not load the explorer's page.
    const { scenarioHtml } = await import("../explore/export.ts");
    try {
      await Deno.writeTextFile(html, scenarioHtml(text, file));
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(`cannot write (${firstLine(e).replace(/: \w+ '.*'$/, "")})`, `--html ${html}`);
    }
    io.out(`wrote ${html}: the explorer's view of every step (open it in a browser)\n`);
  }
  return 0;
}

/** `--html FILE` (or `--html=FILE`): where to write the explorer's page too; the other arguments. */
function htmlOption(args: readonly string[]): [string | undefined, string[]] {
  const at = args.findIndex((a) => a === "--html" || a.startsWith("--html="));
  if (at < 0) return [undefined, [...args]];
  const inline = args[at].startsWith("--html=");
  const file = inline ? args[at].slice("--html=".length) : args[at + 1];
  if (!file || (!inline && file.startsWith("-"))) {
    throw new InputError("--html needs a file name", `argument ${at + 2}`);
  }
  return [file, [...args.slice(0, at), ...args.slice(at + (inline ? 1 : 2))]];
}
