/**
 * Replays the recorded vectors: tests/vectors/qemu-7.2 (QEMU 7.2's SMMUv3, stage 1) and tests/vectors/qemu-10.0
 * (QEMU 10.0's, stage 2 and nested), each driven like a guest driver, on the device each recording ran on
 * (src/cli/recorded.ts), through the trace path (src/cli/trace.ts) that `deno task cli trace` uses. Every observation
 * must agree, or be accepted by the deviation list beside its folder (deviations.json, read by src/cli/deviations.ts):
 * a listed step says what this model does instead and the architecture's reason (IHI 0070); general rules explain
 * event-record fields a recording never fills and stale translations. A listed deviation that no longer happens, or a
 * rule that explains nothing, fails the test.
 */
import assert from "node:assert/strict";
import {
  type Applied,
  type DeviationList,
  DEVIATIONS_FILE,
  deviationsFor,
  type Observation,
  parseDeviations,
  same,
  scenarioKey,
} from "../src/cli/deviations.ts";
import { parseScenario, type Scenario } from "../src/cli/scenario.ts";
import { Tracer, type TraceStep } from "../src/cli/trace.ts";

/** A recorded folder, and whether its DMAs' `arch_expected` is the architecture's answer (else a note, README). */
const FOLDERS = [
  { name: "qemu-7.2", archExpected: false },
  { name: "qemu-10.0", archExpected: true },
] as const;

interface Folder {
  name: string;
  archExpected: boolean;
  list: DeviationList;
  vectors: { file: string; scenario: Scenario }[];
}

function load(f: typeof FOLDERS[number]): Folder {
  const dir = new URL(`./vectors/${f.name}/`, import.meta.url);
  const listFile = new URL(DEVIATIONS_FILE, dir).pathname;
  const vectors = [...Deno.readDirSync(dir)].map((e) => e.name)
    .filter((n) => n.endsWith(".json") && n !== DEVIATIONS_FILE).sort()
    .map((n) => new URL(n, dir).pathname)
    .map((file) => ({ file, scenario: parseScenario(Deno.readTextFileSync(file), file) }));
  return { ...f, list: parseDeviations(Deno.readTextFileSync(listFile), listFile), vectors };
}

/** What replaying one vector found: the problems no deviation explains, and the deviations it applied. */
interface Replay {
  problems: string[];
  applied: Applied[];
}

const text = (o: Observation | undefined) => JSON.stringify(o);

/** A DMA's `arch_expected` ("0x…" or "fault") in the recordings' terms. */
const archOf = (a: string): Observation => a === "fault" ? { fault: true } : { pa: "0x" + BigInt(a).toString(16) };

function replay(folder: Folder, file: string, scenario: Scenario): Replay {
  const deviations = deviationsFor(folder.list, scenarioKey(scenario.name, file));
  const tracer = new Tracer(scenario, file, deviations);
  const problems: string[] = [];
  const applied: Applied[] = [];
  for (const t of tracer.steps()) {
    if (t.op !== "mmio_read" && t.op !== "mem_read" && t.op !== "dma") continue;
    const c = t.check;
    if (c === undefined) continue;
    applied.push(...c.accepted ?? []);
    if (!c.matches && c.accepted === undefined) {
      problems.push(`step ${t.step} (${t.op}): recorded ${text(c.recorded)}, got ${text(c.ours)}`);
    }
    if (t.op === "dma" && folder.archExpected) problems.push(...archProblems(folder, scenario, t, deviations?.steps));
  }
  for (const [step, d] of Object.entries(deviations?.steps ?? {})) {
    if (!tracer.acceptedSteps.has(Number(step))) {
      problems.push(`step ${step}: listed deviation ${text(d.ours)} did not occur`);
    }
  }
  return { problems, applied };
}

/**
 * Where the recording says what the architecture answers (`arch_expected`), this model gives it, and a listed deviation
 * says so exactly there: where QEMU departed from it.
 */
function archProblems(
  folder: Folder,
  scenario: Scenario,
  t: TraceStep & { op: "dma" },
  listed: Readonly<Record<string, { ours: Observation }>> | undefined,
): string[] {
  const a = (scenario.steps[t.step] as { arch_expected?: string }).arch_expected;
  if (a === undefined || t.check === undefined) return [];
  const arch = archOf(a), problems: string[] = [];
  const said = listed?.[String(t.step)]?.ours ?? t.check.recorded;
  if (!same(arch, said)) {
    problems.push(`step ${t.step} (dma): arch_expected ${a}, but ${folder.name} says ${text(said)}`);
  }
  if (!same(arch, t.check.ours)) problems.push(`step ${t.step} (dma): arch_expected ${a}, got ${text(t.check.ours)}`);
  return problems;
}

const folders = FOLDERS.map(load);
/** Each folder's replays, by vector file, run once whatever tests are selected. */
const replays = new Map<Folder, Map<string, Replay>>();
const replaysOf = (f: Folder) => {
  let r = replays.get(f);
  if (r === undefined) {
    r = new Map(f.vectors.map((v) => [v.file, replay(f, v.file, v.scenario)]));
    replays.set(f, r);
  }
  return r;
};

for (const folder of folders) {
  for (const { file, scenario } of folder.vectors) {
    const listed = Object.keys(folder.list.steps[scenarioKey(scenario.name, file)] ?? {}).length;
    const note = listed ? ` (${listed} listed deviation${listed > 1 ? "s" : ""})` : "";
    Deno.test(`vector ${folder.name}/${scenarioKey(scenario.name, file)}${note}`, () => {
      const { problems } = replaysOf(folder).get(file)!;
      assert.deepEqual(problems, [], `${file}:\n${problems.join("\n")}`);
    });
  }

  Deno.test(`${folder.name}/${DEVIATIONS_FILE}: each entry names a vector there, cites IHI 0070, and applies`, () => {
    const names = new Set(folder.vectors.map((v) => scenarioKey(v.scenario.name, v.file)));
    for (const [name, steps] of Object.entries(folder.list.steps)) {
      assert.ok(names.has(name), `${name}: no such vector`);
      for (const d of Object.values(steps)) assert.match(d.reason, /IHI 0070 \d/, `${name}: ${d.reason}`);
    }
    const applied = [...replaysOf(folder).values()].flatMap((r) => r.applied);
    for (const rule of folder.list.records) {
      assert.match(rule.reason, /IHI 0070 \d/, `record rule ${rule.name}`);
      assert.ok(applied.some((a) => a.kind === "record" && a.rule === rule.name), `record rule ${rule.name} applies`);
    }
    const stale = folder.list.staleTranslations;
    if (stale !== undefined) {
      assert.match(stale, /IHI 0070 3\.21/);
      assert.ok(applied.some((a) => a.kind === "stale"), "the stale-translation rule applies");
    }
  });
}
