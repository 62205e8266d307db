/** The command and event queues through the public API: a batch of commands per PROD write, and fault records. */
import { CMD_TLBI_NH_ASID, CMDQ_PROD, OPCODE, REG } from "../gen/mod.ts";
import { command, Driver, LINUX_CR2 } from "../src/guest/driver.ts";
import { SparseMemory } from "../src/core/memory.ts";
import { Smmu } from "../src/device/smmu.ts";

const BATCH = 255;

/** A device with a 256-entry command queue whose every slot holds a TLBI_NH_ASID (the last a CMD_SYNC). */
function commandDevice(): { smmu: Smmu; driver: Driver } {
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory });
  const driver = new Driver(smmu, memory, { cmdqLog2: 8 });
  driver.probe();
  driver.reset({ cr2: LINUX_CR2 });
  for (let i = 0; i < BATCH; i++) driver.issue(command(OPCODE.TLBI_NH_ASID, (w) => CMD_TLBI_NH_ASID.ASID.set(w, i)));
  driver.sync();
  return { smmu, driver };
}

const { smmu } = commandDevice();
let prod = CMDQ_PROD.WR.get(Uint32Array.of(Number(smmu.mmioRead(REG.CMDQ_PROD, 4))));
Deno.bench(`CMDQ: ${BATCH + 1} commands (TLBI_NH_ASID…, CMD_SYNC) in one PROD write`, { group: "cmdq" }, () => {
  prod = (prod + BATCH + 1) & 0x1ff; // the ring is full of commands already: each lap runs them all again
  smmu.mmioWrite(REG.CMDQ_PROD, 4, BigInt(prod));
});

// Faults with the event queue enabled, consumed every 16 records as a driver's IRQ thread would.
const faults = (() => {
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory });
  const driver = new Driver(smmu, memory);
  driver.probe();
  driver.reset({ cr2: LINUX_CR2 });
  return { smmu, driver };
})();
let n = 0;
Deno.bench("EVENTQ: a C_BAD_STE fault and its record", { group: "eventq" }, () => {
  faults.smmu.translate(3, 0x1000);
  if (++n % 16 === 0) faults.driver.events();
});
