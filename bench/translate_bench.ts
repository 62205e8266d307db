/**
 * Translation speed, each group beside its floor measured in the same run (issue 14):
 * - hit: a TLB hit through the public API against Map.get on the same number of small-integer keys;
 * - miss: TLB misses (4-level stage 1 with its last-level table in the walk cache, on FlatMemory and SparseMemory;
 *   the same with a cold walk cache; nested) against four dependent 32-bit-pair reads;
 * - refill: misses into a TLB with room, against as many four-pair reads;
 * - config: decoding an STE and its CD.
 * Streams and working sets, whose big caches would slow every collection here, are in scale_bench.ts.
 */
import { ConfigReader } from "../src/translation/config.ts";
import { readCaps } from "../src/translation/caps.ts";
import { FlatMemory, SparseMemory } from "../src/core/memory.ts";
import { RegisterFile } from "../src/registers/regfile.ts";
import { Walker } from "../src/translation/walk.ts";
import { ACCESS } from "../src/core/types.ts";
import { Allocator, cdAt, PageTable, steAt } from "../src/guest/tables.ts";
import { enable, linearStreamTable, setupRegs } from "../tests/helpers/engine_env.ts";
import { CMD_TLBI_NH_VA, CMD_TLBI_TG, OPCODE, STE_CONFIG } from "../gen/mod.ts";
import { command } from "../src/guest/driver.ts";
import {
  bringUp,
  bytesPerCall,
  bytesPerIteration,
  fourPairReads,
  IOVA,
  mapPages,
  MiB,
  nestedStream,
  RAM_BASE,
  RAM_BYTES,
  stage1Stream,
} from "./setup.ts";

let sink = 0;
let i = 0;

// --- hit: 4,096 cached pages of one stream, visited in turn.
const PAGES = 4096;
const hot = bringUp(new FlatMemory(RAM_BYTES, RAM_BASE));
mapPages(stage1Stream(hot, 1), PAGES);
for (let p = 0; p < PAGES; p++) hot.smmu.translateAddress(1, IOVA + p * 4096, ACCESS.WRITE);
const PAGE_SCALE = 1 / 4096;
const keys = new Map<number, object>();
for (let p = 0; p < PAGES; p++) keys.set(p, { p });
const hitAddress = () => hot.smmu.translateAddress(1, IOVA + (i++ & (PAGES - 1)) * 4096 + 8, ACCESS.WRITE);
const write = { write: true };
const hitFriendly = () => hot.smmu.translate(1, IOVA + (i++ & (PAGES - 1)) * 4096 + 8, write);
// What a hit allocates in a loop that consumes its results, as an embedder's DMA loop runs (bytesPerIteration).
const hitLoop = (n: number) => {
  for (let k = 0; k < n; k++) sink ^= hot.smmu.translateAddress(1, IOVA + (i++ & (PAGES - 1)) * 4096 + 8, ACCESS.WRITE);
};
console.log(
  `TLB hit allocates: translateAddress ${bytesPerIteration(hitLoop)} B/call, translate ${
    bytesPerCall(hitFriendly)
  } B/call (its result object)`,
);

// The floor derives its key from the same IOVA a translation gets (a page number within the 4,096), so both pay for
// making the address: like with like.
Deno.bench("floor: Map.get keyed by the IOVA's page (4,096 small integers)", { group: "hit", baseline: true }, () => {
  sink ^= keys.get(((IOVA + (i++ & (PAGES - 1)) * 4096 + 8) * PAGE_SCALE) & (PAGES - 1)) ? 1 : 0;
});
Deno.bench("Map.get on 4,096 small integers, the key given (no address to make)", { group: "hit" }, () => {
  sink ^= keys.get(i++ & (PAGES - 1)) ? 1 : 0;
});
Deno.bench("Smmu.translateAddress, TLB hit", { group: "hit" }, () => {
  sink ^= hitAddress();
});
Deno.bench("Smmu.translate, TLB hit (allocates its result)", { group: "hit" }, () => {
  sink ^= hitFriendly().ok ? 1 : 0;
});

// --- miss: a 16-entry TLB, so every page of a cyclic sweep over 4,096 misses; their 8 last-level tables stay in
// the walk cache. A cold walk sweeps one page per 2 MiB over 512 regions, more than the walk cache keeps.
function missDevice(memory: FlatMemory | SparseMemory, nested: boolean) {
  const dev = bringUp(memory, 8, { entries: 16 });
  const tables = nested ? nestedStream(dev, 2) : stage1Stream(dev, 1);
  mapPages(tables, PAGES);
  const cold = stage1Stream(dev, 3, 3);
  mapPages(cold, 512, 2 * MiB);
  return dev.smmu;
}
const flat = missDevice(new FlatMemory(RAM_BYTES, RAM_BASE), false);
const sparse = missDevice(new SparseMemory(), false);
const nested = missDevice(new FlatMemory(RAM_BYTES, RAM_BASE), true);
const floorWalk = fourPairReads();
const sweep = () => IOVA + (i++ & (PAGES - 1)) * 4096;
const coldSweep = () => IOVA + (i++ & 511) * 2 * MiB;
for (let p = 0; p < PAGES; p++) {
  flat.translateAddress(1, sweep());
  sparse.translateAddress(1, sweep());
  nested.translateAddress(2, sweep());
}
for (let p = 0; p < 512; p++) flat.translateAddress(3, coldSweep());
const missRate = (smmu: typeof flat, sid: number, next: () => number) => {
  const before = smmu.stats.translation;
  for (let n = 0; n < 8192; n++) smmu.translateAddress(sid, next());
  const after = smmu.stats.translation;
  return `${((after.walks - before.walks) / 8192 * 100).toFixed(0)}% walked`;
};
console.log(
  `misses: stage 1 ${missRate(flat, 1, sweep)}, nested ${missRate(nested, 2, sweep)}, cold ${
    missRate(flat, 3, coldSweep)
  }; a stage-1 miss allocates ${
    bytesPerIteration((n) => {
      for (let k = 0; k < n; k++) sink ^= flat.translateAddress(1, IOVA + (i++ & (PAGES - 1)) * 4096);
    })
  } B`,
);

Deno.bench("floor: 4 dependent 32-bit-pair reads in 64 MiB", { group: "miss", baseline: true }, () => {
  sink ^= floorWalk();
});
Deno.bench("stage-1 miss, 4 levels (last-level table cached), FlatMemory", { group: "miss" }, () => {
  sink ^= flat.translateAddress(1, sweep());
});
Deno.bench("stage-1 miss, 4 levels (last-level table cached), SparseMemory", { group: "miss" }, () => {
  sink ^= sparse.translateAddress(1, sweep());
});
Deno.bench("nested miss, 4+4 levels (both last-level tables cached), FlatMemory", { group: "miss" }, () => {
  sink ^= nested.translateAddress(2, sweep());
});
Deno.bench("stage-1 miss, 4 levels, cold walk cache, FlatMemory", { group: "miss" }, () => {
  sink ^= flat.translateAddress(3, coldSweep());
});

// --- refill: a TLB with room (the default 65,536 entries): each iteration invalidates the 4,096 pages (TLBI_NH_VA
// with Leaf over their range, untimed: the walk cache stays) and translates them all again, 4,096 misses.
const refill = bringUp(new FlatMemory(RAM_BYTES, RAM_BASE));
mapPages(stage1Stream(refill, 1), PAGES);
for (let p = 0; p < PAGES; p++) refill.smmu.translateAddress(1, IOVA + p * 4096);
const rangeTlbi = command(OPCODE.TLBI_NH_VA, (w) => {
  CMD_TLBI_NH_VA.ASID.set(w, 1);
  CMD_TLBI_NH_VA.Leaf.set(w, 1);
  CMD_TLBI_NH_VA.TG.set(w, CMD_TLBI_TG.GRAN_4K);
  CMD_TLBI_NH_VA.SCALE.set(w, 8); // (15 + 1) × 2^8 = 4,096 pages
  CMD_TLBI_NH_VA.NUM.set(w, 15);
  CMD_TLBI_NH_VA.Address.setAddress(w, IOVA);
});
Deno.bench("floor: 4,096 × 4 dependent 32-bit-pair reads", { group: "refill", baseline: true }, () => {
  for (let p = 0; p < PAGES; p++) sink ^= floorWalk();
});
Deno.bench("4,096 stage-1 misses into a TLB with room, FlatMemory", { group: "refill" }, (b) => {
  refill.driver.issue(rangeTlbi);
  refill.driver.sync();
  b.start();
  for (let p = 0; p < PAGES; p++) sink ^= refill.smmu.translateAddress(1, IOVA + p * 4096);
  b.end();
});

// --- config: an STE (linear table) and its CD fetched and decoded, as on a configuration cache miss.
const cfgMem = new FlatMemory(16 * MiB);
const cfgRegs = new RegisterFile();
setupRegs(cfgRegs);
enable(cfgRegs);
const cfgAlloc = new Allocator(0x1000);
const steOf = linearStreamTable(cfgRegs, cfgAlloc, 8);
const cfgTables = new PageTable(cfgMem, cfgAlloc, 12, 48, 0);
const cfgCd = cfgAlloc.alloc(64, 64);
cdAt(cfgMem, cfgCd, { V: 1, AA64: 1, A: 1, R: 1, T0SZ: 16, IPS: 5, EPD1: 1, TTB0: cfgTables.root, ASID: 1 });
steAt(cfgMem, steOf(5), { V: 1, Config: STE_CONFIG.S1_TRANS, S1ContextPtr: cfgCd });
const reader = new ConfigReader(cfgMem);
const caps = readCaps(cfgRegs.words);
const cfgWalker = new Walker(cfgMem);
Deno.bench("STE and CD fetched and decoded", { group: "config" }, () => {
  const stream = reader.readStream(cfgRegs.words, caps, 5)!;
  sink ^= reader.readContext(caps, stream, 0, cfgWalker, true)!.asid;
});

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink);
});
