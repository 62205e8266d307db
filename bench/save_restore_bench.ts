/** Save and restore of a fully configured device (the first-schema fixture's state: every queue enabled and wrapped,
 *  a CMDQ error pending, a full event queue with OVFLG, MSIs configured). */
import { SparseMemory } from "../src/core/memory.ts";
import { Smmu } from "../src/device/smmu.ts";
import { restoreState, saveState } from "../src/state/save_restore.ts";
import { configuredDevice, V1_ID_REGISTERS } from "../tests/fixtures/make_v1.ts";

const smmu = new Smmu({ memory: new SparseMemory(), idRegisters: V1_ID_REGISTERS });
smmu.restore(saveState(configuredDevice()));
const blob = smmu.save();
const regs = configuredDevice();

Deno.bench("Smmu save + restore, fully configured", { group: "device", baseline: true }, () => {
  smmu.restore(smmu.save());
});
Deno.bench("Smmu save", { group: "device" }, () => {
  smmu.save();
});
Deno.bench("Smmu restore", { group: "device" }, () => {
  smmu.restore(blob);
});
Deno.bench("saveState (register file only)", { group: "codec" }, () => {
  saveState(regs);
});
Deno.bench("restoreState (decode + validate, no commit)", { group: "codec" }, () => {
  restoreState(regs, blob);
});
