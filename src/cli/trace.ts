/**
 * `smmuv3 trace <scenario>`: runs a scenario (the step kinds of the recorded vectors: register writes and reads,
 * memory writes and reads, DMAs) on a fresh device and prints, for every DMA, the table walk that the side-effect-free
 * `probe` sees (each level: table, descriptor, decision), then the real translation and the events it raised.
 * @module
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { EVENTQ_BASE, EVENTQ_PROD, EVENTS, EVT_F_UUT, EVT_F_UUT_LAYOUT, REG, REGISTERS } from "../../gen/mod.ts";
import { Smmu, type TranslationResult } from "../device.ts";
import type { IdRegisterValues } from "../features.ts";
import { SparseMemory } from "../memory.ts";
import type { WalkStep } from "../translate.ts";
import type { CliIo } from "./decode.ts";
import { decodeRecord } from "./decode.ts";
import { InputError } from "./hex.ts";

/** The ID registers the vectors were recorded with (their README): replaying one advertises the same. */
export const RECORDED_ID_REGISTERS: IdRegisterValues = { IDR0: 0x0d40101a, IDR1: 0x02730010, IDR3: 0x1404, IDR5: 0x74 };

const num = z.union([
  z.number().int().nonnegative().refine(Number.isSafeInteger, "above 2^53: quote it as hex"),
  z.string().regex(/^(0x[0-9a-fA-F_]+|[0-9_]+)$/, "not a number (decimal or 0x hex)"),
]).transform((v) => BigInt(typeof v === "number" ? v : v.replaceAll("_", "")));
const hexBytes = z.string().regex(/^([0-9a-fA-F]{2})*$/, "not hex bytes (two digits each, memory order)");
const size = z.union([z.literal(4), z.literal(8)]);
const stepSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("comment"), text: z.string() }),
  z.object({ op: z.literal("mem_write"), addr: num, hex: hexBytes }),
  z.object({ op: z.literal("mmio_write"), offset: num, size, value: num }),
  z.object({ op: z.literal("mmio_read"), offset: num, size, observed: num.optional() }),
  z.object({
    op: z.literal("dma"),
    sid: num,
    iova: num,
    len: z.number().int().positive().optional(),
    dir: z.enum(["read", "write"]),
    ssid: num.optional(),
    priv: z.boolean().optional(),
    exec: z.boolean().optional(),
    observed: z.union([z.object({ pa: num }), z.object({ fault: z.literal(true) })]).optional(),
  }).passthrough(),
  z.object({
    op: z.literal("mem_read"),
    addr: num,
    len: z.number().int().positive(),
    observed_hex: hexBytes.optional(),
  })
    .passthrough(),
]);
const scenarioSchema = z.object({
  name: z.string().optional(),
  description: z.string().optional(),
  /** Present in recorded vectors: replay them as recorded (their ID registers, 4 GiB of RAM, privileged DMA). */
  qemu_version: z.string().optional(),
  id_registers: z.object({ IDR0: num, IDR1: num, IDR3: num, IDR5: num }).optional(),
  memory_size: num.optional(),
  steps: z.array(stepSchema),
}).passthrough();

/** A scenario, validated. */
export type Scenario = z.infer<typeof scenarioSchema>;
type Step = z.infer<typeof stepSchema>;

/** Parses a scenario from JSON or YAML text; problems throw {@link InputError} naming the file and the path. */
export function parseScenario(text: string, file: string): Scenario {
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new InputError(`not valid ${/\.ya?ml$/i.test(file) ? "YAML" : "JSON"} (${firstLine(e)})`, file);
  }
  const r = scenarioSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.map((p) => typeof p === "number" ? `[${p}]` : `.${p}`).join("").replace(/^\./, "");
    throw new InputError(issue.message, `${file} ${path || "top level"}`);
  }
  return r.data;
}

const hex = (v: number | bigint) => `0x${v.toString(16)}`;
const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];
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
export function latestEvents(smmu: Smmu, memory: SparseMemory, count: number): Uint32Array[] {
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
  const recorded = scenario.qemu_version !== undefined;
  const ids = scenario.id_registers ?? (recorded ? RECORDED_ID_REGISTERS : undefined);
  const memorySize = scenario.memory_size !== undefined ? Number(scenario.memory_size) : recorded ? 2 ** 32 : undefined;
  let memory: SparseMemory, smmu: Smmu;
  try {
    memory = new SparseMemory({ size: memorySize });
    smmu = ids === undefined ? new Smmu({ memory }) : new Smmu({
      memory,
      idRegisters: { IDR0: Number(ids.IDR0), IDR1: Number(ids.IDR1), IDR3: Number(ids.IDR3), IDR5: Number(ids.IDR5) },
    });
  } catch (e) {
    throw new InputError(firstLine(e), `${file} ${scenario.id_registers ? "id_registers" : "memory_size"}`);
  }
  if (scenario.name) out(`scenario ${scenario.name}${scenario.description ? `: ${scenario.description}` : ""}`);
  const idr = smmu.idRegisters;
  out(
    `device: IDR0 ${hex(idr.IDR0)} IDR1 ${hex(idr.IDR1)} IDR3 ${hex(idr.IDR3)} IDR5 ${hex(idr.IDR5)}` +
      (recorded ? " (the recording's), privileged DMA" : ""),
  );
  scenario.steps.forEach((step, i) => {
    try {
      runStep(smmu, memory, step, `step ${i}`.padEnd(9), recorded, out);
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(firstLine(e), `${file} steps[${i}]`);
    }
  });
  const s = smmu.stats;
  out(`done: ${s.translation.translations} translations, ${s.eventsWritten} events, ${s.commands} commands`);
}

function runStep(
  smmu: Smmu,
  memory: SparseMemory,
  step: Step,
  tag: string,
  recorded: boolean,
  out: (s: string) => void,
) {
  const note = (want: string | undefined, got: string) =>
    want === undefined ? "" : want === got ? "  (as recorded)" : `  (recorded: ${short(want)}; differs)`;
  switch (step.op) {
    case "comment":
      return out(`${tag}# ${step.text}`);
    case "mem_write": {
      const bytes = Uint8Array.from(step.hex.match(/../g) ?? [], (b) => parseInt(b, 16));
      memory.write(Number(step.addr), bytes);
      return out(`${tag}mem_write ${hex(step.addr)} (${bytes.length} bytes)`);
    }
    case "mmio_write": {
      const offset = Number(step.offset);
      smmu.mmioWrite(offset, step.size, step.value);
      return out(`${tag}mmio_write ${regName(offset)} = ${hex(step.value)}`);
    }
    case "mmio_read": {
      const offset = Number(step.offset);
      const v = hex(smmu.mmioRead(offset, step.size));
      return out(
        `${tag}mmio_read ${regName(offset)} = ${v}${
          note(step.observed === undefined ? undefined : hex(step.observed), v)
        }`,
      );
    }
    case "mem_read": {
      const b = new Uint8Array(step.len);
      memory.read(Number(step.addr), b);
      const got = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
      return out(`${tag}mem_read ${hex(step.addr)} (${step.len} bytes) = ${short(got)}${note(step.observed_hex, got)}`);
    }
    case "dma": {
      const sid = Number(step.sid);
      const iova = Number(BigInt.asIntN(64, step.iova)); // the upper half of the space as negative numbers
      const access = {
        write: step.dir === "write",
        priv: step.priv ?? recorded,
        exec: step.exec,
        ssid: step.ssid === undefined ? undefined : Number(step.ssid),
      };
      const ssid = access.ssid === undefined ? "" : ` ssid ${access.ssid}`;
      out(`${tag}dma sid ${sid}${ssid} ${step.dir} iova ${hex(step.iova)}${step.len ? ` (${step.len} bytes)` : ""}`);
      const walk: WalkStep[] = [];
      const probed = smmu.probe(sid, iova, access, walk);
      for (const s of walk) out(`           ${formatWalkStep(s)}`);
      const before = smmu.stats.eventsWritten, hits = smmu.stats.translation.tlbHits;
      const r = smmu.translate(sid, iova, access);
      if (smmu.stats.translation.tlbHits > hits) out("           TLB hit");
      const want = step.observed && ("pa" in step.observed ? `pa ${hex(step.observed.pa)}` : "fault");
      const got = r.ok ? formatResult(r) : "fault";
      out(`           → ${formatResult(r)}${note(want, got)}`);
      if (formatResult(probed) !== formatResult(r)) out(`           (probe said ${formatResult(probed)})`);
      const raised = smmu.stats.eventsWritten - before;
      for (const e of latestEvents(smmu, memory, raised)) out(`           event ${eventSummary(e)}`);
      return;
    }
  }
}

function regName(offset: number): string {
  const name = REG_NAMES.get(offset);
  return name ? `${name} (${hex(offset)})` : hex(offset);
}

/** `smmuv3 trace <scenario.json|yaml>`: returns the exit code; bad input throws {@link InputError}. */
export async function traceCommand(args: readonly string[], io: CliIo): Promise<number> {
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
  return 0;
}
