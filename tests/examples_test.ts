/** examples/vmm.ts, the VMM-style embedding the README shows, runs and every claim it prints holds. */
import assert from "node:assert/strict";
import { main } from "../examples/vmm.ts";
import { Smmu, SparseMemory } from "../mod.ts";

Deno.test("examples/vmm.ts: MMIO traps, MSIs into the interrupt controller, DMA through a DmaView, migration", () => {
  const run = main(() => {});
  for (
    const claim of [
      /CR0ACK reads SMMUEN \| EVENTQEN \| CMDQEN ✓/,
      /status OK, data as on disk ✓/,
      /the completion interrupt arrived at the interrupt controller ✓/,
      /an unmapped buffer: status IOERR, and the SMMU's event queue MSI too ✓/,
      /after migration: a read completes on the new VMM, data and interrupt as before ✓/,
    ]
  ) assert.ok(run.lines.some((l) => claim.test(l)), claim.source);
  // The one fault is the architected record of the device's write to IOVA 0x20000000 (IHI 0070 7.3.13).
  assert.deepEqual(run.events, ["F_TRANSLATION sid 0x10 iova 0x20000000"]);
  // The migrated state restores anywhere a device with the same ID registers is.
  new Smmu({ memory: new SparseMemory() }).restore(run.migratedState);
});
