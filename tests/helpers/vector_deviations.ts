/**
 * Where this model does not follow a recorded vector, and why: keyed by vector name, then step index. `ours` is what
 * this model observes instead (the architecture's answer); `reason` cites IHI 0070.
 */

/** An observation in the vectors' terms: an MMIO value ("0x…"), a DMA outcome, or memory bytes (hex). */
export type Expectation = string | { pa: string } | { fault: true };

/** One step where the recording departs from the architecture. */
export interface Deviation {
  ours: Expectation;
  reason: string;
}

const EL2_ILL =
  "IHI 0070 4.4.2.7: CMD_TLBI_EL2_* are CERROR_ILL when IDR0.Hyp = 0 (the recording advertises no Hyp); " +
  "QEMU 7.2 accepts it. The queue stops at the TLBI_EL2_ALL at index 8 with CMDQ_CONS.ERR = CERROR_ILL";
const WIDE_IOVA = "README departure 3: QEMU drops IOVAs at or above 2^48 before the SMMU; IHI 0070 3.4.1: an input " +
  "address beyond the CD's T0SZ range is an F_TRANSLATION, recorded as an event";
const PER_PIECE = "README departure 2: QEMU records one event per 4-byte piece of a 32-byte DMA; IHI 0070 7.3: one " +
  "transaction, one fault, one event record (PROD 1, later slots untouched)";
const zero32 = "00".repeat(32);
const GLOBAL_SURVIVES =
  "IHI 0070 4.4.2.2: CMD_TLBI_NH_ASID invalidates only non-global entries; these pages have nG = 0 " +
  "(global), so the cached translation may survive and the stale answer is architecturally allowed (QEMU ignores nG, " +
  "README departure 10)";

const WALK_CACHE = "IHI 0070 3.1, 4.4.2: walk caches may hold table entries until a TLBI without Leaf (or a wider " +
  "one) reaches them, and the recording says either outcome is allowed: this model cached step 41's last-level " +
  "table (a walk cache), so 0x2000 still translates through it after the level-2 entry is cleared";
const WALK_CACHE_LATER = WALK_CACHE + "; one event record fewer from there on";

export const DEVIATIONS: Record<string, Record<number, Deviation>> = {
  "bypass-smmu-disabled": {
    1: {
      ours: "0x1000",
      reason: "README departure 1: QEMU 7.2 does not implement GBPA (reads 0); IHI 0070 6.3.14 defines it, and this " +
        "model's reset value is SHCFG = 0b01 (use incoming), the spec's reset",
    },
  },
  "cmdq-illegal-command": {
    61: { ours: "0x1000008", reason: EL2_ILL },
    62: { ours: "0x1", reason: EL2_ILL + " and GERROR.CMDQ_ERR is active (GERROR != GERRORN)" },
    65: { ours: "0x1000008", reason: EL2_ILL + "; the queue waits there for GERRORN" },
  },
  "fetch-aborts": {
    33: {
      ours: "09000000100000000000000000000000000000000000000040000000" + "01000000",
      reason: "README departure 16: QEMU puts the CD fetch address in InputAddr; IHI 0070 7.3.10 (F_CD_FETCH) " +
        "reports it in FetchAddr (bits [243:195]), with InputAddr left 0",
    },
  },
  "s1-4k-2level-t0sz34-and-t0sz-limits": {
    79: { ours: "0x3", reason: WIDE_IOVA + " (the DMA at 2^48 in step 78)" },
    100: { ours: "0x4", reason: WIDE_IOVA + " (one more record than the recording)" },
    101: {
      ours: "10000000200000000000000002000000000000000000010000000000" + "00000000",
      reason: WIDE_IOVA + ": slot 2 holds step 78's record (SID 32, IOVA 2^48, privileged write)",
    },
  },
  "s1-4k-3level-t0sz25": {
    46: { ours: "0x3", reason: WIDE_IOVA + " (the DMA at 2^48 in step 44)" },
    48: {
      ours: "10000000100000000000000002000000000000000000010000000000" + "00000000",
      reason: WIDE_IOVA + ": slot 1 holds step 44's record (IOVA 2^48, privileged write)",
    },
  },
  "s1-invalid-descriptors": {
    47: { ours: { pa: "0x48002000" }, reason: WALK_CACHE },
    71: { ours: "0x5", reason: WALK_CACHE_LATER },
    75: { ours: "1000000010000000000000000a00000000000000400000000000000000000000", reason: WALK_CACHE_LATER },
    76: { ours: "1000000010000000000000000200000000100000000000000000000000000000", reason: WALK_CACHE_LATER },
    77: { ours: zero32, reason: WALK_CACHE_LATER },
  },
  "tlb-inv-nh-asid": {
    72: { ours: { pa: "0x480000c0" }, reason: GLOBAL_SURVIVES },
    74: { ours: { pa: "0x480010c0" }, reason: GLOBAL_SURVIVES },
    76: { ours: { pa: "0x480020c0" }, reason: GLOBAL_SURVIVES },
    78: { ours: { pa: "0x480030c0" }, reason: GLOBAL_SURVIVES },
  },
  "s1-4k-4level-basic": {
    46: { ours: "0x1", reason: PER_PIECE },
    48: { ours: zero32, reason: PER_PIECE },
    49: { ours: zero32, reason: PER_PIECE },
    50: { ours: zero32, reason: PER_PIECE },
    51: { ours: zero32, reason: PER_PIECE },
    52: { ours: zero32, reason: PER_PIECE },
    53: { ours: zero32, reason: PER_PIECE },
    54: { ours: zero32, reason: PER_PIECE },
  },
};
