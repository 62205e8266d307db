/**
 * `restore()` only loads state. A blob holds registers (IHI 0070 6.3: the architectural state a VMM migrates), so
 * restoring it is a register load: no command runs and no guest memory is read or written; commands the saved device
 * had yet to run stay published (CMDQ_PROD ahead of CMDQ_CONS, IHI 0070 3.5.1) and run on the next guest access that
 * would run them. Hence save → restore → save gives the very same bytes, for every state a guest can reach.
 */
import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import { OPCODE, REG } from "../gen/mod.ts";
import { type GuestMemory, Smmu, SparseMemory } from "../mod.ts";
import { command, Driver } from "../src/guest/driver.ts";
import { ScenarioRunner } from "../src/scenario/scenario.ts";
import { fuzzCase } from "./fuzz/arbitraries.ts";
import { compile } from "./fuzz/compile.ts";

/** A memory that counts every access the device makes (and has nothing in it). */
class CountingMemory implements GuestMemory {
  accesses = 0;
  readonly #inner = new SparseMemory();
  read32(addr: number): number {
    this.accesses++;
    return this.#inner.read32(addr);
  }
  write32(addr: number, value: number): boolean {
    this.accesses++;
    return this.#inner.write32(addr, value);
  }
  read(addr: number, dst: Uint8Array): boolean {
    this.accesses++;
    return this.#inner.read(addr, dst);
  }
  write(addr: number, src: Uint8Array): boolean {
    this.accesses++;
    return this.#inner.write(addr, src);
  }
}

Deno.test("restore runs no command and touches no memory: a backlog waits, even for memory not yet copied", () => {
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory, commandBudget: 2 });
  const d = new Driver(smmu, memory);
  d.probe();
  d.reset();
  const start = d.consIndex();
  for (let i = 0; i < 6; i++) {
    const at = d.layout.cmdq + ((start + i) % 2 ** d.cmdqLog2) * 16;
    command(OPCODE.SYNC).forEach((v, k) => memory.write32(at + 4 * k, v));
  }
  d.write(REG.CMDQ_PROD, start + 6); // runs 2 (the budget); 4 stay published
  const blob = smmu.save();

  // A migration's destination whose guest memory has not arrived yet.
  const dest = new CountingMemory();
  const other = new Smmu({ memory: dest, commandBudget: 2 });
  other.restore(blob);
  assert.equal(dest.accesses, 0, "no memory access");
  assert.equal(other.stats.commands, 0, "no command");
  assert.equal(other.mmioPeek(REG.GERROR, 4), smmu.mmioPeek(REG.GERROR, 4), "no CMDQ_ERR from an empty ring");
  assert.equal(other.mmioPeek(REG.CMDQ_CONS, 4), BigInt(start + 2));
  assert.deepEqual(other.save(), blob, "save → restore → save: the same bytes");

  // The memory arrives; the guest's next CMDQ_CONS poll lets the backlog run on.
  const ring = new Uint8Array(2 ** d.cmdqLog2 * 16);
  memory.read(d.layout.cmdq, ring);
  dest.write(d.layout.cmdq, ring);
  assert.equal(other.mmioRead(REG.CMDQ_CONS, 4), BigInt(start + 4));
  assert.equal(other.stats.commands, 2);
});

Deno.test("save → restore → save is byte-identical after every step of random guest programs", () => {
  let checked = 0;
  fc.assert(
    fc.property(fuzzCase(24), (c) => {
      const scenario = compile(c);
      const runner = new ScenarioRunner(scenario, "property case");
      const { IDR0, IDR1, IDR3, IDR5 } = runner.smmu.idRegisters;
      for (const step of scenario.steps) {
        runner.run(step);
        if (step.op === "mem_write" || step.op === "mem_read" || step.op === "comment" || step.op === "reenter") {
          continue;
        }
        const blob = runner.smmu.save();
        const dest = new CountingMemory();
        const other = new Smmu({ memory: dest, idRegisters: { IDR0, IDR1, IDR3, IDR5 } });
        other.restore(blob);
        assert.equal(dest.accesses, 0);
        assert.equal(other.stats.commands + other.stats.eventsWritten + other.stats.msis, 0);
        assert.deepEqual(other.save(), blob);
        checked++;
      }
      // And into the same device, which keeps its memory: still only a load.
      const blob = runner.smmu.save();
      const commands = runner.smmu.stats.commands;
      runner.run({ op: "save_restore", into: "same" });
      assert.deepEqual(runner.smmu.save(), blob);
      assert.equal(runner.smmu.stats.commands, commands);
    }),
    { numRuns: 60 },
  );
  assert.ok(checked > 1000, `${checked} states checked`);
});
