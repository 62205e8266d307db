/**
 * The device a recording ran on, from the vector's own metadata: which QEMU (`qemu_version`) and, for QEMU 10, which
 * SMMU stages it was built with (`smmu_stage`). A replay advertises the same ID registers as the recording did
 * (tests/vectors/qemu-7.2/README.md, tests/vectors/qemu-10.0/README.md): the identification registers are an
 * implementation's choice, and the guest driver of the recording read and obeyed them.
 *
 * This is the one home of those values: the scenario runner (and so `trace`, the explorer and the vectors test) asks
 * here whenever a scenario has `qemu_version` and no `id_registers` of its own.
 * @module
 */
import type { IdRegisterValues } from "../features.ts";
import { InputError } from "./io.ts";

/** The SMMU stages a QEMU 10 recording was made with (`-global arm-smmuv3.stage=…`); QEMU 7.2 has stage 1 only. */
export const SMMU_STAGES = ["1", "2", "nested"] as const;
/** One of {@link SMMU_STAGES}. */
export type SmmuStage = typeof SMMU_STAGES[number];

/** A recording's device: the QEMU release, its stages, and the ID registers it advertised. */
export interface RecordingDevice {
  /** "7.2" or "10.0". */
  qemu: string;
  stage: SmmuStage;
  idRegisters: IdRegisterValues;
}

/** IDR1 and IDR5 are the same in both releases: 2-level stream tables, 16-bit StreamIDs, 44-bit OAS, every granule. */
const IDR1 = 0x02730010, IDR5 = 0x74;

/** What each release advertised, by stage (their READMEs). */
const RELEASES: Record<string, Partial<Record<SmmuStage, IdRegisterValues>>> = {
  // Stage 1 only, no Hyp, RIL (SMMUv3.2's range invalidation), little-endian, no MSI.
  "7.2": { "1": { IDR0: 0x0d40101a, IDR1, IDR3: 0x1404, IDR5 } },
  // IDR0 adds VMID16 and the stages built; with stage 2, IDR3.XNX = 1 as well.
  "10.0": {
    "1": { IDR0: 0x0d44101a, IDR1, IDR3: 0x1404, IDR5 },
    "2": { IDR0: 0x0d441019, IDR1, IDR3: 0x1414, IDR5 },
    nested: { IDR0: 0x0d44101b, IDR1, IDR3: 0x1414, IDR5 },
  },
};

/**
 * The device of a recording with `qemu_version` (e.g. "QEMU emulator version 10.0.13 (Debian …)") and `smmu_stage`
 * (QEMU 10 only; QEMU 7.2 has stage 1). A release or stage whose ID registers are not known throws
 * {@link InputError} naming the field in `file`: such a scenario must give its `id_registers`.
 */
export function recordingDevice(qemuVersion: string, smmuStage: SmmuStage | undefined, file: string): RecordingDevice {
  const qemu = /(\d+\.\d+)/.exec(qemuVersion)?.[1];
  const release = qemu === undefined ? undefined : RELEASES[qemu];
  if (qemu === undefined || release === undefined) {
    throw new InputError(
      `the ID registers of ${qemu ? `QEMU ${qemu}` : "this QEMU"} are not known (${
        Object.keys(RELEASES).map((r) => `QEMU ${r}`).join(", ")
      } are): give id_registers`,
      `${file} qemu_version`,
    );
  }
  const stages = Object.keys(release) as SmmuStage[];
  const stage = smmuStage ?? (stages.length === 1 ? stages[0] : undefined);
  const idRegisters = stage === undefined ? undefined : release[stage];
  if (stage === undefined || idRegisters === undefined) {
    throw new InputError(
      `QEMU ${qemu} recordings have smmu_stage ${stages.map((s) => `"${s}"`).join(" or ")}` +
        (smmuStage === undefined ? ": say which" : `, not "${smmuStage}"`),
      `${file} smmu_stage`,
    );
  }
  return { qemu, stage, idRegisters };
}
