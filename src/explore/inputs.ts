/**
 * What the explorer loads, turned into its model: a scenario (the recorded vectors' step format, JSON or YAML); a
 * saved-state blob with images of guest memory; a pasted Linux arm-smmu-v3 event log, each record of which is
 * explained by a walk of the tables as they are at the end; and transactions to probe. Bad input throws InputError.
 * @module
 */
import { COMMAND_LAYOUT, EVENT_LAYOUT } from "../../gen/mod.ts";
import { SavedState } from "../../gen/proto/smmuv3/v1/saved_state.ts";
import { InputError } from "../core/errors.ts";
import { parseLinuxLog } from "../decode/linux_log.ts";
import { firstLine, parseScenario, type Scenario, ScenarioRunner, transactionOf } from "../scenario/scenario.ts";
import type { ExploreModel } from "./model.ts";
import { Recorder } from "./record.ts";

/** A region of guest memory as raw bytes. */
export interface MemoryImage {
  base: number;
  bytes: Uint8Array;
}

/** A transaction to probe: what a `dma` step names. */
export interface ProbeRequest {
  sid: number;
  iova: string;
  dir: "read" | "write";
  ssid?: number;
  priv?: boolean;
  exec?: boolean;
}

/** Everything the explorer can load at once; at least a scenario or a saved state. */
export interface ExploreInput {
  /** A scenario: its file name (the extension says JSON or YAML) and text. */
  scenario?: { name: string; text: string };
  /** A blob from `Smmu.save()`, restored after the scenario (or into a new device). */
  state?: Uint8Array;
  /** Guest memory written before the state is restored (tables, queues). */
  memory?: MemoryImage[];
  /** A Linux arm-smmu-v3 log: each event record is decoded and its transaction explained. */
  log?: string;
  /** Transactions probed at the end, with no side effects. */
  probes?: ProbeRequest[];
}

/** Builds the model of `input`; problems with the input itself throw {@link InputError}. */
export function buildModel(input: ExploreInput): ExploreModel {
  if (!input.scenario && !input.state) throw new InputError("nothing to show", "give a scenario or a saved state");
  let scenario: Scenario;
  let file = "saved state";
  if (input.scenario) {
    file = input.scenario.name;
    scenario = parseScenario(input.scenario.text, file);
  } else {
    let ids;
    try {
      ids = SavedState.decode(input.state!).idRegisters;
    } catch (e) {
      throw new InputError(`not a saved state (${firstLine(e)})`, "the saved state");
    }
    const id_registers = ids &&
      { IDR0: BigInt(ids.idr0), IDR1: BigInt(ids.idr1), IDR3: BigInt(ids.idr3), IDR5: BigInt(ids.idr5) };
    scenario = { steps: [], id_registers, memory_size: 2n ** 48n };
  }
  const recorder = new Recorder(new ScenarioRunner(scenario, file));
  scenario.steps.forEach((step, i) => recorder.step(step, `step ${i}`));
  for (const m of input.memory ?? []) {
    if (!recorder.runner.ram.write(m.base, m.bytes)) {
      throw new InputError("outside the guest memory", `memory image at 0x${m.base.toString(16)}`);
    }
  }
  if (input.memory?.length) {
    const bytes = input.memory.reduce((n, m) => n + m.bytes.length, 0);
    recorder.note({ source: "memory", kind: "mem_write", title: `memory images loaded (${bytes} bytes)` });
  }
  if (input.state) recorder.restore(input.state, "saved state");
  if (input.log !== undefined) explainLog(recorder, input.log);
  for (const p of input.probes ?? []) {
    let iova: bigint;
    try {
      iova = BigInt(p.iova);
    } catch {
      throw new InputError("not a number", `probe iova "${p.iova}"`);
    }
    const t = transactionOf({
      op: "dma",
      sid: BigInt(p.sid),
      iova,
      dir: p.dir,
      priv: p.priv,
      exec: p.exec,
      ssid: p.ssid === undefined ? undefined : BigInt(p.ssid),
    }, recorder.runner.privilegedDma);
    recorder.probe(t, "probe", "probe");
  }
  const title = scenario.name ?? file;
  const description = scenario.description ?? "";
  const source = [
    input.scenario?.name,
    input.state && "saved state",
    input.memory?.length && "memory images",
    input.log !== undefined && "Linux log",
  ].filter((x) => x).join(" + ");
  return recorder.model({ title, description, source });
}

/** Each event record of a Linux log, decoded; a record that names a transaction is explained by its walk now. */
function explainLog(recorder: Recorder, log: string): void {
  const parsed = parseLinuxLog(log, { event: EVENT_LAYOUT.words / 2, cmd: COMMAND_LAYOUT.words / 2 });
  if (!parsed) {
    recorder.warnings.push('Linux log: no "event 0x.. received:" block found');
    return;
  }
  for (const p of parsed.problems) recorder.warnings.push(`Linux log: ${p.what} at line ${p.line}`);
  for (const block of parsed.records) {
    const source = `log line ${block.line}`;
    if (block.kind !== "event") {
      const record = recorder.records.command(block.words) ?? undefined;
      recorder.note(
        { source, kind: "log_event", title: `command in error: ${record?.layout ?? "unknown opcode"}` },
        record,
      );
      continue;
    }
    const record = recorder.records.event(block.words);
    if (record === null) {
      recorder.note({ source, kind: "log_event", title: "event of a type the spec does not define" });
      continue;
    }
    const field = (name: string) => record.fields.find((f) => f.name === name)?.value;
    const sid = field("StreamID"), addr = field("InputAddr");
    const title = `${record.layout.replace(/^EVT_/, "")} from the log`;
    if (sid === undefined || addr === undefined) {
      recorder.note({ source, kind: "log_event", title }, record);
      continue;
    }
    const flag = (name: string) => field(name) === "0x1";
    const t = transactionOf({
      op: "dma",
      sid: BigInt(sid),
      iova: BigInt(addr),
      dir: flag("RnW") ? "read" : "write",
      priv: flag("PnU"),
      exec: flag("InD"),
      ssid: flag("SSV") ? BigInt(field("SubstreamID") ?? 0) : undefined,
    }, false);
    recorder.probe(t, source, "log_event", record, `${title}: sid ${t.sid} ${addr}`);
  }
}
