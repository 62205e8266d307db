/**
 * What the benchmarks share: a device brought up as Linux does, stage-1 and nested streams over 4 KiB tables, the
 * floors each group is measured against, and a rough count of the bytes a call allocates.
 */
import { STE, STE_CONFIG } from "../gen/mod.ts";
import { Driver, LINUX_CR2 } from "../src/guest/driver.ts";
import { Allocator, cdAt, PageTable } from "../src/guest/tables.ts";
import type { GuestMemory } from "../src/core/memory.ts";
import { Smmu } from "../src/device/smmu.ts";
import type { CacheLimits } from "../src/translation/tlb.ts";

export const MiB = 2 ** 20;
/** Guest RAM: the driver's stream table and queues at 0x4100_0000 on, tables from 0x4400_0000, data above. */
export const RAM_BASE = 0x4000_0000;
export const RAM_BYTES = 256 * MiB;
const TABLES = 0x4400_0000;
/** Where data pages go. */
export const DATA = 0x4800_0000;
/** First IOVA of the mapped pages. */
export const IOVA = 0x7f00_0000_0000;

/** A device on `memory`, enabled by the guest driver with a linear stream table of 2^`sidBits` entries. */
export function bringUp(memory: GuestMemory, sidBits = 8, cacheLimits: CacheLimits = {}) {
  const smmu = new Smmu({ memory, cacheLimits });
  const driver = new Driver(smmu, memory, { sidBits, cmdqLog2: 10 });
  driver.probe();
  driver.reset({ cr2: LINUX_CR2 });
  return { smmu, driver, memory, alloc: new Allocator(TABLES) };
}
export type Device = ReturnType<typeof bringUp>;

/** A CD of ASID `asid` over `tables` (4 KiB granule, 48-bit VA) at a fresh address; returns its address. */
export function contextDescriptor(dev: Device, tables: PageTable, asid: number): number {
  const cd = dev.alloc.alloc(64, 64);
  cdAt(dev.memory, cd, { V: 1, AA64: 1, A: 1, R: 1, T0SZ: 16, IPS: 5, EPD1: 1, TTB0: tables.root, ASID: asid });
  return cd;
}

/** Stream `sid`: stage 1 only, ASID `asid`; returns its (empty) 4-level tables. */
export function stage1Stream(dev: Device, sid: number, asid = 1): PageTable {
  const tables = new PageTable(dev.memory, dev.alloc, 12, 48, 0);
  const cd = contextDescriptor(dev, tables, asid);
  dev.driver.writeSte(sid, STE_CONFIG.S1_TRANS, (ste) => STE.S1ContextPtr.setAddress(ste, cd));
  return tables;
}

/**
 * Stream `sid`: nested, stage 1 over a stage 2 that maps all of guest RAM as itself (4 levels of 4 KiB pages,
 * 48-bit IPA); returns the stage-1 tables (whose IPAs are their PAs).
 */
export function nestedStream(dev: Device, sid: number, asid = 1): PageTable {
  const s2 = new PageTable(dev.memory, dev.alloc, 12, 48, 0);
  for (let a = RAM_BASE; a < RAM_BASE + RAM_BYTES; a += 4096) s2.map(a, a, 3, {}, 2);
  const tables = new PageTable(dev.memory, dev.alloc, 12, 48, 0);
  const cd = contextDescriptor(dev, tables, asid);
  dev.driver.writeSte(sid, STE_CONFIG.NESTED, (ste) => {
    STE.S1ContextPtr.setAddress(ste, cd);
    STE.S2AA64.set(ste, 1);
    STE.S2T0SZ.set(ste, 16);
    STE.S2SL0.set(ste, 2);
    STE.S2PS.set(ste, 5);
    STE.S2TTB.setAddress(ste, s2.root);
    STE.S2VMID.set(ste, 1);
    STE.S2R.set(ste, 1);
  });
  return tables;
}

/** Maps `pages` pages from {@link IOVA} (in steps of `stride` bytes) to scattered data frames (4,096 of them). */
export function mapPages(tables: PageTable, pages: number, stride = 4096): void {
  for (let p = 0; p < pages; p++) tables.map(IOVA + p * stride, DATA + ((p * 7919) % 4096) * 4096);
}

/**
 * Floor of a table walk: four dependent reads of a 32-bit pair (a descriptor) through a 64 MiB Uint32Array, each
 * giving the next one's address.
 */
export function fourPairReads(): () => number {
  const words = new Uint32Array(64 * MiB / 4);
  for (let i = 0; i < 4; i++) words[(i * 16 * MiB + 0x1230) / 4] = ((i + 1) % 4) * 16 * MiB + 0x1230;
  return () => {
    let a = 0x1230;
    for (let l = 0; l < 4; l++) a = words[a >>> 2] + words[(a >>> 2) + 1] * 2 ** 32;
    return a;
  };
}

/**
 * Bytes `call` allocates per call once optimized, roughly: the heap's growth over 2,000 calls, the largest of five
 * runs (a garbage collection during a run only makes its growth smaller, or negative: such runs are left out).
 */
export function bytesPerCall(call: () => void): number {
  return bytesPerIteration((n) => {
    for (let i = 0; i < n; i++) call();
  });
}

/**
 * Bytes one iteration of `loop(n)` (n iterations) allocates once optimized, measured as {@link bytesPerCall} does. A
 * loop that consumes its results measures the code it calls as an embedder's loop runs it; through a call that V8
 * does not inline, a number above the Smi range returned to the caller is boxed (16 bytes the callee does not allocate).
 */
export function bytesPerIteration(loop: (n: number) => void): number {
  // Optimized first, for long enough that V8's optimizing compiler (which works beside the loop, on another thread)
  // has finished: until then the loop runs code that boxes every double it handles.
  const warm = performance.now();
  while (performance.now() - warm < 300) loop(2000);
  let best = -Infinity;
  for (let t = 0; t < 5; t++) {
    const before = Deno.memoryUsage().heapUsed;
    loop(2000);
    const grown = (Deno.memoryUsage().heapUsed - before) / 2000;
    if (grown >= 0) best = Math.max(best, grown);
  }
  return Math.max(0, Math.round(best));
}
