/**
 * Replays the recorded vectors through the public API: tests/vectors/qemu-7.2 (QEMU 7.2's SMMUv3, stage 1) and
 * tests/vectors/qemu-10.0 (QEMU 10.0's, stage 2 and nested), each driven like a guest driver. Every observation must
 * agree, except the listed deviations (tests/helpers/vector_deviations.ts): each names the step, what this model does
 * instead, and the architecture's reason (IHI 0070) that the recording is not followed.
 */
import assert from "node:assert/strict";
import { Smmu, SparseMemory } from "../mod.ts";
import type { IdRegisterValues } from "../mod.ts";
import {
  DEVIATIONS,
  type Expectation,
  QEMU10_DEVIATIONS,
  RECORD_RULES,
  type RecordRule,
} from "./helpers/vector_deviations.ts";
import type { Deviation } from "./helpers/vector_deviations.ts";
import { recordingDevice, type SmmuStage } from "../src/cli/recorded.ts";

/** One recorded set: where its files are, the ID registers its recording advertised, and its documented departures. */
interface Suite {
  readonly name: "qemu-7.2" | "qemu-10.0";
  readonly dir: URL;
  readonly ids: (v: Vector) => IdRegisterValues;
  readonly deviations: Record<string, Record<number, Deviation>>;
  /** Rules for event records that differ from the recording in named fields only (one rule per departure). */
  readonly records: readonly RecordRule[];
  /** Whether a DMA's `arch_expected` is the architecture's answer (QEMU 10.0), or a note for the reader (7.2). */
  readonly archExpected: boolean;
}

/** The ID registers the recording advertised (src/cli/recorded.ts, from the folders' READMEs). */
const recordedIds = (v: Vector) => recordingDevice(v.qemu_version, v.smmu_stage, v.name).idRegisters;
const SUITES: readonly Suite[] = [
  {
    name: "qemu-7.2",
    dir: new URL("./vectors/qemu-7.2/", import.meta.url),
    ids: recordedIds,
    deviations: DEVIATIONS,
    records: RECORD_RULES["qemu-7.2"],
    archExpected: false,
  },
  {
    name: "qemu-10.0",
    dir: new URL("./vectors/qemu-10.0/", import.meta.url),
    ids: recordedIds,
    deviations: QEMU10_DEVIATIONS,
    records: RECORD_RULES["qemu-10.0"],
    archExpected: true,
  },
];

type Step =
  | { op: "comment"; text: string }
  | { op: "mem_write"; addr: string; hex: string }
  | { op: "mmio_write"; offset: string; size: 4 | 8; value: string }
  | { op: "mmio_read"; offset: string; size: 4 | 8; observed: string }
  | {
    op: "dma";
    sid: number;
    iova: string;
    len: number;
    dir: "read" | "write";
    observed: { pa: string } | { fault: true };
    arch_expected?: string;
  }
  | { op: "mem_read"; addr: string; len: number; observed_hex: string };
interface Vector {
  name: string;
  qemu_version: string;
  smmu_stage?: SmmuStage;
  steps: Step[];
}

const bytes = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
const hexOf = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
/** A 64-bit IOVA as the API takes it: the upper half of the space as negative numbers. */
const iovaOf = (s: string) => Number(BigInt.asIntN(64, BigInt(s)));

/**
 * What one observation step gives on this model, in the vector's terms. The recording's DMA is privileged: QEMU's PCI
 * DMA carries MEMTXATTRS_UNSPECIFIED (user = 0), and the vectors' `arch_expected` answers pass pages with AP[1] = 0
 * (no EL0 access), which only a privileged transaction may use.
 */
function observe(smmu: Smmu, memory: SparseMemory, step: Step): Expectation | undefined {
  switch (step.op) {
    case "mmio_read":
      return "0x" + smmu.mmioRead(Number(step.offset), step.size).toString(16);
    case "dma": {
      const r = smmu.translate(step.sid, iovaOf(step.iova), { write: step.dir === "write", priv: true });
      return r.ok ? { pa: "0x" + r.pa.toString(16) } : { fault: true };
    }
    case "mem_read": {
      const b = new Uint8Array(step.len);
      memory.read(Number(step.addr), b);
      return hexOf(b);
    }
  }
  return undefined;
}

function recorded(step: Step): Expectation | undefined {
  if (step.op === "mmio_read") return "0x" + BigInt(step.observed).toString(16);
  if (step.op === "dma") {
    return "pa" in step.observed ? { pa: "0x" + BigInt(step.observed.pa).toString(16) } : { fault: true };
  }
  if (step.op === "mem_read") return step.observed_hex;
  return undefined;
}

/**
 * The record rules that explain every bit in which our 32-byte event record differs from the recording, or null when
 * a difference is left unexplained (or nothing differs). Each rule names the fields it may explain and checks that
 * our value there is the architecture's.
 */
function explainedRecord(ours: string, recorded: string, rules: readonly RecordRule[]): RecordRule[] | null {
  if (ours.length !== recorded.length || ours.length % 64 !== 0) return null;
  const a = bytes(ours), b = bytes(recorded);
  const used = new Set<RecordRule>();
  for (let at = 0; at < a.length; at += 32) {
    const mine = new Uint32Array(a.slice(at, at + 32).buffer), theirs = new Uint32Array(b.slice(at, at + 32).buffer);
    let left = 0;
    for (let i = 0; i < 8; i++) left |= mine[i] ^ theirs[i];
    if (left === 0) continue;
    const diff = mine.map((x, i) => x ^ theirs[i]);
    for (const rule of rules) {
      const mask = rule.explains(mine, theirs);
      if (mask === null || !mask.some((m, i) => (m & diff[i]) !== 0)) continue;
      used.add(rule);
      for (let i = 0; i < 8; i++) diff[i] &= ~mask[i];
    }
    if (diff.some((x) => x !== 0)) return null;
  }
  return used.size > 0 ? [...used] : null;
}

/** The last step's DMA on a new device given only the guest's writes so far: the up-to-date, uncached answer. */
function uncached(suite: Suite, v: Vector, steps: Step[]): Expectation | undefined {
  const memory = new SparseMemory({ size: 2 ** 32 });
  const smmu = new Smmu({ memory, idRegisters: suite.ids(v) });
  for (const step of steps) {
    if (step.op === "mem_write") memory.write(Number(step.addr), bytes(step.hex));
    else if (step.op === "mmio_write") smmu.mmioWrite(Number(step.offset), step.size, BigInt(step.value));
  }
  return observe(smmu, memory, steps[steps.length - 1]);
}

/** Replays a vector; returns the mismatches (step index, recorded, ours) that no deviation explains. */
export function replay(suite: Suite, v: Vector): string[] {
  // The recording's machine (QEMU virt) has RAM from 1 GiB and nothing at or above 4 GiB: the vectors place
  // structures at 0x1_0000_0000 to make their fetches abort.
  const memory = new SparseMemory({ size: 2 ** 32 });
  const smmu = new Smmu({ memory, idRegisters: suite.ids(v) });
  const deviations = suite.deviations[v.name] ?? {};
  const problems: string[] = [];
  v.steps.forEach((step, i) => {
    if (step.op === "mem_write") memory.write(Number(step.addr), bytes(step.hex));
    else if (step.op === "mmio_write") smmu.mmioWrite(Number(step.offset), step.size, BigInt(step.value));
    const ours = observe(smmu, memory, step);
    const dev = deviations[i];
    if (step.op === "dma") {
      // Where the recording says what the architecture answers, a deviation says it too, and only there.
      const arch = !suite.archExpected || step.arch_expected === undefined ? undefined : archOf(step.arch_expected);
      const want = dev?.ours ?? recorded(step);
      if (arch !== undefined && JSON.stringify(arch) !== JSON.stringify(want)) {
        problems.push(`step ${i} (dma): arch_expected ${step.arch_expected}, but expected ${JSON.stringify(want)}`);
      }
      const fresh = uncached(suite, v, v.steps.slice(0, i + 1));
      // README "Caching is allowed to differ": where the recording returned a stale translation, the up-to-date one
      // (ours) is also correct (IHI 0070 3.21: without invalidation an entry may or may not be cached; after
      // invalidation + CMD_SYNC only the new one is).
      if (dev === undefined && "pa" in (ours as object) && JSON.stringify(ours) === JSON.stringify(fresh)) return;
    }
    if (ours === undefined) return;
    const want = dev !== undefined ? dev.ours : recorded(step);
    if (dev === undefined && step.op === "mem_read" && explainedRecord(ours as string, want as string, suite.records)) {
      return;
    }
    if (JSON.stringify(ours) !== JSON.stringify(want)) {
      problems.push(
        `step ${i} (${step.op}): expected ${JSON.stringify(want)}${dev ? " (deviation)" : ""}, got ${
          JSON.stringify(ours)
        }`,
      );
    }
  });
  for (const i of Object.keys(deviations)) {
    if (recorded(v.steps[Number(i)]) === undefined) problems.push(`deviation at step ${i}, which observes nothing`);
  }
  return problems;
}

/** A DMA's `arch_expected` ("0x…" or "fault") in the vectors' terms. */
function archOf(a: string): Expectation {
  return a === "fault" ? { fault: true } : { pa: "0x" + BigInt(a).toString(16) };
}

function vectorsOf(suite: Suite): Vector[] {
  return [...Deno.readDirSync(suite.dir)].filter((e) => e.name.endsWith(".json")).map((e) => e.name).sort()
    .map((f) => JSON.parse(Deno.readTextFileSync(new URL(f, suite.dir))) as Vector);
}

for (const suite of SUITES) {
  for (const v of vectorsOf(suite)) {
    const devs = Object.values(suite.deviations[v.name] ?? {});
    const note = devs.length ? ` (${devs.length} documented deviation${devs.length > 1 ? "s" : ""})` : "";
    Deno.test(`vector ${suite.name}/${v.name}${note}`, () => {
      const problems = replay(suite, v);
      assert.deepEqual(problems, [], `${v.name}:\n${problems.join("\n")}`);
    });
  }
}

Deno.test("every documented deviation names a vector that exists and cites the architecture", () => {
  for (const suite of SUITES) {
    const names = new Set(vectorsOf(suite).map((v) => v.name));
    for (const [name, steps] of Object.entries(suite.deviations)) {
      assert.ok(names.has(name), `${suite.name}: ${name}`);
      for (const d of Object.values(steps)) assert.match(d.reason, /IHI 0070/, `${name}: ${d.reason}`);
    }
    for (const rule of suite.records) assert.match(rule.reason, /IHI 0070/, `${suite.name}: ${rule.name}`);
  }
});
