/**
 * src/translation/tlb_pages.ts against a model: not architecture, but the storage every TLB and walk
 * cache answer comes from. Random sequences of fills, removals and lookups (few keys, small pools: replacements,
 * evictions and growth all happen) are checked against a Map of what was filled: a row is found under its key
 * with what was last filled there, or has been evicted, never changed; a block takes its page rows with it; owner
 * lists and counts hold exactly the live rows; the pool never exceeds its bound.
 */
import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import { blockKey, COLLIDED, DENIED, NO_IPA, NONE, pageKey, SPACE, TlbRows } from "../src/translation/tlb_pages.ts";
import type { RowData } from "../src/translation/tlb_pages.ts";

/** Owners: (sid, ssid) pairs, two of them with the same StreamID. */
const OWNERS = [[1, -1], [1, 0], [7, 3], [0x1234_5678, -1]] as const;
const PAGE = 4096;

type Op =
  | {
    op: "page";
    owner: number;
    page: number;
    out: number;
    allow: number;
    global: boolean;
    ipa: number;
    /** Fill through fillPage when the key is free (the translator does after a lookup answered NONE). */
    absent: boolean;
  }
  | { op: "block"; owner: number; block: number; out: number; allow: number; pages: number[]; ipa: number }
  | { op: "walk"; owner: number; region: number; out: number }
  | { op: "remove"; owner: number; page: number }
  | { op: "removeOwner"; owner: number }
  | { op: "clear" }
  | { op: "look"; owner: number; page: number; access: number };

const arbOwner = fc.integer({ min: 0, max: OWNERS.length - 1 });
const arbPage = fc.integer({ min: 0, max: 47 });
const arbIpa = fc.oneof(fc.constant(NO_IPA), fc.integer({ min: 0, max: 15 }).map((p) => 0x8000_0000 + p * PAGE));
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("page" as const),
      owner: arbOwner,
      page: arbPage,
      out: fc.nat(1 << 20),
      allow: fc.nat(255),
      global: fc.boolean(),
      ipa: arbIpa,
      absent: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("block" as const),
      owner: arbOwner,
      block: fc.integer({ min: 0, max: 2 }),
      out: fc.nat(1 << 10),
      allow: fc.nat(255),
      pages: fc.array(fc.nat(15), { maxLength: 4 }),
      ipa: arbIpa,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("walk" as const),
      owner: arbOwner,
      region: fc.nat(40),
      out: fc.nat(1 << 20),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("remove" as const), owner: arbOwner, page: arbPage }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("removeOwner" as const), owner: arbOwner }) },
  { weight: 1, arbitrary: fc.constant({ op: "clear" as const }) },
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant("look" as const), owner: arbOwner, page: arbPage, access: fc.nat(7) }),
  },
);

/** What a row holds in the model. */
interface Held {
  owner: number;
  space: number;
  key: number;
  d: RowData;
  /** For a page row filled from a block: the block's model key. */
  block: string | null;
}
const id = (owner: number, space: number, key: number) => `${owner}/${space}/${key}`;
const BLOCK_BYTES = 16 * PAGE; // blocks of 64 KiB: block b covers pages 16b to 16b + 15
const IOVA = 0x7f00_0000_0000;

/** Applies `ops` to a pool of `max` rows and to the model, checking the pool after every step. */
function run(max: number, ops: Op[]): void {
  const rows = new TlbRows(max);
  OWNERS.forEach(([sid, ssid], o) => rows.setOwner(o, sid, ssid));
  const model = new Map<string, Held>();
  const rowOf = (h: Held) => rows.find(OWNERS[h.owner][0], OWNERS[h.owner][1], h.space, h.key);
  const fill = (h: Held, block: number, absent = false) => {
    for (const [k, old] of model) if (old.block === id(h.owner, h.space, h.key)) model.delete(k); // a block re-filled
    model.set(id(h.owner, h.space, h.key), h);
    if (absent) return rows.fillPage(h.owner, h.key, h.d, h.d.ipaBase !== NO_IPA ? h.d : null);
    return rows.add(h.owner, h.space, h.key, h.d, block);
  };
  for (const op of ops) {
    if (op.op === "page") {
      const d = {
        inBase: IOVA + op.page * PAGE,
        size: PAGE,
        outBase: op.out * PAGE,
        allow: op.allow,
        global: op.global,
        ipaBase: op.ipa,
      };
      // The model holds exactly the pool's rows between operations (check prunes what was evicted).
      const free = !model.has(id(op.owner, SPACE.PAGE, pageKey(d.inBase)));
      const r = fill(
        { owner: op.owner, space: SPACE.PAGE, key: pageKey(d.inBase), d, block: null },
        NONE,
        op.absent && free,
      );
      assert.equal(rowOf(model.get(id(op.owner, SPACE.PAGE, pageKey(d.inBase)))!), r, "a row just filled is found");
    } else if (op.op === "block") {
      const base = IOVA + op.block * BLOCK_BYTES;
      const d = {
        inBase: base,
        size: BLOCK_BYTES,
        outBase: op.out * BLOCK_BYTES,
        allow: op.allow,
        global: false,
        ipaBase: op.ipa,
      };
      const bkey = blockKey(base, BLOCK_BYTES);
      const b = fill({ owner: op.owner, space: SPACE.BLOCK, key: bkey, d, block: null }, NONE);
      for (const p of op.pages) {
        assert.equal(rows.find(OWNERS[op.owner][0], OWNERS[op.owner][1], SPACE.BLOCK, bkey), b, "the block stays");
        const key = pageKey(base + p * PAGE);
        fill(
          { owner: op.owner, space: SPACE.PAGE, key, d: { ...d }, block: id(op.owner, SPACE.BLOCK, bkey) },
          b,
          false,
        );
      }
    } else if (op.op === "walk") {
      const d = {
        inBase: op.region * 2 ** 21,
        size: 2 ** 21,
        outBase: op.out * PAGE,
        allow: 0,
        global: false,
        ipaBase: NO_IPA,
      };
      fill({ owner: op.owner, space: SPACE.WALK_TTB0, key: op.region, d, block: null }, NONE);
    } else if (op.op === "remove") {
      const [sid, ssid] = OWNERS[op.owner];
      const r = rows.find(sid, ssid, SPACE.PAGE, pageKey(IOVA + op.page * PAGE));
      if (r !== NONE) rows.remove(r);
      model.delete(id(op.owner, SPACE.PAGE, pageKey(IOVA + op.page * PAGE)));
    } else if (op.op === "removeOwner") {
      rows.removeOwner(op.owner);
      for (const [k, h] of model) if (h.owner === op.owner) model.delete(k);
    } else if (op.op === "clear") {
      rows.clear();
      model.clear();
    } else {
      const [sid, ssid] = OWNERS[op.owner];
      const addr = IOVA + op.page * PAGE + 8;
      const h = model.get(id(op.owner, SPACE.PAGE, pageKey(addr)));
      const r = h === undefined ? NONE : rowOf(h);
      const got = rows.lookup(sid, ssid, addr, op.access);
      if (r === NONE) assert.equal(got, NONE, "no row: a miss");
      else if (((h!.d.allow >> op.access) & 1) === 0) assert.equal(got, DENIED);
      else {
        assert.equal(got, h!.d.outBase + (addr - h!.d.inBase));
        assert.equal(rows.span[0], h!.d.inBase + h!.d.size - addr);
      }
    }
    check(rows, model, max);
  }
}

/** The pool holds a subset of the model, as filled; lists and counts agree with the live rows. */
function check(rows: TlbRows, model: Map<string, Held>, max: number): void {
  const live = new Map<number, Held>();
  for (const [k, h] of model) {
    const r = rows.find(OWNERS[h.owner][0], OWNERS[h.owner][1], h.space, h.key);
    if (r === NONE) {
      model.delete(k); // evicted (or went with its block)
      continue;
    }
    live.set(r, h);
    assert.equal(rows.inBase(r), h.d.inBase);
    assert.equal(rows.rowSize(r), h.d.size);
    assert.equal(rows.outBase(r), h.d.outBase);
    assert.equal(rows.allow(r), h.d.allow);
    assert.equal(rows.isGlobal(r), h.d.global);
    assert.equal(rows.ipaBase(r), h.d.ipaBase);
    assert.equal(rows.space(r), h.space);
  }
  for (const [r, h] of live) {
    if (h.block === null) assert.equal(rows.blockOf(r), NONE);
    else {
      const b = rows.blockOf(r);
      assert.ok(b !== NONE && live.get(b) !== undefined, "a page row's block is cached");
      assert.equal(id(live.get(b)!.owner, live.get(b)!.space, live.get(b)!.key), h.block);
    }
  }
  assert.equal(rows.size, live.size, "every row held is one the model has");
  assert.ok(rows.size <= max, `${rows.size} rows, at most ${max}`);
  OWNERS.forEach((_, o) => {
    const listed: number[] = [];
    rows.rowsOf(o, listed);
    const own = [...live].filter(([, h]) => h.owner === o).map(([r]) => r);
    assert.deepEqual(listed.sort((a, b) => a - b), own.sort((a, b) => a - b), `owner ${o}'s list`);
    assert.equal(rows.count(o), own.length);
    assert.equal(rows.globals(o), own.filter((r) => live.get(r)!.d.global).length);
  });
}

Deno.test("TLB rows: what is found is what was filled, or nothing (evicted); lists and counts follow", () => {
  fc.assert(fc.property(fc.constantFrom(16, 24, 64, 200), fc.array(arbOp, { minLength: 100, maxLength: 300 }), run), {
    numRuns: 150,
  });
});

Deno.test("TLB rows: a pool at its bound keeps rows in use and replaces the others", () => {
  // Not architecture (issue 14): replacement gives a row used since it was last looked at a second chance.
  const rows = new TlbRows(64);
  rows.setOwner(0, 1, -1);
  const d = { inBase: 0, size: PAGE, outBase: 0, allow: 0xff, global: false, ipaBase: NO_IPA };
  const fillPage = (p: number) => {
    d.inBase = IOVA + p * PAGE;
    d.outBase = p * PAGE;
    rows.add(0, SPACE.PAGE, pageKey(d.inBase), d, NONE);
  };
  for (let p = 0; p < 64; p++) fillPage(p);
  assert.equal(rows.size, 64, "room for its bound of rows");
  let kept = 0;
  for (let p = 1000; p < 1256; p++) {
    assert.equal(rows.lookup(1, -1, IOVA, 0), 0, "a page used before every fill stays");
    fillPage(p);
    assert.equal(rows.size, 64);
  }
  for (let p = 1000; p < 1256; p++) if (rows.lookup(1, -1, IOVA + p * PAGE, 0) >= 0) kept++;
  assert.ok(kept >= 32, `of 256 pages filled into a full pool, the last ${kept} stay`);
});

Deno.test("TLB rows: a lookup tells a row under the key that covers another page (COLLIDED) from no row (NONE)", () => {
  // Not architecture: pageKey keeps the low 32 bits of the page number, so pages 2^44 bytes apart share a key.
  const rows = new TlbRows(16);
  rows.setOwner(0, 1, -1);
  const far = IOVA + 2 ** 44;
  assert.equal(pageKey(far), pageKey(IOVA), "the two pages share a key");
  const d = { inBase: IOVA, size: PAGE, outBase: 0x1000, allow: 0xff, global: false, ipaBase: NO_IPA };
  assert.equal(rows.lookup(1, -1, IOVA + 8, 0), NONE, "nothing under the key");
  rows.fillPage(0, pageKey(IOVA), d, null);
  assert.equal(rows.lookup(1, -1, IOVA + 8, 0), 0x1008);
  assert.equal(rows.lookup(1, -1, far + 8, 0), COLLIDED, "a row under the key, for the other page");
  assert.equal(rows.lookup(1, -1, IOVA + PAGE, 0), NONE, "the next page has its own key");
  // A fill of the other page (told nothing: COLLIDED is no NONE) replaces the row under the key.
  rows.add(0, SPACE.PAGE, pageKey(far), { ...d, inBase: far, outBase: 0x2000 }, NONE);
  assert.equal(rows.size, 1);
  assert.equal(rows.lookup(1, -1, far + 8, 0), 0x2008);
  assert.equal(rows.lookup(1, -1, IOVA + 8, 0), COLLIDED);
});

Deno.test("TLB rows: storage grows under held rows, which stay found with their lists", () => {
  // Not architecture: a pool allocates rows as it fills (64, 128, ...); rows held across a growth keep their answers.
  const rows = new TlbRows(1000);
  OWNERS.forEach(([sid, ssid], o) => rows.setOwner(o, sid, ssid));
  const d = { inBase: 0, size: PAGE, outBase: 0, allow: 0xff, global: false, ipaBase: NO_IPA };
  for (let p = 0; p < 1000; p++) {
    d.inBase = IOVA + p * PAGE;
    d.outBase = p * PAGE;
    d.ipaBase = p % 3 === 0 ? 0x8000_0000 + p * PAGE : NO_IPA;
    rows.add(p % OWNERS.length, SPACE.PAGE, pageKey(d.inBase), d, NONE);
  }
  assert.equal(rows.size, 1000);
  for (let p = 0; p < 1000; p++) {
    const [sid, ssid] = OWNERS[p % OWNERS.length];
    assert.equal(rows.lookup(sid, ssid, IOVA + p * PAGE + 8, 0), p * PAGE + 8, `page ${p}`);
    const r = rows.find(sid, ssid, SPACE.PAGE, pageKey(IOVA + p * PAGE));
    assert.equal(rows.ipaBase(r), p % 3 === 0 ? 0x8000_0000 + p * PAGE : NO_IPA, `page ${p}'s IPA`);
  }
  OWNERS.forEach((_, o) => assert.equal(rows.count(o), 250));
});
