/**
 * Replays the recorded vectors (tests/vectors/qemu-7.2, QEMU 7.2's SMMUv3 driven like a guest driver) through the public
 * API. Every observation must agree, except the listed deviations: each names the step, what this model does
 * instead, and the architecture's reason (IHI 0070) that the recording is not followed.
 */
import assert from "node:assert/strict";
import { EVT_F_TRANSLATION } from "../gen/mod.ts";
import { Smmu, SparseMemory } from "../mod.ts";
import { DEVIATIONS, type Expectation } from "./helpers/vector_deviations.ts";

const DIR = new URL("./vectors/qemu-7.2/", import.meta.url);
const QEMU_IDS = { IDR0: 0x0d40101a, IDR1: 0x02730010, IDR3: 0x1404, IDR5: 0x74 };

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
  }
  | { op: "mem_read"; addr: string; len: number; observed_hex: string };
interface Vector {
  name: string;
  steps: Step[];
}

const bytes = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
const hexOf = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
/** A 64-bit IOVA as the API takes it: the upper half of the space as negative numbers. */
const iovaOf = (s: string) => Number(BigInt.asIntN(64, BigInt(s)));

/**
 * The recording's DMA is privileged: QEMU's PCI DMA carries MEMTXATTRS_UNSPECIFIED (user = 0), and the vectors'
 * `arch_expected` answers pass pages with AP[1] = 0 (no EL0 access), which only a privileged transaction may use.
 */
/** What one observation step gives on this model, in the vector's terms. */
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
 * Documented deviation for every event record: QEMU 7.2 never fills PnU (record bit 97); IHI 0070 7.3.13 defines it
 * as the transaction's privilege, which for the recording's (privileged) DMA is 1. Accepts a 32-byte record that
 * differs from the recording in that bit alone.
 */
function onlyPnuDiffers(ours: string, recorded: string): boolean {
  if (ours.length !== recorded.length || ours.length % 64 !== 0) return false;
  const a = bytes(ours), b = bytes(recorded);
  const pnu = new Uint32Array(8);
  EVT_F_TRANSLATION.PnU.set(pnu, 1);
  const mask = new Uint8Array(pnu.buffer);
  let differs = false;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] ^ b[i];
    if (d & ~mask[i % 32]) return false;
    if (d) differs = true;
  }
  return differs;
}

/** The last step's DMA on a new device given only the guest's writes so far: the up-to-date, uncached answer. */
function uncached(steps: Step[]): Expectation | undefined {
  const memory = new SparseMemory({ size: 2 ** 32 });
  const smmu = new Smmu({ memory, idRegisters: QEMU_IDS });
  for (const step of steps) {
    if (step.op === "mem_write") memory.write(Number(step.addr), bytes(step.hex));
    else if (step.op === "mmio_write") smmu.mmioWrite(Number(step.offset), step.size, BigInt(step.value));
  }
  return observe(smmu, memory, steps[steps.length - 1]);
}

/** Replays a vector; returns the mismatches (step index, recorded, ours) that no deviation explains. */
export function replay(v: Vector): string[] {
  // The recording's machine (QEMU virt) has RAM from 1 GiB and nothing at or above 4 GiB: the vectors place
  // structures at 0x1_0000_0000 to make their fetches abort.
  const memory = new SparseMemory({ size: 2 ** 32 });
  const smmu = new Smmu({ memory, idRegisters: QEMU_IDS });
  const deviations = DEVIATIONS[v.name] ?? {};
  const problems: string[] = [];
  v.steps.forEach((step, i) => {
    if (step.op === "mem_write") memory.write(Number(step.addr), bytes(step.hex));
    else if (step.op === "mmio_write") smmu.mmioWrite(Number(step.offset), step.size, BigInt(step.value));
    const ours = observe(smmu, memory, step);
    if (step.op === "dma") {
      const fresh = uncached(v.steps.slice(0, i + 1));
      // README "Caching is allowed to differ": where the recording returned a stale translation, the up-to-date one
      // (ours) is also correct (IHI 0070 3.21: without invalidation an entry may or may not be cached; after
      // invalidation + CMD_SYNC only the new one is).
      if ("pa" in (ours as object) && JSON.stringify(ours) === JSON.stringify(fresh)) return;
    }
    if (ours === undefined) return;
    const dev = deviations[i];
    const want = dev !== undefined ? dev.ours : recorded(step);
    if (dev === undefined && step.op === "mem_read" && onlyPnuDiffers(ours as string, want as string)) return;
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

const files = [...Deno.readDirSync(DIR)].filter((e) => e.name.endsWith(".json")).map((e) => e.name).sort();
for (const file of files) {
  const v = JSON.parse(Deno.readTextFileSync(new URL(file, DIR))) as Vector;
  const devs = Object.values(DEVIATIONS[v.name] ?? {});
  const note = devs.length ? ` (${devs.length} documented deviation${devs.length > 1 ? "s" : ""})` : "";
  Deno.test(`vector ${v.name}${note}`, () => {
    const problems = replay(v);
    assert.deepEqual(problems, [], `${v.name}:\n${problems.join("\n")}`);
  });
}

Deno.test("every documented deviation names a vector that exists and cites the architecture", () => {
  const names = new Set(files.map((f) => (JSON.parse(Deno.readTextFileSync(new URL(f, DIR))) as Vector).name));
  for (const [name, steps] of Object.entries(DEVIATIONS)) {
    assert.ok(names.has(name), name);
    for (const d of Object.values(steps)) assert.match(d.reason, /IHI 0070/, `${name}: ${d.reason}`);
  }
});
