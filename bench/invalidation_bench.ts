/**
 * Invalidation cost against cache occupancy (issue 13.1): what Linux issues on an unmap, 1,024 CMD_TLBI_NH_VA of
 * one ASID in one CMDQ_PROD write, with the TLB full (65,536 keys over 64 address spaces, and a block) and with it
 * empty. The ratio of the two is the cost of occupancy; it should stay near 1, not grow with what is cached.
 */
import { CMD_TLBI_NH_VA, CMDQ_PROD, OPCODE, REG, STE, STE_CONFIG } from "../gen/mod.ts";
import { command, Driver, LINUX_CR2 } from "../src/guest/driver.ts";
import { Allocator, cdAt, PageTable } from "../src/guest/tables.ts";
import { FlatMemory } from "../src/memory.ts";
import { Smmu } from "../src/device.ts";

const MiB = 2 ** 20;
const STREAMS = 64;
const PAGES = 1024; // per stream: 64 × 1,024 = 65,536 TLB keys, the default limit
const BASE = 0x40_0000_0000;

/** A device with `STREAMS` stage-1 streams (ASID = StreamID + 1), each mapping `PAGES` pages and ASID 1 a block. */
function device() {
  const memory = new FlatMemory(256 * MiB, 0x4000_0000); // the driver's queues and tables, page tables, data
  const smmu = new Smmu({ memory });
  const driver = new Driver(smmu, memory, { cmdqLog2: 10 });
  driver.probe();
  driver.reset({ cr2: LINUX_CR2 });
  const alloc = new Allocator(0x4400_0000);
  for (let sid = 0; sid < STREAMS; sid++) {
    const pt = new PageTable(memory, alloc, 12, 48, 0);
    for (let p = 0; p < PAGES; p++) pt.map(BASE + p * 4096, 0x4800_0000 + p * 4096);
    if (sid === 0) pt.map(BASE + 0x4000_0000, 0x4800_0000, 2);
    const cd = alloc.alloc(64, 64);
    cdAt(memory, cd, { V: 1, AA64: 1, A: 1, R: 1, T0SZ: 16, IPS: 5, EPD1: 1, TTB0: pt.root, ASID: sid + 1 });
    driver.writeSte(sid, STE_CONFIG.S1_TRANS, (ste) => STE.S1ContextPtr.setAddress(ste, cd));
  }
  // The ring holds 1,024 TLBI_NH_VA, one per page of ASID 1, Leaf (as Linux's unmap issues them).
  for (let p = 0; p < PAGES; p++) {
    driver.issue(command(OPCODE.TLBI_NH_VA, (w) => {
      CMD_TLBI_NH_VA.ASID.set(w, 1);
      CMD_TLBI_NH_VA.Leaf.set(w, 1);
      CMD_TLBI_NH_VA.Address.setAddress(w, BASE + p * 4096);
    }));
  }
  return { smmu, driver };
}

const word = new Uint8Array(4);
/** Translates `pages` pages of the first `sids` streams (through DmaViews: no garbage to collect later). */
function fill(smmu: Smmu, sids: number, pages: number): void {
  for (let sid = 0; sid < sids; sid++) {
    const view = smmu.dmaView(sid);
    for (let p = 0; p < pages; p++) view.read(BASE + p * 4096, word);
  }
}

const full = device();
fill(full.smmu, STREAMS, PAGES);
full.smmu.dmaView(0).read(BASE + 0x4000_0000, word);
const empty = device();
const occupancy = () => full.smmu.stats.caches.tlbEntries;
console.log(`full TLB: ${occupancy()} keys in ${full.smmu.stats.caches.contexts} contexts`);

/** Publishes the whole ring again: PROD moves by its size, so all 1,024 commands run in this one write. */
function batch(smmu: Smmu): void {
  const prod = CMDQ_PROD.WR.get(Uint32Array.of(Number(smmu.mmioPeek(REG.CMDQ_PROD, 4))));
  smmu.mmioWrite(REG.CMDQ_PROD, 4, BigInt((prod + PAGES) & (2 * PAGES - 1)));
}

Deno.bench("floor: 1,024 TLBI_NH_VA in one CMDQ_PROD write, TLB empty", { group: "tlbi", baseline: true }, () => {
  batch(empty.smmu);
});
Deno.bench("1,024 TLBI_NH_VA in one CMDQ_PROD write, TLB full (65,536 keys)", { group: "tlbi" }, (b) => {
  fill(full.smmu, 1, PAGES); // the pages the batch invalidates come back (untimed), so the TLB stays full
  b.start();
  batch(full.smmu);
  b.end();
});
