/**
 * Translation engine benchmarks, each beside its floor so every run shows the ratio:
 * TLB hit vs a bare Map.get; walks vs four dependent 32-bit-pair reads through a 64 MiB buffer; a 4 KiB
 * DmaView.read vs a raw Uint8Array.set. Also: 65,536 streams through a 2-level table, with the heap growth printed.
 */
import { STE_CONFIG } from "../gen/mod.ts";
import { DmaView } from "../src/dma.ts";
import { FlatMemory } from "../src/memory.ts";
import { RegisterFile } from "../src/regfile.ts";
import { pageKey } from "../src/tlb_pages.ts";
import { Translator } from "../src/translate.ts";
import { ACCESS } from "../src/types.ts";
import { Allocator, cdAt, PageTable, steAt } from "../src/guest/tables.ts";
import { enable, linearStreamTable, setupRegs, twoLevelStreamTable } from "../src/guest/engine_env.ts";

const MiB = 2 ** 20;
const mem = new FlatMemory(64 * MiB);
const regs = new RegisterFile();
setupRegs(regs);
enable(regs);
const alloc = new Allocator(0x10_0000);
const ste = linearStreamTable(regs, alloc, 8);
const t = new Translator(regs, mem, { report() {} }, []);

// Stream 1: stage 1, 4 KiB granule, 4 levels, 4096 mapped pages.
const s1 = new PageTable(mem, alloc, 12, 48, 0);
const cd = alloc.alloc(64, 64);
cdAt(mem, cd, { V: 1, AA64: 1, A: 1, R: 1, T0SZ: 16, IPS: 5, EPD1: 1, TTB0: s1.root, ASID: 1 });
steAt(mem, ste(1), { V: 1, Config: STE_CONFIG.S1_TRANS, S1ContextPtr: cd });
const PAGES = 4096;
const DATA = 32 * MiB;
for (let p = 0; p < PAGES; p++) s1.map(0x7f00_0000_0000 + p * 4096, DATA + ((p * 7919) % PAGES) * 4096);

// Stream 2: nested, stage 2 identity over the first 64 MiB in 4 KiB pages (4 levels, 48-bit IPA).
const s2 = new PageTable(mem, alloc, 12, 48, 0);
for (let a = 0; a < 64 * MiB; a += 4096) s2.map(a, a, 3, {}, 2);
steAt(mem, ste(2), {
  V: 1,
  Config: STE_CONFIG.NESTED,
  S1ContextPtr: cd,
  S2AA64: 1,
  S2TG: 0,
  S2T0SZ: 16,
  S2SL0: 2,
  S2PS: 5,
  S2TTB: s2.root,
  S2VMID: 1,
  S2R: 1,
});

// Floors. The TLB keys pages by pageKey (a Smi), so the hit floor's keys are Smis of that range too: like with
// like. The second map keeps raw page numbers (heap numbers above 2^30), the key an unfolded TLB would use.
const map = new Map<number, object>();
const firstKey = pageKey(0x7f00_0000_0000);
for (let p = 0; p < PAGES; p++) map.set(firstKey + p, { p });
const rawMap = new Map<number, object>();
for (let p = 0; p < PAGES; p++) rawMap.set(0x7f00_0000_0 + p, { p });
const words = new Uint32Array(64 * MiB / 4);
for (let i = 0; i < 4; i++) words[(i * 16 * MiB + 0x1230) / 4] = ((i + 1) % 4) * 16 * MiB + 0x1230;
const src = new Uint8Array(4096).fill(7);
const dst = new Uint8Array(4096);
const view = new DmaView(t, mem, 1, -1);

let sink = 0;
let i = 0;
Deno.bench("floor: Map.get on a page key (Smi, as the TLB's)", { group: "hit", baseline: true }, () => {
  sink ^= map.get(firstKey + (i++ & (PAGES - 1))) ? 1 : 0;
});
Deno.bench("Map.get on a raw page number (heap number)", { group: "hit" }, () => {
  sink ^= rawMap.get(0x7f00_0000_0 + (i++ & (PAGES - 1))) ? 1 : 0;
});
Deno.bench("TLB-hit translate (stage 1)", { group: "hit" }, () => {
  sink ^= t.translate(1, -1, 0x7f00_0000_0000 + (i++ & (PAGES - 1)) * 4096 + 8, ACCESS.WRITE);
});

Deno.bench("floor: 4 dependent 32-bit-pair reads in 64 MiB", { group: "walk", baseline: true }, () => {
  let a = 0x1230;
  for (let l = 0; l < 4; l++) a = words[a >>> 2] + words[(a >>> 2) + 1] * 2 ** 32;
  sink ^= a;
});
// A second engine whose contexts are cached but whose TLB holds only page 0: probe() of pages 1..4095 walks
// every time (probe never fills the TLB), with the configuration already decoded.
// Stream 2's first transaction in each 2 MiB region fills the nested walk cache with that region's stage-1 tables
// (the steady state of a device that has touched its buffers); those pages are then TLB hits, so walks skip them.
const tw = new Translator(regs, mem, { report() {} }, []);
tw.translate(1, -1, 0x7f00_0000_0000, 0);
for (let p = 0; p < PAGES; p += 512) tw.translate(2, -1, 0x7f00_0000_0000 + p * 4096, 0);
const walkPage = () => {
  const p = 1 + (i++ % (PAGES - 1));
  return 0x7f00_0000_0000 + ((p & 511) === 0 ? p + 1 : p) * 4096;
};
Deno.bench("stage-1 4-level walk, cached config", { group: "walk" }, () => {
  sink ^= tw.probe(1, -1, walkPage(), 0);
});
Deno.bench("nested 4+4-level walk, cached config", { group: "walk" }, () => {
  sink ^= tw.probe(2, -1, walkPage(), 0);
});
Deno.bench("TLBI_NH_VA of one page + refill (4096 cached pages)", { group: "inval" }, () => {
  t.invalidate({ kind: "nh_va", vmid: 0, asid: 1, addr: 0x7f00_0000_0000, leaf: true, range: null });
  sink ^= t.translate(1, -1, 0x7f00_0000_0000 + 8, 0);
});

Deno.bench("floor: Uint8Array.set of 4 KiB", { group: "dma", baseline: true }, () => {
  dst.set(src);
});
Deno.bench("DmaView.read of 4 KiB within one page", { group: "dma" }, () => {
  view.read(0x7f00_0000_0000, dst);
});

// 65,536 StreamIDs through a 2-level stream table, every STE alike (stage 1, one page mapped), default cache
// limits: touching them all must leave the heap bounded by the caches (4,096 contexts), not by the streams.
// Built on the group's first call (outside the timed region) so its garbage does not disturb the groups above.
let many: Translator | null = null;
function touchAllStreams(): Translator {
  const mem2 = new FlatMemory(16 * MiB);
  const regs2 = new RegisterFile();
  setupRegs(regs2);
  enable(regs2);
  const alloc2 = new Allocator(0x1000);
  const ste2 = twoLevelStreamTable(regs2, mem2, alloc2, 16, 8);
  const pt2 = new PageTable(mem2, alloc2, 12, 48, 0);
  pt2.map(0x1000, 0x9000);
  const cd2 = alloc2.alloc(64, 64);
  cdAt(mem2, cd2, { V: 1, AA64: 1, A: 1, R: 1, T0SZ: 16, IPS: 5, EPD1: 1, TTB0: pt2.root, ASID: 1 });
  for (let sid = 0; sid < 65536; sid++) {
    steAt(mem2, ste2(sid), { V: 1, Config: STE_CONFIG.S1_TRANS, S1ContextPtr: cd2 });
  }
  const t2 = new Translator(regs2, mem2, { report() {} }, []);
  // Retained heap needs a collection first (`deno bench --v8-flags=--expose-gc`); otherwise garbage is counted too.
  const gc = (globalThis as { gc?: () => void }).gc;
  const heap = () => (gc?.(), Deno.memoryUsage().heapUsed);
  const touch = (from: number, to: number) => {
    for (let sid = from; sid < to; sid++) sink ^= t2.translate(sid, -1, 0x1000, 0);
  };
  const heap0 = heap();
  touch(0, 4096);
  const heap4k = heap();
  touch(4096, 65536);
  const heap64k = heap();
  const mb = (n: number) => `${n >= 0 ? "+" : ""}${(n / MiB).toFixed(1)} MiB`;
  const c = t2.caches;
  console.log(
    `65,536 streams (${gc ? "after GC" : "no GC: includes garbage"}): heap ${mb(heap4k - heap0)} for the first ` +
      `4,096, then ${mb(heap64k - heap4k)} for the other 61,440; caches hold ${c.contextCount} contexts, ` +
      `${c.streamCount} STEs, ${c.entryCount} TLB keys`,
  );
  return t2;
}
let sid2 = 0;
Deno.bench("translate on the next of 65,536 streams (STE + CD fetch, 2-level table)", { group: "streams" }, (b) => {
  many ??= touchAllStreams();
  b.start();
  sink ^= many.translate(sid2, -1, 0x1000, 0);
  b.end();
  sid2 = (sid2 + 1) & 0xffff;
});

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink);
});
