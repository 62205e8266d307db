/**
 * Progress without MMIO. Linux with MSIs and coherent access (IDR0.MSI, IDR0.COHACC: the defaults here) publishes
 * commands with one CMDQ_PROD write and then polls its CMD_SYNC's MSI location in memory, never CMDQ_CONS
 * (IHI 0070 4.7.3: a CMD_SYNC signals completion by an MSI write, after every earlier command has completed). So
 * a published batch must complete without further register accesses: by default the PROD write consumes the whole
 * queue (at most its 2^CMDQS entries, IHI 0070 6.3.2); with the host's `schedule` hook, the PROD write runs one
 * `commandBudget` of them and continuations run the rest. Both with the largest queue, 2^19 entries, full.
 */
import assert from "node:assert/strict";
import { CMD_CFGI_STE, CMD_SYNC, CMD_SYNC_CS, CMD_TLBI_NH_VA, OPCODE, REG } from "../gen/mod.ts";
import { FlatMemory, Smmu, type SmmuOptions } from "../mod.ts";
import { command, Driver } from "../src/guest/driver.ts";

const LOG2 = 19; // the largest command queue (IHI 0070 6.3.2)
const ENTRIES = 2 ** LOG2;
const RAM = 0x4000_0000;
const CMDQ = 0x4100_0000; // 8 MiB of commands
const SYNC_MSI = 0x4000_0040; // where the guest polls for its CMD_SYNC completion
const DONE = 0x600d_cafe;

/** A guest with a 2^19-entry command queue that fills it (after bring-up) and publishes it with one PROD write. */
function fullRing(options: Partial<SmmuOptions>) {
  const memory = new FlatMemory(0x200_0000, RAM);
  const smmu = new Smmu({ memory, ...options });
  const d = new Driver(smmu, memory, { cmdqLog2: LOG2, cmdq: CMDQ, strtab: 0x4180_0000, eventq: 0x4190_0000 });
  d.probe();
  assert.equal(d.cmdqLog2, LOG2);
  d.reset();
  const start = d.consIndex();
  // What Linux issues on unmap: TLBI_NH_VA by the page, here and there a CFGI_STE; the last entry, a CMD_SYNC.
  const tlbi = command(OPCODE.TLBI_NH_VA, (w) => (CMD_TLBI_NH_VA.ASID.set(w, 1), CMD_TLBI_NH_VA.Leaf.set(w, 1)));
  const cfgi = command(OPCODE.CFGI_STE, (w) => CMD_CFGI_STE.StreamID.set(w, 3));
  const sync = command(OPCODE.SYNC, (w) => {
    CMD_SYNC.CS.set(w, CMD_SYNC_CS.SIG_IRQ);
    CMD_SYNC.MSIData.set(w, DONE);
    CMD_SYNC.MSIAddress.setAddress(w, SYNC_MSI);
  });
  const words = memory.words;
  for (let i = 0; i < ENTRIES; i++) {
    const c = i === ENTRIES - 1 ? sync : i % 64 === 0 ? cfgi : tlbi;
    const at = (CMDQ - RAM) / 4 + ((start + i) % ENTRIES) * 4;
    words.set(c, at);
    if (c === tlbi) CMD_TLBI_NH_VA.Address.setAddress(words, (i % 512) * 0x1000, at);
  }
  const polled = () => memory.read32(SYNC_MSI) === DONE;
  const publish = () => d.write(REG.CMDQ_PROD, (start + ENTRIES) % (2 * ENTRIES)); // full: same index, other wrap
  return { smmu, polled, publish };
}

Deno.test("default: one PROD write publishing a full 2^19-entry queue runs it all; the guest polling memory sees its SYNC", () => {
  const g = fullRing({});
  const before = g.smmu.stats.commands;
  g.publish();
  assert.equal(g.smmu.stats.commands - before, ENTRIES, "the whole queue, and no more: the ring bounds the access");
  assert.ok(g.polled(), "the CMD_SYNC's MSI is in memory: the guest's poll completes");
});

Deno.test("with options.schedule: each access or continuation runs one budget; continuations finish the queue", () => {
  const later: (() => void)[] = [];
  const budget = 4096;
  const g = fullRing({ schedule: (resume) => later.push(resume), commandBudget: budget });
  let done = g.smmu.stats.commands;
  g.publish();
  assert.equal(g.smmu.stats.commands - done, budget, "the PROD write ran one budget");
  assert.equal(later.length, 1, "and asked for one continuation");
  let slices = 1;
  while (later.length > 0) {
    assert.ok(!g.polled(), "the SYNC completes only after every earlier command");
    done = g.smmu.stats.commands;
    later.shift()!(); // the host's event loop runs the continuation; the guest only polls memory
    slices++;
    assert.ok(g.smmu.stats.commands - done <= budget, "a continuation runs one budget at most");
    assert.ok(later.length <= 1, "one continuation at a time");
  }
  assert.ok(g.polled());
  assert.equal(slices, ENTRIES / budget);
});

Deno.test("a host that resumes at once, inside schedule: the slices run one after another, not nested", () => {
  let depth = 0, deepest = 0, slices = 0;
  const g = fullRing({
    commandBudget: 4096,
    schedule: (resume) => {
      slices++;
      deepest = Math.max(deepest, ++depth);
      resume();
      depth--;
    },
  });
  g.publish();
  assert.ok(g.polled());
  assert.equal(slices, ENTRIES / 4096 - 1);
  assert.equal(deepest, 1, "each resume returns before the next schedule");
});

Deno.test("a continuation scheduled before a restore does nothing: the backlog waits for the guest", () => {
  const later: (() => void)[] = [];
  const g = fullRing({ schedule: (resume) => later.push(resume), commandBudget: 4096 });
  g.publish();
  g.smmu.restore(g.smmu.save());
  const done = g.smmu.stats.commands;
  later.shift()!();
  assert.equal(g.smmu.stats.commands, done);
  assert.equal(later.length, 0);
  g.smmu.mmioRead(REG.CMDQ_CONS, 4); // the guest's next poll of CONS resumes it, and a continuation follows
  assert.equal(g.smmu.stats.commands - done, 4096);
  assert.equal(later.length, 1);
});
