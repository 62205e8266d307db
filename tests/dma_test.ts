/** DmaView: split at mapping boundaries, one translation per piece, stop at the first fault and report it. */
import assert from "node:assert/strict";
import { EVENT_TYPE } from "../gen/mod.ts";
import { DmaView } from "../src/dma.ts";
import { ACCESS } from "../src/types.ts";
import { linearStreamTable, makeEnv, s1Stream } from "../src/guest/engine_env.ts";

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
