/**
 * src/registers/ring.ts against IHI 0070 3.5.1: a queue has 2^LOG2SIZE entries; PROD and CONS each hold an index and,
 * in the next bit above it, a wrap bit that toggles each time the index wraps to 0; equal indexes with equal wrap bits
 * mean empty, equal indexes with different wrap bits mean full. And the queue base is aligned to the queue's size in
 * bytes (IHI 0070 6.3.26, 6.3.29: ADDR bits below it are ignored). Expectations come from a model of PROD and CONS as
 * (wrap, index) pairs, not from the ring's own arithmetic.
 */
import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import { CMDQ_BASE, COMMAND_BYTES, EVENT_BYTES } from "../gen/mod.ts";
import { CMDQ, EVENTQ, indexMask, Ring } from "../src/registers/ring.ts";

/** A PROD or CONS value of a queue of 2^log2 entries, as the spec describes it. */
const value = (log2: number, wrap: number, index: number) => wrap * 2 ** log2 + index;

/** A queue size, a producer position and a number of entries in the queue (0 to full). */
const arbQueue = fc.integer({ min: 0, max: 19 }).chain((log2) =>
  fc.record({
    log2: fc.constant(log2),
    consIndex: fc.integer({ min: 0, max: 2 ** log2 - 1 }),
    consWrap: fc.integer({ min: 0, max: 1 }),
    used: fc.integer({ min: 0, max: 2 ** log2 }),
  })
);

Deno.test("entries, empty and full follow the index and wrap bits of PROD and CONS (IHI 0070 3.5.1)", () => {
  fc.assert(fc.property(arbQueue, ({ log2, consIndex, consWrap, used }) => {
    const size = 2 ** log2;
    const ring = new Ring(COMMAND_BYTES).set(log2, 0);
    const cons = value(log2, consWrap, consIndex);
    // PROD is `used` entries ahead: its index wraps around the slots, its wrap bit flips each time it does.
    const laps = Math.floor((consIndex + used) / size);
    const prod = value(log2, (consWrap + laps) % 2, (consIndex + used) % size);
    assert.equal(ring.entries(prod, cons), used);
    assert.equal(ring.empty(prod, cons), used === 0, "empty: equal indexes, equal wrap bits");
    assert.equal(ring.full(prod, cons), used === size, "full: equal indexes, different wrap bits");
    // Bits above the wrap bit are not part of the value.
    assert.equal(ring.entries(prod + 4 * size, cons + 2 * size), used);
  }));
});

Deno.test("PROD more than a queue ahead of CONS is inconsistent: -1 (IHI 0070 3.5.1)", () => {
  const ring = new Ring(EVENT_BYTES).set(3, 0); // 8 entries: values 0..15
  for (let ahead = 9; ahead < 16; ahead++) assert.equal(ring.entries(ahead, 0), -1, `${ahead} ahead`);
  assert.equal(ring.entries(8, 0), 8);
  assert.equal(ring.entries(0, 15), 1, "CONS at index 7 with the wrap bit, PROD at index 0 without it: one entry");
});

Deno.test("next moves to the following slot and toggles the wrap bit past the last one", () => {
  for (const log2 of [0, 1, 4, 19]) {
    const ring = new Ring(COMMAND_BYTES).set(log2, 0);
    const size = 2 ** log2;
    assert.equal(ring.next(value(log2, 0, size - 1)), value(log2, 1, 0));
    assert.equal(ring.next(value(log2, 1, size - 1)), value(log2, 0, 0));
    if (size > 1) assert.equal(ring.next(value(log2, 1, 0)), value(log2, 1, 1));
    assert.equal(ring.mask, indexMask(log2));
    assert.equal(indexMask(log2), 2 * size - 1, "index bits and the wrap bit");
  }
});

Deno.test("slot addresses: the base aligned to the queue's size, one entry per index (IHI 0070 6.3.26)", () => {
  // 16 entries of 16 bytes: 256 bytes, so ADDR bits [7:0] are ignored.
  const ring = new Ring(COMMAND_BYTES).set(4, 0x4200_00a0);
  assert.equal(ring.base, 0x4200_0000);
  assert.equal(ring.slot(value(4, 0, 0)), 0x4200_0000);
  assert.equal(ring.slot(value(4, 1, 3)), 0x4200_0030, "the wrap bit does not move the slot");
  assert.equal(ring.slot(-1), 0x4200_00f0, "one before slot 0 is the last slot");
  // Event records are 32 bytes: 2^5 of them fill 1 KiB.
  assert.equal(new Ring(EVENT_BYTES).set(5, 0x1234_5678).base, 0x1234_5400);
});

Deno.test("load reads LOG2SIZE and ADDR from a queue's BASE register", () => {
  const base = new Uint32Array(2);
  CMDQ_BASE.ADDR.setAddress(base, 0x8_4000_0000);
  CMDQ_BASE.LOG2SIZE.set(base, 7);
  const ring = new Ring(CMDQ.entryBytes).load(CMDQ, base, 0);
  assert.deepEqual([ring.log2, ring.size, ring.base], [7, 128, 0x8_4000_0000]);
  assert.equal(CMDQ.entryBytes, COMMAND_BYTES);
  assert.equal(EVENTQ.entryBytes, EVENT_BYTES);
});
