/**
 * SparseMemory.wordsAt, the view the walker reads a cached last-level table through: wherever it lends words, they
 * are what read32 answers there, now and after later writes; where a read would abort (a hole, beyond the size) or
 * the range is not held in one piece, it lends nothing. Not architecture: the contract of a host-side memory.
 */
import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import { ABORT, SparseMemory } from "../src/core/memory.ts";

const SIZE = 2 ** 24;
const HOLE: [number, number] = [0x30_0000, 0x30_2000];
const CHUNK = 0x1000;

Deno.test("SparseMemory.wordsAt lends words only where read32 answers them, and they stay its words", () => {
  const write = fc.tuple(fc.nat(SIZE / 4 - 1), fc.nat(0xffff_ffff));
  const query = fc.tuple(fc.nat(SIZE / CHUNK - 1), fc.constantFrom(0, 4, 0x800, 0xffc));
  let lent = 0;
  fc.assert(
    fc.property(
      fc.array(write, { maxLength: 40 }),
      fc.array(query, { minLength: 1, maxLength: 20 }),
      (writes, queries) => {
        const memory = new SparseMemory({ size: SIZE, holes: [HOLE] });
        for (const [w, v] of writes) memory.write32(w * 4, v);
        for (const [chunk, shift] of queries) {
          const addr = chunk * CHUNK + shift;
          const words = memory.wordsAt(addr, CHUNK);
          const aborts = addr + CHUNK > SIZE || (addr < HOLE[1] && addr + CHUNK > HOLE[0]);
          if (aborts) assert.equal(words, undefined, `0x${addr.toString(16)}: a read there aborts`);
          if (words === undefined) continue;
          lent++;
          const at = (addr % words.byteLength) / 4;
          for (let i = 0; i < CHUNK / 4; i += 61) assert.equal(words[at + i], memory.read32(addr + 4 * i));
          memory.write32(addr + 8, 0x1234_5678); // a later write shows through the lent words
          assert.equal(words[at + 2], 0x1234_5678);
          assert.notEqual(memory.read32(addr + 8), ABORT);
        }
      },
    ),
  );
});

Deno.test("SparseMemory.wordsAt lends nothing for a page never written, a range across pages, or an unaligned address", () => {
  const memory = new SparseMemory({ size: SIZE });
  assert.equal(memory.wordsAt(0x10_0000, CHUNK), undefined, "never written: reads are zeros, held nowhere");
  memory.write32(0x10_0000, 1);
  memory.write32(0x11_0000, 2);
  assert.ok(memory.wordsAt(0x10_0000, CHUNK) !== undefined, "written: held");
  assert.equal(memory.wordsAt(0x10_0000 + 0x1_0000 - 8, 16), undefined, "across two storage pages");
  assert.equal(memory.wordsAt(0x10_0002, 8), undefined, "unaligned");
  const holed = new SparseMemory({ size: SIZE, holes: [HOLE] });
  holed.write32(HOLE[1], 3); // the hole's storage page now exists
  assert.ok(holed.wordsAt(HOLE[1], CHUNK) !== undefined, "beside the hole: held");
  assert.equal(holed.wordsAt(HOLE[0], CHUNK), undefined, "in the hole, where read32 aborts");
  assert.equal(holed.wordsAt(SIZE - CHUNK / 2, CHUNK), undefined, "past the size");
});
