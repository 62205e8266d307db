/**
 * Scenarios: a guest's program as data (the step kinds of the recorded vectors, plus what a fuzzer needs), and the one
 * runner that executes them. `smmuv3 trace` prints what each step does; the fuzzer (tests/fuzz/) checks invariants
 * around each step, and prints a failing case as a scenario, so `trace` replays it exactly.
 *
 * A scenario names the device (ID registers, cache limits, command budget, whether ATS endpoints complete their ATC
 * invalidations) and the memory behind it (sparse: its size and holes; or one flat buffer at a base; and whether aborts
 * are returned or thrown, as some hosts' memories do). Steps:
 * - `mem_write` / `mem_read`: the guest CPU's accesses to its memory (tables, commands, results);
 * - `mmio_write` / `mmio_read`: register accesses; a write's value may be `value_from` another register (a driver's
 *   "write back what PROD says", GERRORN ← GERROR);
 * - `dma`: one transaction (`translate`), or with `view` a copy through a DmaView (`len` bytes read, or `hex` written);
 * - `save_restore`: save, then restore into the `same` device or a `fresh` one on the same memory;
 * - `reset`: the host resets the device (`Smmu.reset`), as a VMM does on a system reset;
 * - `pri_request`, `ats_translate`, `ats_translated`: a PCIe endpoint's page request (`Smmu.pri.request`), ATS
 *   Translation Request and Translated transaction (`Smmu.ats`);
 * - `reenter`: arms a host callback (an interrupt sink, `onMsi`, an observer method, an endpoint hook: {@link
 *   CALLBACKS}) to run `steps` (memory and register accesses, DMAs) the next time the device calls it, inside the
 *   call, once: a host whose callbacks call back into the device (src/core/host_calls.ts). A guest's register write may
 *   fire it, not the host's own save_restore or reset.
 * @module
 */
import { load as parseYaml } from "js-yaml";
import { z } from "zod";
import { Smmu, type TranslationResult } from "../device/smmu.ts";
import type { DmaResult, DmaView } from "../device/dma.ts";
import type { PageRequestOutcome } from "../device/priq.ts";
import type { PriResponse } from "../device/commands.ts";
import type { AtsCompletion, TranslatedResult } from "../translation/ats.ts";
import type { InterruptSinks } from "../device/irq.ts";
import type { Access } from "../core/types.ts";
import type { EndpointHooks } from "../device/commands.ts";
import type { IdRegisterValues } from "../registers/features.ts";
import { ABORT, FlatMemory, type GuestMemory, SparseMemory } from "../core/memory.ts";
import type { CacheLimits } from "../translation/tlb.ts";
import { InputError } from "../core/errors.ts";
import { type RecordingDevice, recordingDevice, SMMU_STAGES } from "./recorded.ts";

const num = z.union([
  z.number().int().nonnegative().refine(Number.isSafeInteger, "above 2^53: quote it as hex"),
  z.string().regex(/^(0x[0-9a-fA-F_]+|[0-9_]+)$/, "not a number (decimal or 0x hex)"),
]).transform((v) => BigInt(typeof v === "number" ? v : v.replaceAll("_", "")));
/** A number of at most `width` bits: a wider one names its step and field instead of being truncated. */
const bits = (width: number) =>
  num.refine((v) => v < 1n << BigInt(width), (v) => ({ message: `0x${v.toString(16)} does not fit in ${width} bits` }));
const u32 = bits(32);
const u64 = bits(64);
const hexBytes = z.string().regex(/^([0-9a-fA-F]{2})*$/, "not hex bytes (two digits each, memory order)");
const size = z.union([z.literal(4), z.literal(8)]);
const count = z.number().int().positive();
/** The host callbacks a `reenter` step arms, by name: the interrupt sinks, `onMsi`, observers, endpoint hooks. */
export const CALLBACKS = [
  "eventq",
  "gerror",
  "priq",
  "cmdqSync",
  "sev",
  "msi",
  "invalidated",
  "synced",
  "globalChanged",
  "atcInvalidate",
  "priResponse",
] as const;
/** One of {@link CALLBACKS}. */
export type CallbackName = typeof CALLBACKS[number];

const guestSteps = [
  z.object({ op: z.literal("comment"), text: z.string() }),
  z.object({ op: z.literal("mem_write"), addr: u64, hex: hexBytes }),
  z.object({ op: z.literal("mmio_write"), offset: u32, size, value: u64.optional(), value_from: u32.optional() }),
  z.object({ op: z.literal("mmio_read"), offset: u32, size, observed: u64.optional() }),
  z.object({
    op: z.literal("dma"),
    sid: u32,
    iova: u64,
    len: count.optional(),
    dir: z.enum(["read", "write"]),
    ssid: bits(20).optional(),
    priv: z.boolean().optional(),
    exec: z.boolean().optional(),
    view: z.boolean().optional(),
    hex: hexBytes.optional(),
    /** The recorded outcome: a PA, or a fault (and whether it is recorded as an event). */
    observed: z.union([z.object({ pa: u64 }), z.object({ fault: z.literal(true), event: z.boolean().optional() })])
      .optional(),
  }).passthrough(),
  z.object({ op: z.literal("mem_read"), addr: u64, len: count, observed_hex: hexBytes.optional() }).passthrough(),
  z.object({
    op: z.literal("pri_request"),
    sid: u32,
    ssid: bits(20).optional(),
    address: u64,
    read: z.boolean().optional(),
    write: z.boolean().optional(),
    exec: z.boolean().optional(),
    priv: z.boolean().optional(),
    group: bits(9),
    last: z.boolean().optional(),
  }),
  z.object({
    op: z.literal("ats_translate"),
    sid: u32,
    ssid: bits(20).optional(),
    address: u64,
    write: z.boolean().optional(),
    exec: z.boolean().optional(),
    priv: z.boolean().optional(),
  }),
  z.object({ op: z.literal("ats_translated"), sid: u32, address: bits(53), write: z.boolean().optional() }),
] as const;
const nestedStepSchema = z.discriminatedUnion("op", [...guestSteps]);
const stepSchema = z.discriminatedUnion("op", [
  ...guestSteps,
  z.object({ op: z.literal("save_restore"), into: z.enum(["same", "fresh"]) }),
  z.object({ op: z.literal("reset") }),
  z.object({ op: z.literal("reenter"), from: z.enum(CALLBACKS), steps: z.array(nestedStepSchema) }),
]);
const scenarioSchema = z.object({
  name: z.string().optional(),
  description: z.string().optional(),
  /**
   * Present in recorded vectors: replay them as recorded (the ID registers that QEMU advertised, recorded.ts; 4 GiB of
   * RAM; privileged DMA). `smmu_stage` says which stages a QEMU 10 recording was built with.
   */
  qemu_version: z.string().optional(),
  smmu_stage: z.enum(SMMU_STAGES).optional(),
  id_registers: z.object({ IDR0: u32, IDR1: u32, IDR3: u32, IDR5: u32 }).optional(),
  memory_size: u64.optional(),
  memory_holes: z.array(z.tuple([u64, u64])).optional(),
  /** Memory as one FlatMemory buffer of `size` bytes at `base` instead (exclusive with memory_size and memory_holes). */
  flat_memory: z.object({ base: u64, size: u64 }).strict().optional(),
  /** "throw": the memory throws where it would abort, as a host's memory may (the device must turn it into an abort). */
  memory_aborts: z.enum(["return", "throw"]).optional(),
  cache_limits: z.object({ contexts: count.optional(), entries: count.optional(), streams: count.optional() })
    .strict().optional(),
  command_budget: count.optional(),
  /** Host ATS endpoints behind the SMMU: they "complete" or "fail" every CMD_ATC_INV (absent: no endpoint hooks). */
  atc_invalidations: z.enum(["complete", "fail"]).optional(),
  steps: z.array(stepSchema),
}).passthrough().superRefine((s, ctx) => {
  if (s.flat_memory !== undefined && (s.memory_size !== undefined || s.memory_holes !== undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["flat_memory"],
      message: "a flat memory has no memory_size or memory_holes",
    });
  }
  s.steps.forEach((step, i) => {
    if (step.op === "mmio_write" && (step.value === undefined) === (step.value_from === undefined)) {
      ctx.addIssue({ code: "custom", path: ["steps", i], message: "give value or value_from, one of them" });
    }
    // A register access carries `size` bytes: a wider value or observation is a mistake, not a value to truncate.
    const fits = (v: bigint | undefined, bytes: number, key: string) => {
      if (v === undefined || v < 1n << BigInt(8 * bytes)) return;
      ctx.addIssue({
        code: "custom",
        path: ["steps", i, key],
        message: `0x${v.toString(16)} does not fit ${bytes} bytes`,
      });
    };
    if (step.op === "mmio_write") fits(step.value, step.size, "value");
    if (step.op === "mmio_read") fits(step.observed, step.size, "observed");
  });
});

/** A scenario, validated. */
export type Scenario = z.infer<typeof scenarioSchema>;
/** One step of a scenario, validated. */
export type Step = z.infer<typeof stepSchema>;
/** A step a `reenter` step runs inside a callback: a guest's or device's access, no host operation. */
export type NestedStep = z.infer<typeof nestedStepSchema>;
/** A scenario as written (JSON): numbers, or strings of decimal or 0x hex. */
export type ScenarioInput = z.input<typeof scenarioSchema>;

/** Parses a scenario from JSON or YAML text; problems throw {@link InputError} naming the file and the path. */
export function parseScenario(text: string, file: string): Scenario {
  return validateScenario(parseDataFile(text, file), file);
}

/**
 * The value in a JSON or YAML file (by its name's extension); a syntax error throws {@link InputError}. YAML is read
 * with the core schema (what JSON can say, plus comments, hex numbers and block style) by js-yaml, which needs no
 * permission (the `yaml` package reads LOG_TOKENS from the environment on every parse).
 */
export function parseDataFile(text: string, file: string): unknown {
  const yaml = /\.ya?ml$/i.test(file);
  try {
    return yaml ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new InputError(`not valid ${yaml ? "YAML" : "JSON"} (${firstLine(e)})`, file);
  }
}

/** Validates a scenario given as a value; problems throw {@link InputError}. */
export function validateScenario(raw: unknown, file: string): Scenario {
  return validate(scenarioSchema, raw, file);
}

/** `raw` checked against `schema`; the first problem throws {@link InputError} naming the file and the path in it. */
export function validate<T extends z.ZodTypeAny>(schema: T, raw: unknown, file: string): z.output<T> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.map((p) => typeof p === "number" ? `[${p}]` : `.${p}`).join("").replace(/^\./, "");
    throw new InputError(issue.message, `${file} ${path || "top level"}`);
  }
  return r.data;
}

/** First line of an error's message. */
export const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split("\n")[0];

/** A memory that throws where its backing memory aborts, as some hosts' memories do. */
class ThrowingMemory implements GuestMemory {
  readonly #inner: GuestMemory;

  constructor(inner: GuestMemory) {
    this.#inner = inner;
  }
  read32(addr: number): number {
    const v = this.#inner.read32(addr);
    if (v === ABORT) throw new RangeError(`no memory at 0x${addr.toString(16)}`);
    return v;
  }
  write32(addr: number, value: number): boolean {
    return this.#inner.write32(addr, value) || this.#fail(addr);
  }
  read(addr: number, dst: Uint8Array): boolean {
    return this.#inner.read(addr, dst) || this.#fail(addr);
  }
  write(addr: number, src: Uint8Array): boolean {
    return this.#inner.write(addr, src) || this.#fail(addr);
  }
  #fail(addr: number): never {
    throw new RangeError(`no memory at 0x${addr.toString(16)}`);
  }
}

/** What a step did, for a printer: the translation or copy of a `dma` step, the value of a read. */
export type StepOutcome =
  | { op: "translate"; result: TranslationResult }
  | { op: "copy"; result: DmaResult }
  | { op: "mmio_read"; value: bigint }
  | { op: "mem_read"; bytes: Uint8Array }
  | { op: "pri_request"; result: PageRequestOutcome }
  | { op: "ats_translate"; completion: AtsCompletion }
  | { op: "ats_translated"; result: TranslatedResult }
  | { op: "other" };

/** Options of {@link ScenarioRunner}. */
export interface RunnerOptions {
  /** Wraps the memory the device sees (the fuzzer records and counts accesses this way); `ram` is the RAM behind. */
  wrapMemory?: (memory: GuestMemory, ram: GuestMemory) => GuestMemory;
  /** Told of each step a `reenter` ran inside callback `from`, after it ran. */
  onReentered?: (from: CallbackName, step: Step, outcome: StepOutcome) => void;
}

/**
 * Executes a scenario's steps on a device of its own. Step problems a host would make (an offset outside the frame…)
 * throw the device's HostError; nothing a guest does throws.
 */
export class ScenarioRunner {
  /** Guest RAM, as the guest CPU sees it (no holes' throwing, no wrapper). */
  readonly ram: GuestMemory;
  /** The memory the device works through. */
  readonly memory: GuestMemory;
  /** Whether DMA is privileged by default (recorded vectors: QEMU's PCI DMA is). */
  readonly privilegedDma: boolean;
  /** The recording's device, where the scenario is a recording that does not name its own ID registers. */
  readonly recording: RecordingDevice | undefined;
  /** The device; a `fresh` save_restore step replaces it. */
  smmu: Smmu;
  /** Wired interrupts the device has signalled so far, by kind (every device the runner builds counts here). */
  readonly interrupts: Record<keyof InterruptSinks, number> = { eventq: 0, gerror: 0, priq: 0, cmdqSync: 0, sev: 0 };
  /** DmaViews handed out by the current device, reused by later steps (as a device model keeps its view). */
  readonly #views = new Map<string, DmaView>();
  readonly #ids: IdRegisterValues | undefined;
  readonly #limits: CacheLimits | undefined;
  readonly #endpoints: EndpointHooks | undefined;
  /** Most commands one MMIO access runs (Infinity: the device's default, the whole queue). */
  readonly commandBudget: number;
  readonly #budget: number | undefined;
  /** The PRG responses the endpoints received (CMD_PRI_RESP and automatic ones), in order. */
  readonly responses: PriResponse[] = [];
  /** Steps armed by `reenter`, by the callback that runs them. */
  readonly #armed = new Map<CallbackName, Step[]>();
  /** Whether the runner is doing a host operation itself (save_restore, reset): armed callbacks wait. */
  #hostOp = false;
  readonly #onReentered: RunnerOptions["onReentered"];

  /** Builds the memory and device the scenario names; their errors throw {@link InputError}. */
  constructor(scenario: Scenario, file: string, options: RunnerOptions = {}) {
    const recorded = scenario.qemu_version !== undefined;
    this.privilegedDma = recorded;
    this.recording = recorded && scenario.id_registers === undefined
      ? recordingDevice(scenario.qemu_version!, scenario.smmu_stage, file)
      : undefined;
    const ids = scenario.id_registers ?? this.recording?.idRegisters;
    this.#ids = ids &&
      { IDR0: Number(ids.IDR0), IDR1: Number(ids.IDR1), IDR3: Number(ids.IDR3), IDR5: Number(ids.IDR5) };
    this.#limits = scenario.cache_limits;
    this.#budget = scenario.command_budget;
    this.#onReentered = options.onReentered;
    this.commandBudget = scenario.command_budget ?? Infinity;
    const atc = scenario.atc_invalidations;
    this.#endpoints = atc === undefined ? undefined : { atcInvalidate: () => atc === "complete", priResponse() {} };
    const size = scenario.memory_size !== undefined ? Number(scenario.memory_size) : recorded ? 2 ** 32 : undefined;
    const flat = scenario.flat_memory;
    try {
      const holes = scenario.memory_holes?.map(([a, b]) => [Number(a), Number(b)] as const);
      this.ram = flat ? new FlatMemory(Number(flat.size), Number(flat.base)) : new SparseMemory({ size, holes });
    } catch (e) {
      const where = flat ? "flat_memory" : scenario.memory_holes ? "memory_holes" : "memory_size";
      throw new InputError(firstLine(e), `${file} ${where}`);
    }
    const seen = scenario.memory_aborts === "throw" ? new ThrowingMemory(this.ram) : this.ram;
    this.memory = options.wrapMemory?.(seen, this.ram) ?? seen;
    try {
      this.smmu = this.freshDevice();
    } catch (e) {
      const message = firstLine(e);
      const option = /cacheLimits/.test(message)
        ? "cache_limits"
        : /commandBudget/.test(message)
        ? "command_budget"
        : "id_registers";
      throw new InputError(message, `${file} ${option}`);
    }
  }

  /** A new device as the scenario names it, on the same memory. Only the runner's current device fires `reenter`. */
  freshDevice(): Smmu {
    const fire = (from: CallbackName) => {
      if (smmu === this.smmu && !this.#hostOp) this.#fire(from);
    };
    const atc = this.#endpoints?.atcInvalidate;
    const smmu: Smmu = new Smmu({
      memory: this.memory,
      idRegisters: this.#ids,
      cacheLimits: this.#limits,
      commandBudget: this.#budget,
      endpoints: atc && {
        atcInvalidate: (inv) => (fire("atcInvalidate"), atc(inv)),
        priResponse: (r) => (this.responses.push({ ...r }), fire("priResponse")),
      },
      onMsi: () => fire("msi"),
      interrupts: Object.fromEntries(
        (Object.keys(this.interrupts) as (keyof InterruptSinks)[]).map((k) => [k, () => {
          this.interrupts[k]++;
          fire(k);
        }]),
      ),
    });
    smmu.observe({
      invalidated: () => fire("invalidated"),
      synced: () => fire("synced"),
      globalChanged: () => fire("globalChanged"),
    });
    return smmu;
  }

  /** Whether the devices have endpoint hooks (`atc_invalidations`): then `responses` hears every PRG response. */
  get hasEndpoints(): boolean {
    return this.#endpoints !== undefined;
  }

  /**
   * What transaction `t` translates to now on a device with nothing cached: the up-to-date answer (IHI 0070 3.21), from
   * a twin restored from this device's saved state (restore drops every cache and touches no memory), probed without
   * side effects.
   */
  uncached(t: Transaction): TranslationResult {
    const twin = new Smmu({
      memory: this.memory,
      idRegisters: this.#ids,
      cacheLimits: this.#limits,
      commandBudget: this.#budget,
    });
    twin.restore(this.smmu.save());
    return twin.probe(t.sid, t.iova, t.access);
  }

  /** How many callbacks a `reenter` has armed and not yet run. */
  get armed(): number {
    return this.#armed.size;
  }

  /** Runs what a `reenter` armed for `from`, once. */
  #fire(from: CallbackName): void {
    const steps = this.#armed.get(from);
    if (steps === undefined) return;
    this.#armed.delete(from);
    for (const step of steps) {
      const outcome = this.run(step); // not in the optional call's arguments: they are skipped without a hook
      this.#onReentered?.(from, step, outcome);
    }
  }

  /** Executes one step. */
  run(step: Step): StepOutcome {
    const smmu = this.smmu;
    switch (step.op) {
      case "comment":
        return { op: "other" };
      case "mem_write":
        this.ram.write(Number(step.addr), hexToBytes(step.hex));
        return { op: "other" };
      case "mmio_write": {
        const value = step.value ?? smmu.mmioRead(Number(step.value_from), step.size);
        smmu.mmioWrite(Number(step.offset), step.size, value);
        return { op: "other" };
      }
      case "mmio_read":
        return { op: "mmio_read", value: smmu.mmioRead(Number(step.offset), step.size) };
      case "mem_read": {
        const bytes = new Uint8Array(step.len);
        this.ram.read(Number(step.addr), bytes);
        return { op: "mem_read", bytes };
      }
      case "dma":
        return this.#dma(step);
      case "pri_request": {
        const { sid, ssid, address, group, ...flags } = step;
        const request = { ...flags, sid: Number(sid), address: addressOf(address), group: Number(group) };
        return { op: "pri_request", result: smmu.pri.request({ ...request, ssid: optional(ssid) }) };
      }
      case "ats_translate": {
        const { sid, ssid, address, write, exec, priv } = step;
        const request = { sid: Number(sid), ssid: optional(ssid), address: addressOf(address), write, exec, priv };
        return { op: "ats_translate", completion: smmu.ats.translate(request) };
      }
      case "ats_translated": {
        const access = { sid: Number(step.sid), address: Number(step.address), write: step.write };
        return { op: "ats_translated", result: smmu.ats.translated(access) };
      }
      case "save_restore": {
        this.#hostOp = true;
        try {
          const blob = smmu.save();
          if (step.into === "fresh") {
            this.smmu = this.freshDevice();
            this.#views.clear(); // views belong to their device
          }
          this.smmu.restore(blob);
        } finally {
          this.#hostOp = false;
        }
        return { op: "other" };
      }
      case "reset":
        this.#hostOp = true;
        try {
          smmu.reset();
        } finally {
          this.#hostOp = false;
        }
        return { op: "other" };
      case "reenter":
        this.#armed.set(step.from, step.steps);
        return { op: "other" };
    }
  }

  #dma(step: Step & { op: "dma" }): StepOutcome {
    const { sid, iova, access } = transactionOf(step, this.privilegedDma);
    if (!step.view) return { op: "translate", result: this.smmu.translate(sid, iova, access) };
    if (typeof iova !== "number") throw new InputError("a DmaView copy needs an IOVA below 2^53", "dma step");
    const key = `${sid}/${access.ssid}/${access.priv}/${access.exec}`;
    let view = this.#views.get(key);
    if (view === undefined) this.#views.set(key, view = this.smmu.dmaView(sid, access));
    const result = step.dir === "write"
      ? view.write(iova, step.hex ? hexToBytes(step.hex) : new Uint8Array(step.len ?? 4))
      : view.read(iova, new Uint8Array(step.len ?? 4));
    return { op: "copy", result };
  }
}

/** An endpoint step (`pri_request`, `ats_translate`, `ats_translated`) and its outcome in words, for printers. */
export function endpointSummary(step: EndpointStep, outcome: StepOutcome): { title: string; outcome: string } {
  const x = (v: bigint) => `0x${v.toString(16)}`;
  const ssid = "ssid" in step && step.ssid !== undefined ? ` ssid ${step.ssid}` : "";
  const flags = (names: string[]) => names.filter((n) => (step as Record<string, unknown>)[n] === true).join(",");
  switch (step.op) {
    case "pri_request":
      return {
        title: `pri_request sid ${step.sid}${ssid} page ${x(step.address)} group ${step.group} ` +
          `[${flags(["read", "write", "exec", "priv", "last"])}]`,
        outcome: outcome.op === "pri_request" ? outcome.result : "",
      };
    case "ats_translate": {
      const c = outcome.op === "ats_translate" ? outcome.completion : null;
      const granted = c?.status === "success"
        ? `success ${x(BigInt(c.address))} size ${x(BigInt(c.size))} ` +
          `[${[c.read && "R", c.write && "W", c.exec && "X", c.priv && "Priv"].filter(Boolean).join(",")}]`
        : c?.status ?? "";
      return {
        title: `ats_translate sid ${step.sid}${ssid} ${x(step.address)} [${flags(["write", "exec", "priv"])}]`,
        outcome: granted,
      };
    }
    case "ats_translated": {
      const r = outcome.op === "ats_translated" ? outcome.result : null;
      const what = r === null ? "" : r.ok ? `pa ${x(BigInt(r.pa))}` : `${r.fault}${r.event ? " (event)" : ""}`;
      return { title: `ats_translated sid ${step.sid} ${x(step.address)}${step.write ? " write" : ""}`, outcome: what };
    }
  }
}

/** The steps of a PCIe endpoint other than its DMA: page requests and ATS. */
export type EndpointStep = Extract<Step, { op: "pri_request" | "ats_translate" | "ats_translated" }>;

const optional = (v: bigint | undefined) => (v === undefined ? undefined : Number(v));
/** A 64-bit address as a number where it is exact, else as the bigint. */
const addressOf = (v: bigint) => (v < 2n ** 53n ? Number(v) : v);

/** A `dma` step's transaction as `Smmu.translate` takes it. */
export interface Transaction {
  sid: number;
  /** A signed number (negative: the upper, TTB1 half), or a bigint when it is no safe integer (a tagged address). */
  iova: number | bigint;
  access: Access;
}

/** The transaction a `dma` step makes; `privilegedDma` is the default of its `priv`. */
export function transactionOf(step: Step & { op: "dma" }, privilegedDma: boolean): Transaction {
  const signed = BigInt.asIntN(64, step.iova); // the upper half of the space as negative numbers
  const iova = signed >= -(2n ** 53n) + 1n && signed <= 2n ** 53n - 1n ? Number(signed) : signed;
  const access: Access = {
    write: step.dir === "write",
    priv: step.priv ?? privilegedDma,
    exec: step.exec,
    ssid: step.ssid === undefined ? undefined : Number(step.ssid),
  };
  return { sid: Number(step.sid), iova, access };
}

/** Bytes from hex digits in memory order. */
export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
