/** DmaView: split at mapping boundaries, one translation per piece, stop at the first fault and report it. */
import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import { EVENT_TYPE, STE_CONFIG } from "../gen/mod.ts";
import { DmaView } from "../src/device/dma.ts";
import { FlatMemory } from "../src/core/memory.ts";
import { RegisterFile } from "../src/registers/regfile.ts";
import { Translator } from "../src/translation/translate.ts";
import { ACCESS } from "../src/core/types.ts";
import { Allocator, cdAt, PageTable, steAt } from "../src/guest/tables.ts";
import { enable, linearStreamTable, makeEnv, s1Stream, setupRegs } from "./helpers/engine_env.ts";

function setup() {
  const env = makeEnv();
  const ste = linearStreamTable(env.regs, env.alloc, 4);
  const pt = s1Stream(env, ste(2));
  pt.map(0x1000, 0x8_0000); // pages 0x1000 and 0x2000 map to scattered frames
  pt.map(0x2000, 0x5_0000);
  pt.map(0x3000, 0x6_0000, 3, { AP: 3 }); // read-only
  return { ...env, view: new DmaView(env.t, env.mem, 2, -1) };
}

Deno.test("a write across pages lands in each page's frame; a read brings it back", () => {
  const env = setup();
  const data = Uint8Array.from({ length: 0x1400 }, (_, i) => i & 0xff);
  assert.deepEqual(env.view.write(0x1c00, data), { ok: true });
  const frame = new Uint8Array(0x400);
  env.mem.read(0x8_0c00, frame);
  assert.deepEqual(frame, data.subarray(0, 0x400));
  env.mem.read(0x5_0000, frame);
  assert.deepEqual(frame, data.subarray(0x400, 0x800));
  const back = new Uint8Array(0x1400);
  assert.deepEqual(env.view.read(0x1c00, back), { ok: true });
  assert.deepEqual(back, data);
  assert.equal(env.t.stats.walks, 2, "each page walked once, then served by the TLB");
});

Deno.test("the copy stops at the first fault: bytes done, faulting IOVA, a copy of the fault", () => {
  const env = setup();
  const r = env.view.write(0x2f00, new Uint8Array(0x200));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual([r.done, r.iova, r.fault.type, r.fault.inputAddr], [0x100, 0x3000, EVENT_TYPE.F_PERMISSION, 0x3000]);
  assert.equal(env.events.length, 1);
  env.t.translate(2, -1, 0x9000, 0);
  assert.equal(r.fault.inputAddr, 0x3000, "the result holds a copy");
  const rd = env.view.read(0x3f00, new Uint8Array(0x200));
  assert.ok(!rd.ok && rd.done === 0x100 && rd.fault.type === EVENT_TYPE.F_TRANSLATION);
});

Deno.test("views carry privilege and instruction flags; an aborting data access reports type 0", () => {
  const env = setup();
  const exec = new DmaView(env.t, env.mem, 2, -1, ACCESS.EXEC | ACCESS.PRIV);
  const r = exec.read(0x1000, new Uint8Array(4));
  assert.ok(!r.ok && r.fault.type === EVENT_TYPE.F_PERMISSION && r.fault.pnu && r.fault.ind, "user-writable is PXN");
  const env2 = makeEnv();
  const ste = linearStreamTable(env2.regs, env2.alloc, 4);
  s1Stream(env2, ste(1)).map(0x1000, 0x1_0000_0000); // translated into the memory hole
  const r2 = new DmaView(env2.t, env2.mem, 1, -1).read(0x1000, new Uint8Array(8));
  assert.ok(!r2.ok && r2.fault.type === 0 && r2.done === 0);
  assert.equal(env2.events.length, 0);
});

/** An enabled engine over 4 MiB of FlatMemory at 1 GiB; StreamID 3 is a stage-1 stream (ASID 1) over `pt`. */
function flatStage1Stream3() {
  const mem = new FlatMemory(0x40_0000, 0x4000_0000);
  const regs = new RegisterFile();
  setupRegs(regs);
  enable(regs);
  const alloc = new Allocator(0x4000_0000);
  const ste = linearStreamTable(regs, alloc, 4);
  const t = new Translator(regs, mem, { report() {} }, []);
  const pt = new PageTable(mem, alloc, 12, 48, 0);
  const cd = alloc.alloc(64, 64);
  cdAt(mem, cd, { V: 1, AA64: 1, A: 1, R: 1, T0SZ: 16, IPS: 5, EPD1: 1, TTB0: pt.root, ASID: 1 });
  steAt(mem, ste(3), { V: 1, Config: STE_CONFIG.S1_TRANS, S1ContextPtr: cd });
  return { mem, t, pt };
}

Deno.test("DMA over FlatMemory: any copy, repeated or in parts, moves the bytes guest memory holds at that moment", () => {
  // IHI 0070 3.1: each byte of a transaction goes to (or comes from) the PA its address translates to. FlatMemory
  // copies by range and keeps views of recent ranges: reused views must still show memory as it is now.
  const { mem, t, pt } = flatStage1Stream3();
  const frames = [7, 2, 5, 0, 6, 1, 3, 4]; // IOVA page p → frame frames[p] (scattered, so pieces split)
  for (let p = 0; p < 8; p++) pt.map(0x10_0000 + p * 4096, 0x4030_0000 + frames[p] * 4096);
  const view = new DmaView(t, mem, 3, -1);
  const paOf = (iova: number) => 0x4030_0000 + frames[(iova - 0x10_0000) >> 12] * 4096 + (iova & 0xfff);
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.nat(8 * 4096 - 1), len: fc.integer({ min: 1, max: 9000 }), write: fc.boolean() }), {
        maxLength: 12,
      }),
      fc.integer({ min: 0, max: 255 }),
      (ops, seed) => {
        for (const [i, op] of ops.entries()) {
          const len = Math.min(op.len, 8 * 4096 - op.at);
          const iova = 0x10_0000 + op.at;
          if (op.write) {
            const src = Uint8Array.from({ length: len }, (_, k) => (seed + i * 31 + k) & 0xff);
            assert.deepEqual(view.write(iova, src), { ok: true });
            for (let k = 0; k < len; k += 97) assert.equal(mem.bytes[paOf(iova + k) - mem.base], src[k]);
          } else {
            mem.bytes[paOf(iova) - mem.base] ^= 0x5a; // memory changes between copies of the same range
            const dst = new Uint8Array(len);
            assert.deepEqual(view.read(iova, dst), { ok: true });
            for (let k = 0; k < len; k++) assert.equal(dst[k], mem.bytes[paOf(iova + k) - mem.base]);
          }
        }
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("a copy within the view's last hit is one TLB hit, and stops using it once a TLBI removes the entry", () => {
  // IHI 0070 4.4.2 TLBI_NH_VA: once the invalidation completes, the entry for the address is gone, so a later access
  // translates through the tables as they are. The view's kept last hit (a copy served without a lookup: the model's,
  // not the architecture's) must go with it.
  const { mem, t, pt } = flatStage1Stream3();
  const [frameA, frameB] = [0x4030_0000, 0x4031_0000];
  mem.bytes.fill(0xa, frameA - mem.base, frameA - mem.base + 4096);
  mem.bytes.fill(0xb, frameB - mem.base, frameB - mem.base + 4096);
  pt.map(0x10_0000, frameA);
  const view = new DmaView(t, mem, 3, -1);
  const buf = new Uint8Array(64);
  assert.deepEqual(view.read(0x10_0000, buf), { ok: true });
  assert.equal(buf[0], 0xa);
  const hits = t.stats.tlbHits;
  for (const write of [true, false]) { // the last hit kept is then a read's, as the copy below
    assert.deepEqual(write ? view.write(0x10_0040, buf) : view.read(0x10_0040, buf), { ok: true });
  }
  assert.equal(t.stats.tlbHits, hits + 2, "each copy within the last hit counts one TLB hit");
  pt.map(0x10_0000, frameB); // the guest remaps the page, then invalidates it
  t.invalidate({ kind: "nh_va", vmid: 0, asid: 1, addr: 0x10_0000, leaf: true, range: null });
  assert.deepEqual(view.read(0x10_0080, buf), { ok: true });
  assert.equal(buf[0], 0xb, "after the TLBI the copy comes from the page's new frame");
});
