/**
 * TLB fill speed (issue 14), beside its floor: TlbRows.add of a page row into a full pool (an eviction) and into one
 * with a stale row under the key (a replacement), and TlbRows.fillPage, as a quick TLB miss fills when its lookup
 * answered NONE, into a full pool, against a Map kept at 16 entries by a delete and a set per iteration. The whole
 * miss is translate_bench.ts's "miss" group.
 */
import { NONE, pageKey, type RowData, SPACE, TlbRows } from "../src/translation/tlb_pages.ts";
import { IOVA } from "./setup.ts";

const PAGES = 4096; // filled in turn: into 16 rows, every fill evicts; into 65,536, every fill finds its old row
const d: RowData = { inBase: 0, size: 4096, outBase: 0, allow: 0xff, global: false, ipaBase: -1 };
let i = 0;

function pool(rows: number): TlbRows {
  const t = new TlbRows(rows);
  t.setOwner(0, 1, -1);
  for (let p = 0; p < PAGES; p++) fill(t, false);
  return t;
}
function fill(rows: TlbRows, absent: boolean): number {
  const a = IOVA + (i++ & (PAGES - 1)) * 4096;
  d.inBase = a;
  d.outBase = 0x4800_0000 + (i & (PAGES - 1)) * 4096;
  return absent ? rows.fillPage(0, pageKey(a), d, null) : rows.add(0, SPACE.PAGE, pageKey(a), d, NONE);
}
const full = pool(16), stale = pool(65536), known = pool(16);

const map = new Map<number, object>();
const value = {};
let k = 0;
Deno.bench(
  "floor: Map.delete and Map.set of small integers (16 entries kept)",
  { group: "fill", baseline: true },
  () => {
    map.delete(k - 16);
    map.set(k++, value);
  },
);
Deno.bench("TlbRows.add of a page row into a full 16-row pool (eviction)", { group: "fill" }, () => {
  fill(full, false);
});
Deno.bench("TlbRows.add of a page row over a stale row under its key", { group: "fill" }, () => {
  fill(stale, false);
});
Deno.bench("TlbRows.fillPage (its key known free) into a full 16-row pool", { group: "fill" }, () => {
  fill(known, true);
});
