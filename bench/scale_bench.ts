/**
 * Scale without cliffs (issue 14): 65,536 streams in turn against 16 (every one cached: contexts, STEs and one TLB
 * entry each), and a cyclic sweep over twice the TLB against one over half of it (with the hit rates printed).
 */
import { FlatMemory } from "../src/memory.ts";
import { bringUp, IOVA, mapPages, RAM_BASE, RAM_BYTES, stage1Stream } from "./setup.ts";

let sink = 0;

// --- streams: every stream stage 1 with one page; 16 of them in turn, then all 65,536 in turn (all cached).
const STREAMS = 65536;
const streams = (() => {
  const dev = bringUp(new FlatMemory(RAM_BYTES, RAM_BASE), 16);
  const tables = stage1Stream(dev, 0);
  tables.map(0x1000, 0x4800_0000);
  const template = Array.from({ length: 16 }, (_, w) => dev.memory.read32(dev.driver.steAddress(0) + 4 * w));
  for (let sid = 1; sid < STREAMS; sid++) {
    for (let w = 0; w < 16; w++) dev.memory.write32(dev.driver.steAddress(sid) + 4 * w, template[w]);
  }
  for (let sid = 0; sid < STREAMS; sid++) dev.smmu.translateAddress(sid, 0x1008);
  const c = dev.smmu.stats.caches;
  console.log(`${STREAMS} streams cached: ${c.contexts} contexts, ${c.streams} STEs, ${c.tlbEntries} TLB entries`);
  return dev.smmu;
})();
let sid16 = 0, sidAll = 0;
Deno.bench("floor: 16 streams in turn, TLB hits", { group: "streams", baseline: true }, () => {
  sink ^= streams.translateAddress(sid16, 0x1008);
  sid16 = (sid16 + 1) & 15;
});
Deno.bench("65,536 streams in turn, TLB hits", { group: "streams" }, () => {
  sink ^= streams.translateAddress(sidAll, 0x1008);
  sidAll = (sidAll + 1) & (STREAMS - 1);
});

// --- working set: one stream, a cyclic sweep over half the TLB (65,536 entries) and over twice it.
const big = (() => {
  const dev = bringUp(new FlatMemory(RAM_BYTES, RAM_BASE));
  mapPages(stage1Stream(dev, 1), 131072);
  const rate = (pages: number) => {
    const before = dev.smmu.stats.translation;
    for (let n = 0; n < 4 * pages; n++) dev.smmu.translateAddress(1, IOVA + (n % pages) * 4096);
    const after = dev.smmu.stats.translation;
    return `${((after.tlbHits - before.tlbHits) / (4 * pages) * 100).toFixed(0)}%`;
  };
  const twice = rate(131072), half = rate(32768);
  console.log(`TLB hit rate of a cyclic sweep (4 laps): over twice the TLB ${twice}, then over half of it ${half}`);
  return dev.smmu;
})();
let half = 0, twice = 0;
Deno.bench("floor: cyclic sweep over half the TLB", { group: "working set", baseline: true }, () => {
  sink ^= big.translateAddress(1, IOVA + half * 4096);
  half = (half + 1) & 32767;
});
Deno.bench("cyclic sweep over twice the TLB", { group: "working set" }, () => {
  sink ^= big.translateAddress(1, IOVA + twice * 4096);
  twice = (twice + 1) & 131071;
});

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink);
});
