/**
 * The walker against a deliberately simple reference walk (BigInt descriptors, bit positions from DDI 0487 written
 * out here, independent of gen/), plus start levels, access flag, dirty state and address-size rules.
 */
import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import { EVENT_TYPE, EVT_CLASS } from "../gen/mod.ts";
import { SparseMemory } from "../src/core/memory.ts";
import { ACCESS } from "../src/core/types.ts";
import { stage1StartLevel, stage2StartLevel } from "../src/translation/regime.ts";
import type { Regime } from "../src/translation/regime.ts";
import { Walker } from "../src/translation/walk.ts";
import { Allocator, PageTable, s1Leaf } from "../src/guest/tables.ts";
import type { Values } from "../src/guest/tables.ts";

function regime(over: Partial<Regime> & { granuleShift: number; inputBits: number; ttb: number }): Regime {
  return {
    stage: 1,
    startLevel: stage1StartLevel(over.granuleShift, over.inputBits),
    oaBits: 48,
    ha: false,
    hd: false,
    affd: false,
    hierarchical: true,
    el2: false,
    pan: false,
    wxn: false,
    xnx: false,
    ptw: false,
    ...over,
  };
}

/** Reference: a plain VMSAv8-64 stage-1 walk, one level at a time. Returns the PA or a fault name. */
function refWalk(
  mem: SparseMemory,
  gs: number,
  inputBits: number,
  ttb: number,
  oaBits: number,
  ia: number,
  flags: number,
): number | string {
  const stride = gs - 3;
  const levels = Math.ceil((inputBits - gs) / stride);
  let level = 4 - levels;
  let table = BigInt(ttb);
  const iaB = BigInt(ia);
  for (;;) {
    const shift = BigInt(gs + (3 - level) * stride);
    const bits = level === 4 - levels ? BigInt(inputBits) - shift : BigInt(stride);
    const index = (iaB >> shift) & ((1n << bits) - 1n);
    const at = Number(table + index * 8n);
    const desc = BigInt(mem.read32(at) >>> 0) | (BigInt(mem.read32(at + 4) >>> 0) << 32n);
    if ((desc & 1n) === 0n) return "translation";
    const isTable = (desc & 2n) !== 0n;
    let addr = desc & 0x0000_ffff_ffff_f000n;
    if (gs === 16) addr = (desc & 0x0000_ffff_ffff_0000n) | (((desc >> 12n) & 0xfn) << 48n);
    if (level === 3 && !isTable) return "translation";
    if (isTable && level < 3) {
      if (addr >= 1n << BigInt(oaBits)) return "addr_size";
      table = addr & ~((1n << BigInt(gs)) - 1n);
      level++;
      continue;
    }
    const blockOk = level === 3 || (gs === 12 ? level >= 1 : level === 2);
    if (!blockOk) return "translation";
    const size = 1n << shift;
    const out = addr & ~(size - 1n);
    if (out >= 1n << BigInt(oaBits)) return "addr_size";
    if (((desc >> 10n) & 1n) === 0n) return "access";
    const ap = Number((desc >> 6n) & 3n);
    const uxn = ((desc >> 54n) & 1n) === 1n, pxn = ((desc >> 53n) & 1n) === 1n;
    const priv = (flags & ACCESS.PRIV) !== 0, write = (flags & ACCESS.WRITE) !== 0;
    const exec = !write && (flags & ACCESS.EXEC) !== 0;
    let ok: boolean;
    if (exec) ok = priv ? !pxn && ap !== 1 : !uxn;
    else if (write) ok = priv ? ap < 2 : ap === 1;
    else ok = priv || (ap & 1) === 1;
    if (!ok) return "permission";
    return Number(out + (iaB & (size - 1n)));
  }
}

const NAMES: Record<number, string> = {
  [EVENT_TYPE.F_TRANSLATION]: "translation",
  [EVENT_TYPE.F_ADDR_SIZE]: "addr_size",
  [EVENT_TYPE.F_ACCESS]: "access",
  [EVENT_TYPE.F_PERMISSION]: "permission",
};

Deno.test("stage-1 walks match the reference walk: every granule, T0SZ, block size and permission", () => {
  const scenario = fc.record({
    gs: fc.constantFrom(12, 14, 16),
    tsz: fc.integer({ min: 16, max: 39 }),
    maps: fc.array(
      fc.record({
        ia: fc.double({ min: 0, max: 1, noNaN: true }),
        oa: fc.integer({ min: 0, max: 2 ** 20 }),
        level: fc.integer({ min: 1, max: 3 }),
        ap: fc.integer({ min: 0, max: 3 }),
        uxn: fc.integer({ min: 0, max: 1 }),
        pxn: fc.integer({ min: 0, max: 1 }),
        af: fc.constantFrom(0, 1, 1, 1),
        highOa: fc.constantFrom(false, false, false, false, true),
      }),
      { minLength: 1, maxLength: 12 },
    ),
    accesses: fc.array(
      fc.record({
        pick: fc.nat(),
        off: fc.double({ min: 0, max: 1, noNaN: true }),
        flags: fc.integer({ min: 0, max: 7 }),
        stray: fc.boolean(),
      }),
      { minLength: 1, maxLength: 30 },
    ),
  });
  fc.assert(
    fc.property(scenario, ({ gs, tsz, maps, accesses }) => {
      const mem = new SparseMemory();
      const alloc = new Allocator(0x1000_0000);
      const inputBits = 64 - tsz;
      const start = stage1StartLevel(gs, inputBits);
      const pt = new PageTable(mem, alloc, gs, inputBits, start);
      const placed: { ia: number; size: number }[] = [];
      for (const m of maps) {
        const level = Math.max(m.level, start);
        const size = 2 ** pt.shift(level);
        const ia = Math.floor((m.ia * 2 ** inputBits) / size) * size;
        if (ia + size > 2 ** inputBits || placed.some((p) => p.ia < ia + size && ia < p.ia + p.size)) continue;
        const oa = (m.highOa ? 2 ** 44 : 2 ** 32) + m.oa * size % 2 ** 40;
        pt.map(ia, oa - (oa % size), level, { AP: m.ap, UXN: m.uxn, PXN: m.pxn, AF: m.af });
        placed.push({ ia, size });
      }
      const w = new Walker(mem);
      const r = regime({ granuleShift: gs, inputBits, ttb: pt.root, oaBits: 44 });
      for (const a of accesses) {
        // With nothing placed (every mapping overlapped), every access is a stray one: it must fault the same way.
        const p = placed[a.pick % placed.length];
        const ia = a.stray || p === undefined
          ? Math.min(Math.floor(a.off * 2 ** inputBits), 2 ** inputBits - 1)
          : Math.min(p.ia + Math.floor(a.off * p.size), p.ia + p.size - 1);
        const want = refWalk(mem, gs, inputBits, pt.root, 44, ia, a.flags);
        const got = w.walk(r, ia, a.flags, false) ? w.outBase + (ia - w.inBase) : NAMES[w.fault.type];
        assert.equal(got, want, `ia ${ia.toString(16)} flags ${a.flags}`);
      }
    }),
    { numRuns: 150 },
  );
});

Deno.test("start levels: stage 1 from TxSZ, stage 2 from S2SL0 with concatenation limits", () => {
  const s1: [number, number, number][] = [
    [12, 48, 0],
    [12, 39, 1],
    [12, 30, 2],
    [12, 25, 2],
    [14, 48, 0],
    [14, 47, 1],
    [14, 36, 2],
    [16, 48, 1],
    [16, 42, 2],
    [16, 52, 1],
    [16, 29, 3],
    [16, 30, 2],
  ];
  for (const [gs, ib, level] of s1) assert.equal(stage1StartLevel(gs, ib), level, `gs ${gs} ib ${ib}`);
  const s2: [number, number, number, number][] = [
    [12, 0, 34, 2],
    [12, 0, 25, 2],
    [12, 0, 35, -1],
    [12, 1, 40, 1],
    [12, 1, 43, 1],
    [12, 1, 44, -1],
    [12, 2, 48, 0],
    [12, 2, 39, -1],
    [12, 3, 40, -1],
    [14, 1, 36, 2],
    [14, 2, 47, 1],
    [16, 1, 42, 2],
    [16, 2, 48, 1],
    [16, 0, 32, 3],
  ];
  for (const [gs, sl0, ib, level] of s2) {
    assert.equal(stage2StartLevel(gs, sl0, ib), level, `gs ${gs} sl0 ${sl0} ib ${ib}`);
  }
});

function fixture(gs = 12) {
  const mem = new SparseMemory({ holes: [[0x1_0000_0000, 0x1_0001_0000]] });
  const alloc = new Allocator(0x1000_0000);
  const pt = new PageTable(mem, alloc, gs, 48, stage1StartLevel(gs, 48));
  return { mem, alloc, pt, w: new Walker(mem), r: regime({ granuleShift: gs, inputBits: 48, ttb: pt.root }) };
}

Deno.test("access flag: fault, AFFD, or hardware update (HA) that writes AF back", () => {
  const { pt, w, r } = fixture();
  pt.map(0x1000, 0x5000, 3, { AF: 0 });
  assert.equal(w.walk(r, 0x1000, 0, true), false);
  assert.equal(w.fault.type, EVENT_TYPE.F_ACCESS);
  assert.equal(w.walk({ ...r, affd: true }, 0x1000, 0, true), true);
  assert.equal(s1Leaf(pt.leaf(0x1000)).af, 0, "AFFD does not write the descriptor");
  assert.equal(w.walk({ ...r, ha: true }, 0x1000, 0, false), true);
  assert.equal(s1Leaf(pt.leaf(0x1000)).af, 0, "a probe does not write the descriptor");
  assert.equal(w.walk({ ...r, ha: true }, 0x1000, 0, true), true);
  assert.equal(s1Leaf(pt.leaf(0x1000)).af, 1);
});

Deno.test("dirty state: DBM with HD makes a write clear AP[2]; without HD it is a permission fault", () => {
  const { pt, w, r } = fixture();
  pt.map(0x2000, 0x6000, 3, { AP: 3, DBM: 1 });
  assert.equal(w.walk({ ...r, ha: true }, 0x2000, ACCESS.WRITE, true), false);
  assert.equal(w.fault.type, EVENT_TYPE.F_PERMISSION);
  assert.equal(w.walk({ ...r, ha: true, hd: true }, 0x2000, 0, true), true);
  assert.equal(s1Leaf(pt.leaf(0x2000)).ap, 3, "reads leave it clean");
  assert.equal(w.walk({ ...r, ha: true, hd: true }, 0x2000, ACCESS.WRITE, true), true);
  assert.equal(s1Leaf(pt.leaf(0x2000)).ap, 1, "AP[2] cleared: dirty");
  pt.map(0x3000, 0x7000, 3, { AP: 3, DBM: 0 });
  assert.equal(w.walk({ ...r, ha: true, hd: true }, 0x3000, ACCESS.WRITE, true), false, "no DBM: still read-only");
});

Deno.test("table attributes: APTable, UXNTable, PXNTable apply unless hierarchical attributes are disabled", () => {
  const { pt, w, r } = fixture();
  pt.map(0x4000_0000, 0x8000, 3, {}, 1, { APTable: 3, UXNTable: 1 });
  assert.equal(w.walk(r, 0x4000_0000, 0, false), false, "no EL0 access below APTable[0]");
  assert.equal(w.walk(r, 0x4000_0000, ACCESS.PRIV | ACCESS.WRITE, false), false, "read-only below APTable[1]");
  assert.equal(w.walk(r, 0x4000_0000, ACCESS.PRIV, false), true);
  assert.equal(w.walk({ ...r, hierarchical: false }, 0x4000_0000, ACCESS.WRITE, false), true);
});

Deno.test("PAN, WXN, EL2 regime and stage-2 XN permissions", () => {
  const { pt, w, r } = fixture();
  pt.map(0x1000, 0x9000, 3, { AP: 1 });
  assert.equal(w.walk({ ...r, pan: true }, 0x1000, ACCESS.PRIV, false), false, "PAN: privileged data to user page");
  assert.equal(w.walk({ ...r, pan: true }, 0x1000, 0, false), true);
  assert.equal(w.walk(r, 0x1000, ACCESS.PRIV | ACCESS.EXEC, false), false, "user-writable is PXN");
  assert.equal(w.walk(r, 0x1000, ACCESS.EXEC, false), true);
  assert.equal(w.walk({ ...r, wxn: true }, 0x1000, ACCESS.EXEC, false), false, "WXN");
  pt.map(0x2000, 0x9000, 3, { AP: 0, UXN: 1 });
  assert.equal(w.walk({ ...r, el2: true }, 0x2000, ACCESS.WRITE, false), true, "EL2: AP[1] ignored");
  assert.equal(w.walk({ ...r, el2: true }, 0x2000, ACCESS.EXEC | ACCESS.PRIV, false), false, "EL2: UXN is XN");
  const s2 = new PageTable(pt.mem, pt.alloc, 12, 40, 1);
  s2.map(0x3000, 0xa000, 3, { S2AP: 1, XN: 1 }, 2);
  const r2 = regime({ stage: 2, granuleShift: 12, inputBits: 40, ttb: s2.root, startLevel: 1, xnx: true });
  assert.equal(w.walk(r2, 0x3000, 0, false), true);
  assert.equal(w.walk(r2, 0x3000, ACCESS.WRITE, false), false, "S2AP read-only");
  assert.equal(w.walk(r2, 0x3000, ACCESS.EXEC, false), true, "XN 0b01 with XNX: EL0 may execute");
  assert.equal(w.walk(r2, 0x3000, ACCESS.EXEC | ACCESS.PRIV, false), false);
  assert.equal(w.walk({ ...r2, xnx: false }, 0x3000, ACCESS.EXEC | ACCESS.PRIV, false), true, "without XNX only XN[1]");
  assert.equal(w.walk(r2, 0x1_0000_0000_00, 0, false), false, "IPA beyond S2T0SZ");
  assert.equal(w.fault.type, EVENT_TYPE.F_TRANSLATION);
});

Deno.test("external abort on a descriptor read: F_WALK_EABT with the descriptor address", () => {
  const { w, r } = fixture();
  assert.equal(w.walk({ ...r, ttb: 0x1_0000_0000 }, 0x1000, 0, false), false);
  assert.equal(w.fault.type, EVENT_TYPE.F_WALK_EABT);
  assert.equal(w.fault.fetchAddr, 0x1_0000_0000);
  assert.equal(w.fault.class, EVT_CLASS.TT);
});

Deno.test("contiguous hint: one entry covers the aligned set", () => {
  const { pt, w, r } = fixture();
  for (let i = 0; i < 16; i++) pt.map(0x10000 + i * 0x1000, 0x20_0000 + i * 0x1000, 3, { Contiguous: 1 });
  assert.equal(w.walk(r, 0x15123, 0, false), true);
  assert.equal(w.inBase, 0x10000);
  assert.equal(w.size, 0x10000);
  assert.equal(w.outBase, 0x20_0000);
});

Deno.test("a misprogrammed contiguous set (output misaligned, or past the output size) stands for its entry alone", () => {
  // Found by the fuzzer: a set whose output was not aligned extended past 2^OAS, so a TLB hit on another page of the
  // set gave an address beyond the output size.
  const { pt, w, r } = fixture();
  pt.map(0x10000, 0x20_1000, 3, { Contiguous: 1 }); // index 0 of its set maps to an offset of 0x1000
  assert.equal(w.walk(r, 0x10123, 0, false), true);
  assert.deepEqual([w.inBase, w.size, w.outBase], [0x10000, 0x1000, 0x20_1000]);
  const top = 2 ** r.oaBits - 0x1000; // the set's output would run past the output size
  pt.map(0x30000, top, 3, { Contiguous: 1 });
  assert.equal(w.walk(r, 0x30000, 0, false), true);
  assert.deepEqual([w.inBase, w.size, w.outBase], [0x30000, 0x1000, top]);
});

Deno.test("64 KiB granule with 52-bit output: level-1 blocks and OA[51:48]", () => {
  const { pt, w, r } = fixture(16);
  pt.map(0x400_0000_0000, 2 ** 51, 1);
  assert.equal(w.walk({ ...r, oaBits: 52 }, 0x400_0000_1234, 0, false), true);
  assert.equal(w.outBase + (0x400_0000_1234 - w.inBase), 2 ** 51 + 0x1234);
  assert.equal(w.walk({ ...r, oaBits: 48 }, 0x400_0000_1234, 0, false), false, "level-1 block needs 52-bit OA");
});

Deno.test("pages walked one after another are each judged by their own descriptor and tables (DDI 0487 D8.4)", () => {
  // IHI 0070 3.4 and DDI 0487 D8.4: a leaf's permissions come from its own AP, UXN, PXN and nG, and the APTable,
  // UXNTable and PXNTable of the tables above it. The walker may reuse what it decoded for a page with the same
  // attributes; two pages that differ in one attribute bit, walked in turn, must still each get their own.
  const cases: { name: string; a: Record<string, number>; b: Record<string, number>; table?: Values; flags: number }[] =
    [
      { name: "UXN (upper word)", a: { UXN: 0 }, b: { UXN: 1 }, flags: ACCESS.EXEC },
      { name: "PXN (upper word)", a: { AP: 0, PXN: 0 }, b: { AP: 0, PXN: 1 }, flags: ACCESS.EXEC | ACCESS.PRIV },
      { name: "AP (lower word)", a: { AP: 1 }, b: { AP: 3 }, flags: ACCESS.WRITE },
      { name: "UXNTable above", a: {}, b: {}, table: { UXNTable: 1 }, flags: ACCESS.EXEC },
      { name: "APTable above", a: { AP: 1 }, b: { AP: 1 }, table: { APTable: 2 }, flags: ACCESS.WRITE },
    ];
  for (const c of cases) {
    const { pt, w, r } = fixture();
    pt.map(0x1000, 0x9000, 3, { AP: 1, ...c.a });
    // B in another last-level table (another 2 MiB region), whose table descriptors carry c.table.
    pt.map(0x40_0000, 0xa000, 3, { AP: 1, ...c.b }, 1, c.table ?? {});
    for (let round = 0; round < 2; round++) {
      assert.equal(w.walk(r, 0x1000, c.flags, false), true, `${c.name}: page A permits`);
      assert.equal(w.walk(r, 0x40_0000, c.flags, false), false, `${c.name}: page B forbids`);
      assert.equal(w.fault.type, EVENT_TYPE.F_PERMISSION, c.name);
    }
  }
  // nG: the same attributes but nG, both translate; each mapping is global or not by its own bit.
  const { pt, w, r } = fixture();
  pt.map(0x1000, 0x9000, 3, { nG: 0 });
  pt.map(0x2000, 0xa000, 3, { nG: 1 });
  pt.map(0x3000, 0xb000, 3, { nG: 1 });
  for (const [ia, global] of [[0x1000, true], [0x2000, false], [0x3000, false], [0x1000, true]] as const) {
    assert.equal(w.walk(r, ia, 0, false), true);
    assert.equal(w.global, global, `nG of the page at ${ia.toString(16)}`);
  }
});
