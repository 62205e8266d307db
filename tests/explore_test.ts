/**
 * The explorer's data side: scenarios, saved states and Linux logs → the view model the page draws (timeline, walks as
 * grids, events linked to their steps, registers and caches per step). The browser side: tests/browser/.
 */
import assert from "node:assert/strict";
import { FlatMemory, guest, Smmu, spec } from "../mod.ts";
import { buildModel } from "../src/explore/inputs.ts";
import { listVectors } from "../src/explore/server.ts";
import type { ExploreModel, StepView, WalkView } from "../src/explore/model.ts";

const vector = (path: string) => {
  const url = new URL(`./vectors/${path}`, import.meta.url);
  return buildModel({ scenario: { name: path, text: Deno.readTextFileSync(url) } });
};
const dmas = (m: ExploreModel) => m.steps.filter((s): s is StepView & { dma: object } => s.dma !== undefined);
const column = (w: WalkView, col: number) => w.nodes.filter((n) => n.col === col).map((n) => n.title);

Deno.test("explore: every DMA of a recorded vector has a walk, and its result agrees with the recording", () => {
  const m = vector("qemu-7.2/s1-4k-4level-basic.json");
  assert.ok(dmas(m).length > 5);
  for (const s of dmas(m)) {
    assert.ok(s.dma!.walk.nodes.length >= 2, `${s.source} has a walk`);
    assert.equal(s.dma!.matches, true, `${s.source}: ${s.dma!.result} vs recorded ${s.dma!.recorded}`);
  }
});

Deno.test("explore: a stage-1 walk is one column, STE → CD → a descriptor per level → the page", () => {
  const m = vector("qemu-7.2/s1-4k-4level-basic.json");
  const first = dmas(m)[0].dma!;
  assert.equal(first.walk.nested, false);
  // 48-bit input, 4 KiB granule: four levels, 0 to 3 (DDI 0487 D8.2.6).
  assert.deepEqual(column(first.walk, 0), ["STE", "CD", "S1 L0", "S1 L1", "S1 L2", "S1 L3", "PA"]);
  const page = first.walk.nodes.find((n) => n.title === "S1 L3")!;
  assert.match(page.decision, /^4 KiB page → 0x/);
  assert.equal(page.record?.layout, "TT_PAGE_S1");
  assert.ok(page.record.fields.some((f) => f.name === "AF"), "decoded by field");
  assert.ok(m.layouts.TT_PAGE_S1.fields.AF.length > 0, "field descriptions from the spec");
  const ste = first.walk.nodes.find((n) => n.title === "STE")!;
  assert.match(ste.decision, /Config S1_TRANS/);
  for (let i = 1; i < first.walk.nodes.length; i++) {
    const [a, b] = [first.walk.nodes[i - 1].id, first.walk.nodes[i].id];
    assert.ok(first.walk.edges.some((e) => e.from === a && e.to === b), `${a} → ${b}`);
  }
});

Deno.test("explore: a fault ends the walk where it arose, and its event record is linked to the step", () => {
  const m = vector("qemu-7.2/s1-invalid-descriptors.json");
  const faults = dmas(m).filter((s) => !s.dma!.ok);
  assert.ok(faults.length >= 4);
  for (const s of faults) {
    const last = s.dma!.walk.nodes.at(-1)!;
    assert.equal(last.kind, "fault");
    assert.equal(last.tone, "fault");
    // IHI 0070 3.12: a transaction's fault is recorded as one event (CD.R = 1 in these vectors).
    assert.equal(s.events.length, 1, s.source);
    const event = m.events[s.events[0]];
    assert.equal(event.step, s.index);
    assert.equal(event.record.layout, "EVT_" + last.title);
  }
  // "V = 0 at L2" (the vector's description): the walk reads L0, L1 and L2, and L2 is invalid.
  const atL2 = faults.find((s) => s.dma!.walk.nodes.some((n) => n.title === "S1 L2" && n.tone === "fault"))!;
  assert.deepEqual(column(atL2.dma!.walk, 0), ["STE", "CD", "S1 L0", "S1 L1", "S1 L2", "F_TRANSLATION"]);
  assert.match(atL2.dma!.walk.nodes.find((n) => n.title === "S1 L2")!.decision, /invalid/);
});

Deno.test("explore: a nested walk is a grid, each stage-1 access in a row behind the stage-2 walk of its IPA", () => {
  const m = vector("qemu-10.0/nested-basic.json");
  const first = dmas(m)[0].dma!;
  assert.equal(first.result, first.recorded, "translated as recorded");
  const w = first.walk;
  assert.equal(w.nested, true);
  // The vector: S1 4K with T0SZ = 25 (39 bits: levels 1 to 3) over S2 4K with S2T0SZ = 25, S2SL0 = 1 (levels 1 to 3).
  assert.deepEqual(w.cols, ["stage 2 L1", "stage 2 L2", "stage 2 L3", "stage 1"]);
  assert.deepEqual(w.rows.map((r) => r.replace(/0x[0-9a-f]+/, "…")), [
    "STE",
    "CD at IPA …",
    "S1 L1 at IPA …",
    "S1 L2 at IPA …",
    "S1 L3 at IPA …",
    "output IPA …",
  ]);
  assert.deepEqual(column(w, 3), ["STE", "CD", "S1 L1", "S1 L2", "S1 L3", "PA"]);
  for (let row = 1; row < w.rows.length; row++) {
    const cells = w.nodes.filter((n) => n.row === row).sort((a, b) => a.col - b.col).map((n) => n.title);
    assert.deepEqual(cells.slice(0, 3), ["S2 L1", "S2 L2", "S2 L3"], `row ${row}: a stage-2 walk`);
  }
  // The S1 descriptors are read at the PAs their rows' stage-2 walks give.
  for (const n of w.nodes.filter((x) => x.title.startsWith("S1 "))) {
    const s2leaf = w.nodes.find((x) => x.row === n.row && x.title === "S2 L3")!;
    const page = s2leaf.decision.split("→ ")[1];
    assert.equal(BigInt(n.address) & ~0xfffn, BigInt(page), `${n.title} read in the page stage 2 gave`);
  }
});

Deno.test("explore: each recorded vector is listed and runs on the device it was recorded on, as trace runs it", () => {
  const listed = listVectors();
  assert.ok(listed.some((v) => v.path === "qemu-10.0/s2-permissions-access-flag.json"));
  // A folder's deviation list lies beside its vectors and is not one.
  assert.deepEqual(
    listed.filter((v) => !v.path.match(/^qemu-(7\.2|10\.0)\/[\w-]+\.json$/) || v.name === "deviations"),
    [],
  );
  // tests/vectors/qemu-10.0/README.md: stage 2 alone, IDR0 0x0d441019 and IDR3.XNX set (0x1414).
  const m = vector("qemu-10.0/s2-permissions-access-flag.json");
  assert.match(m.device, /^IDR0 0xd441019 · IDR1 0x2730010 · IDR3 0x1414 · IDR5 0x74 · privileged DMA/);
  const translated = dmas(m).filter((s) => s.dma!.recorded?.startsWith("pa"));
  assert.equal(translated.length, 8);
  for (const s of translated) assert.equal(s.dma!.result, s.dma!.recorded, s.source);
});

Deno.test("explore: a TLB hit shows the cached entry and a walk of the tables as they are now", () => {
  const m = vector("qemu-7.2/s1-4k-4level-basic.json");
  const hit = dmas(m).find((s) => s.dma!.walk.nodes.some((n) => n.kind === "tlb"))!;
  assert.ok(hit, "some DMA hits the TLB");
  assert.deepEqual(column(hit.dma!.walk, 0).slice(0, 2), ["STE", "CD"]);
  assert.ok(hit.dma!.walk.nodes.slice(0, 2).every((n) => n.tone === "cached"));
  assert.equal(hit.dma!.tablesNow?.same, true);
  assert.ok(hit.dma!.tablesNow!.walk.nodes.some((n) => n.title === "S1 L3"));
});

Deno.test("explore: registers and caches are recorded per step", () => {
  const m = vector("qemu-7.2/s1-4k-4level-basic.json");
  assert.deepEqual(Object.keys(m.initial), spec.REGISTERS.map((r) => r.name));
  const cr0 = m.steps.find((s) => s.kind === "mmio_write" && s.title.startsWith("CR0 "))!;
  // IHI 0070 6.3.10: CR0ACK follows CR0's enables once the SMMU has acted on them.
  assert.equal(cr0.registers.CR0ACK.value, cr0.registers.CR0.value);
  assert.equal(cr0.register?.record.layout, "CR0");
  const firstDma = dmas(m)[0];
  const ctx = firstDma.caches?.contexts.find((c) => c.sid === `0x${firstDma.dma!.sid.toString(16)}`);
  assert.ok(ctx, "the first DMA's context is cached after it");
  assert.equal(ctx.entries.length, 1);
  assert.equal(ctx.entries[0].pa, firstDma.dma!.result.replace("pa ", "").replace(/[0-9a-f]{3}$/, "000"));
  const commands = m.steps.flatMap((s) => s.commands.map((c) => c.layout));
  assert.ok(commands.includes("CMD_CFGI_STE") && commands.includes("CMD_SYNC"), commands.join());
});

/** A small device on flat memory (so its memory is one image): StreamID 3, a page at 0x1000. */
function flatDevice() {
  const memory = new FlatMemory(0x10_0000);
  const smmu = new Smmu({ memory });
  const layout = { strtab: 0x1_0000, cmdq: 0x2_0000, eventq: 0x3_0000, sidBits: 4 };
  const driver = new guest.Driver(smmu, memory, layout);
  driver.probe();
  driver.reset({ cr2: guest.LINUX_CR2 });
  const alloc = new guest.Allocator(0x4_0000);
  const tables = new guest.PageTable(memory, alloc, 12, 48, 0);
  tables.map(0x1000, 0x8_0000);
  const cd = alloc.alloc(64, 64);
  guest.cdAt(memory, cd, {
    ...{ V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, TG0: spec.CD_TG0.GRAN_4K, IPS: spec.CD_IPS.BITS_48 },
    ...{ TTB0: tables.root, ASID: 5 },
  });
  driver.writeSte(3, spec.STE_CONFIG.S1_TRANS, (ste) => spec.STE.S1ContextPtr.setAddress(ste, cd));
  driver.invalidateSte(3);
  return { memory, smmu };
}

Deno.test("explore: a saved state with its memory image, probed, and a Linux log explained by walks", () => {
  const { memory, smmu } = flatDevice();
  const state = smmu.save();
  // Linux prints "event 0x10 received:" then the record's four 64-bit words (arm_smmu_evtq_thread).
  const log = [
    "arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:",
    "arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000300000010",
    "arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000",
    "arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000002000",
    "arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000",
  ].join("\n");
  const m = buildModel({
    state,
    memory: [{ base: 0, bytes: memory.bytes }],
    log,
    probes: [{ sid: 3, iova: "0x1008", dir: "read" }],
  });
  assert.deepEqual(m.steps.map((s) => s.kind), ["mem_write", "restore", "log_event", "probe"]);
  const [, restore, logged, probe] = m.steps;
  assert.equal(restore.registers.CR0?.value, "0xd", "the state's registers");
  assert.equal(logged.logged?.layout, "EVT_F_TRANSLATION");
  // StreamID 3 at 0x2000: the tables map only 0x1000, so a walk now ends at an invalid level-3 descriptor.
  assert.equal(logged.dma?.result, "fault F_TRANSLATION");
  assert.equal(logged.dma?.access, "write");
  assert.deepEqual(column(logged.dma!.walk, 0).at(-2), "S1 L3");
  assert.equal(probe.dma?.result, "pa 0x80008");
  assert.equal(m.events.length, 0, "probes write no event");
});

Deno.test("explore: bad input is refused with a message naming it", () => {
  assert.throws(() => buildModel({}), /nothing to show/);
  assert.throws(() => buildModel({ scenario: { name: "x.json", text: "{" } }), /not valid JSON/);
  assert.throws(() => buildModel({ state: Uint8Array.of(0xff, 0xff) }), /not a saved state|saved state/);
});
