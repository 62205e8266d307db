/**
 * Translation engine benchmarks, each beside its floor so every run shows the ratio:
 * TLB hit vs a bare Map.get; walks vs four dependent 32-bit-pair reads through a 64 MiB buffer; a 4 KiB
 * DmaView.read vs a raw Uint8Array.set.
 */
import { STE_CONFIG } from "../gen/mod.ts";
import { DmaView } from "../src/dma.ts";
import { FlatMemory } from "../src/memory.ts";
import { RegisterFile } from "../src/regfile.ts";
import { Translator } from "../src/translate.ts";
import { ACCESS } from "../src/types.ts";
import { Allocator, cdAt, enable, linearStreamTable, PageTable, setupRegs, steAt } from "../tests/helpers/tables.ts";

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

// Floors.
const map = new Map<number, object>();
for (let p = 0; p < PAGES; p++) map.set(0x7f00_0000_0 + p, { p });
const words = new Uint32Array(64 * MiB / 4);
for (let i = 0; i < 4; i++) words[(i * 16 * MiB + 0x1230) / 4] = ((i + 1) % 4) * 16 * MiB + 0x1230;
const src = new Uint8Array(4096).fill(7);
const dst = new Uint8Array(4096);
const view = new DmaView(t, mem, 1, -1);

let sink = 0;
let i = 0;
Deno.bench("floor: Map.get on a page key", { group: "hit", baseline: true }, () => {
  sink ^= map.get(0x7f00_0000_0 + (i++ & (PAGES - 1))) ? 1 : 0;
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
const tw = new Translator(regs, mem, { report() {} }, []);
tw.translate(1, -1, 0x7f00_0000_0000, 0);
tw.translate(2, -1, 0x7f00_0000_0000, 0);
const walkPage = () => 0x7f00_0000_0000 + (1 + (i++ % (PAGES - 1))) * 4096;
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

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink);
});
