/**
 * A TLB miss next to the one before: the engine finishes it without a walk when the walk cache holds the region's
 * last-level table and the page there has the attributes of the last leaf decoded (Translator.#quick, Walker.again).
 * Caching intermediate walks changes nothing a transaction sees (IHI 0070 4.4: "caching of intermediate walks"),
 * so each page must still be judged by its own descriptor: these pairs translate page A, then page B of the same
 * last-level table, B differing from A in one way, and expect for B what the translation table format says.
 */
import assert from "node:assert/strict";
import {
  CD_IPS,
  EVT_CLASS,
  EVT_F_TRANSLATION,
  EVT_F_WALK_EABT,
  STE,
  STE_CONFIG,
  TT_AP,
  TT_S2AP,
  TT_TYPE,
} from "../gen/mod.ts";
import { ABORT, FlatMemory, guest, Smmu, SparseMemory } from "../mod.ts";
import type { GuestMemory } from "../mod.ts";
import { cd, PAGE, stage2 } from "./helpers/guest_bench.ts";

const TABLES = 0x5000_0000;
const DATA = 0x5800_0000;
const A = 0x1000, B = 0x2000; // two pages of one last-level table
const A_OUT = DATA + 0x3000, B_OUT = DATA + 0x7000;

/**
 * A host's own memory: FlatMemory's contents behind methods of its own, so it lends the walker no words (every
 * descriptor goes through read32), and a word address `aborts` holds reads as an external abort.
 */
function hostMemory(): GuestMemory & { aborts: number } {
  const flat = new FlatMemory(0x2000_0000, 0x4000_0000);
  return {
    aborts: -1,
    read32(addr: number) {
      return addr === this.aborts ? ABORT : flat.read32(addr);
    },
    write32: (addr: number, value: number) => flat.write32(addr, value),
    read: (addr: number, dst: Uint8Array) => flat.read(addr, dst),
    write: (addr: number, src: Uint8Array) => flat.write(addr, src),
  };
}

const MEMORIES: [string, () => GuestMemory][] = [
  ["FlatMemory", () => new FlatMemory(0x2000_0000, 0x4000_0000)],
  ["SparseMemory", () => new SparseMemory({ size: 2 ** 40 })],
  ["a host memory", hostMemory],
];

interface Case {
  what: string;
  /** Stage 1 over an identity stage 2. */
  nested?: boolean;
  /** CD fields. */
  cd?: guest.Values;
  /** B's stage-1 leaf fields, and its output (default B_OUT). */
  leaf?: guest.Values;
  out?: number;
  /** Nested: stage-2 leaf fields of B's output page. */
  s2leaf?: guest.Values;
  write?: boolean;
  exec?: boolean;
  /** What B gives: its PA, or the fault (recorded) and whether it is a stage-2 one. */
  want: { pa: number } | { fault: string; s2: boolean };
}

const CASES: Case[] = [
  { what: "B like A: B's own output address (DDI 0487 D8.3: the leaf gives the OA)", want: { pa: B_OUT + 0x10 } },
  {
    what: "B read-only, a write: stage-1 Permission fault (DDI 0487 D8.4.1 AP[2] = 1: read-only)",
    leaf: { AP: TT_AP.RO_ANY },
    write: true,
    want: { fault: "F_PERMISSION", s2: false },
  },
  {
    what: "B execute-never, an instruction fetch: Permission fault (DDI 0487 D8.4.2 UXN)",
    leaf: { UXN: 1 },
    exec: true,
    want: { fault: "F_PERMISSION", s2: false },
  },
  {
    what: "B with AF = 0, no HA: Access flag fault (IHI 0070 3.13.1, 7.3.15)",
    leaf: { AF: 0 },
    want: { fault: "F_ACCESS", s2: false },
  },
  {
    what: "B's output beyond the 32-bit IPS: Address Size fault (IHI 0070 3.4: output beyond the effective IPS)",
    cd: { IPS: CD_IPS.BITS_32 },
    out: 2 ** 32 + 0x7000,
    want: { fault: "F_ADDR_SIZE", s2: false },
  },
  {
    what: "B at level 3 with Type 0: reserved, a Translation fault (DDI 0487 D8.3: treated as invalid)",
    leaf: { Type: TT_TYPE.BLOCK },
    want: { fault: "F_TRANSLATION", s2: false },
  },
  {
    what: "B invalid: Translation fault (DDI 0487 D8.3)",
    leaf: { Valid: 0 },
    want: { fault: "F_TRANSLATION", s2: false },
  },
  { what: "nested, B like A: B's IPA through stage 2", nested: true, want: { pa: B_OUT + 0x10 } },
  {
    what: "nested, B's page read-only at stage 2, a write: stage-2 Permission fault (DDI 0487 D8.4.3 S2AP)",
    nested: true,
    s2leaf: { S2AP: TT_S2AP.RO },
    write: true,
    want: { fault: "F_PERMISSION", s2: true },
  },
  {
    what: "nested, B's IPA beyond the 40-bit stage-2 input size: stage-2 Translation fault (IHI 0070 3.4, 5.2 S2T0SZ)",
    nested: true,
    out: 2 ** 41 + 0x7000,
    want: { fault: "F_TRANSLATION", s2: true },
  },
];

/** A device over `memory` with stream 1 built for `c`, A and B mapped; A already translated (a TLB miss, walked). */
function pair(memory: GuestMemory, c: Case) {
  const smmu = new Smmu({ memory });
  const driver = new guest.Driver(smmu, memory);
  driver.probe();
  driver.reset({ cr2: guest.LINUX_CR2, irqs: 0x5 });
  const b = { memory, alloc: new guest.Allocator(TABLES) };
  const s1 = new guest.PageTable(memory, b.alloc, 12, 48, 0);
  const cdAt = cd(b, s1.root, c.cd ?? {});
  s1.map(A, A_OUT);
  s1.map(B, c.out ?? B_OUT, 3, c.leaf ?? {});
  if (c.nested) {
    const s2 = new guest.PageTable(memory, new guest.Allocator(0x5400_0000), 12, 40, 1);
    for (let p = TABLES; p < b.alloc.next; p += PAGE) s2.map(p, p, 3, {}, 2);
    s2.map(A_OUT, A_OUT, 3, {}, 2);
    s2.map(B_OUT, B_OUT, 3, c.s2leaf ?? {}, 2);
    driver.writeSte(1, STE_CONFIG.NESTED, (ste) => {
      STE.S1ContextPtr.setAddress(ste, cdAt);
      stage2(ste, s2.root);
    });
  } else driver.writeSte(1, STE_CONFIG.S1_TRANS, (ste) => STE.S1ContextPtr.setAddress(ste, cdAt));
  driver.invalidateSte(1);
  assert.equal(smmu.translateAddress(1, A + 0x10), A_OUT + 0x10, "A translates");
  return { smmu, driver, s1 };
}

for (const [name, memory] of MEMORIES) {
  Deno.test(`a miss beside the last one is judged by its own descriptor (${name})`, () => {
    for (const c of CASES) {
      const { smmu, driver } = pair(memory(), c);
      const walks = smmu.stats.translation.walks;
      const r = smmu.translate(1, B + 0x10, { write: c.write ?? false, exec: c.exec ?? false });
      assert.equal(smmu.stats.translation.walks, walks + 1, `${c.what}: B is a miss`);
      if ("pa" in c.want) {
        assert.deepEqual(r, { ok: true, pa: c.want.pa }, c.what);
        continue;
      }
      assert.deepEqual(r, { ok: false, fault: c.want.fault, event: true }, c.what);
      const events = driver.events();
      assert.equal(events.length, 1, c.what);
      assert.equal(EVT_F_TRANSLATION.S2.get(events[0]), c.want.s2 ? 1 : 0, `${c.what}: S2`);
    }
  });
}

Deno.test("a miss beside the last one whose descriptor read aborts is an F_WALK_EABT (a host memory)", () => {
  // IHI 0070 7.3.12 F_WALK_EABT: an external abort on a translation table walk access; "A stage 1-only table walk
  // that encounters EABT ... is reported as S2 == 0 (stage 1), CLASS == TT", FetchAddr the address of the access.
  // The walk cache holds B's last-level table (A's walk put it there): the read that aborts is B's descriptor's.
  for (const half of [0, 4]) {
    const memory = hostMemory();
    const { smmu, driver, s1 } = pair(memory, { what: "", want: { pa: 0 } });
    const desc = s1.descAddr(B, 3);
    memory.aborts = desc + half; // either word of the descriptor
    const walks = smmu.stats.translation.walks;
    assert.deepEqual(smmu.translate(1, B + 0x10, {}), { ok: false, fault: "F_WALK_EABT", event: true });
    assert.equal(smmu.stats.translation.walks, walks + 1, "B is a miss");
    const events = driver.events();
    assert.equal(events.length, 1);
    const e = events[0];
    assert.deepEqual([EVT_F_WALK_EABT.S2.get(e), EVT_F_WALK_EABT.CLASS.get(e)], [0, EVT_CLASS.TT]);
    assert.equal(EVT_F_WALK_EABT.FetchAddr.getAddress(e), desc, `FetchAddr, word ${half / 4} aborting`);
    memory.aborts = -1; // the abort gone, B's own descriptor gives its output
    assert.deepEqual(smmu.translate(1, B + 0x10, {}), { ok: true, pa: B_OUT + 0x10 });
  }
});
