/**
 * Where this model does not follow a recorded vector, and why: keyed by vector name, then step index. `ours` is what
 * this model observes instead (the architecture's answer); `reason` cites IHI 0070. Event records that differ only in
 * fields a recording never fills follow general rules (RECORD_RULES), each exact about the fields and values it
 * accepts.
 */
import { EVENT_TYPE, EVENTS, EVT_CLASS, EVT_F_TRANSLATION, EVT_F_UUT } from "../../gen/mod.ts";
import type { Field } from "../../gen/mod.ts";

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
  "address beyond the CD's T0SZ range is an F_TRANSLATION, recorded as an event (S2 = 0, CLASS = IN: IHI 0070 7.3.13)";
const PER_PIECE = "README departure 2: QEMU records one event per 4-byte piece of a 32-byte DMA; IHI 0070 7.3: one " +
  "transaction, one fault, one event record (PROD 1, later slots untouched)";
const zero32 = "00".repeat(32);
const GLOBAL_SURVIVES =
  "IHI 0070 4.4.2.2: CMD_TLBI_NH_ASID invalidates only non-global entries; these pages have nG = 0 " +
  "(global), so the cached translation may survive and the stale answer is architecturally allowed (QEMU ignores nG, " +
  "README departure 10)";

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
      ours: "10000000200000000000000002020000000000000000010000000000" + "00000000",
      reason: WIDE_IOVA + ": slot 2 holds step 78's record (SID 32, IOVA 2^48, privileged write)",
    },
  },
  "s1-4k-3level-t0sz25": {
    46: { ours: "0x3", reason: WIDE_IOVA + " (the DMA at 2^48 in step 44)" },
    48: {
      ours: "10000000100000000000000002020000000000000000010000000000" + "00000000",
      reason: WIDE_IOVA + ": slot 1 holds step 44's record (IOVA 2^48, privileged write)",
    },
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

// ------------------------------------------------------------------------------------------------ record rules

/**
 * A general departure of a recording's event records: `explains` returns the bits (8 words) of the record in which
 * ours may differ from the recording under this rule, or null when the rule does not apply to this record; it applies
 * only where our value is the architecture's.
 */
export interface RecordRule {
  name: string;
  reason: string;
  explains(ours: Uint32Array, recorded: Uint32Array): Uint32Array | null;
}

const TRANSLATION_RELATED: ReadonlySet<number> = new Set([
  EVENT_TYPE.F_TRANSLATION,
  EVENT_TYPE.F_ADDR_SIZE,
  EVENT_TYPE.F_ACCESS,
  EVENT_TYPE.F_PERMISSION,
]);

/** The bits of `f` in an 8-word record. */
function maskOf(f: Field): Uint32Array {
  const m = new Uint32Array(8);
  f.set(m, 2 ** f.width - 1);
  return m;
}

/** A field of the record's own layout (by type), or undefined where the type has none. */
function fieldOf(rec: Uint32Array, name: string): Field | undefined {
  return EVENTS.get(EVT_F_UUT.Type.get(rec))?.fields.find((f) => f.name === name);
}

/** QEMU (7.2 and 10.0) never fills PnU; the recording's DMA is privileged, so ours is 1 (IHI 0070 7.3: PnU). */
const PNU: RecordRule = {
  name: "PnU",
  reason: "IHI 0070 7.3 (PnU: the transaction's privilege, post-STE override): the recordings' DMA is privileged " +
    "(QEMU's PCI DMA is not user), so PnU = 1; QEMU leaves bit 97 at 0",
  explains: (ours, rec) => {
    const f = fieldOf(ours, "PnU");
    return f !== undefined && f.get(ours) === 1 && f.get(rec) === 0 ? maskOf(f) : null;
  },
};

/** QEMU 7.2 writes CLASS = 0 (CD) for every stage-1 fault of the input address; the architecture says IN. */
const STAGE1_CLASS: RecordRule = {
  name: "stage-1 CLASS",
  reason: "IHI 0070 7.3.13 (and 7.3.14-7.3.16, which refer to it): a fault at stage 1 has S2 = 0 and CLASS = IN " +
    "(0b10); QEMU 7.2 leaves CLASS at 0 (CD). QEMU 10.0 writes IN (its README, departure 16)",
  explains: (ours, rec) => {
    const type = EVT_F_UUT.Type.get(ours);
    const t = EVT_F_TRANSLATION;
    if (!TRANSLATION_RELATED.has(type) || t.S2.get(ours) !== 0 || t.S2.get(rec) !== 0) return null;
    return t.CLASS.get(ours) === EVT_CLASS.IN && t.CLASS.get(rec) === EVT_CLASS.CD ? maskOf(t.CLASS) : null;
  },
};

/** Record bits [203:192]: below the IPA field, which holds IPA[51:12]. */
const IPA_LOW = (() => {
  const m = new Uint32Array(8);
  m[6] = 2 ** (EVT_F_TRANSLATION.IPA.lsb - 192) - 1;
  return m;
})();

/** QEMU 10.0 writes the whole IPA into record bits [255:192] (its README, N11). */
const IPA_LOW_BITS: RecordRule = {
  name: "IPA[11:0]",
  reason: "tests/vectors/qemu-10.0 README N11: QEMU 10.0 writes the full IPA, bits [11:0] included, at record bits " +
    "[255:192]; IHI 0070 7.3.13 defines IPA[51:12] at bits [243:204], and bits [203:192] are RES0 (IHI 0070 7.3: " +
    "portions not defined are RES0)",
  explains: (ours) => {
    if (!TRANSLATION_RELATED.has(EVT_F_UUT.Type.get(ours)) || EVT_F_TRANSLATION.S2.get(ours) !== 1) return null;
    return (ours[6] & IPA_LOW[6]) === 0 ? IPA_LOW : null;
  },
};

/** QEMU 10.0 never fills TTRnW. */
const TTRNW: RecordRule = {
  name: "TTRnW",
  reason: "IHI 0070 7.3.16 (TTRnW, valid when CLASS == TT): 1 when a translation table descriptor read caused the " +
    "stage-2 fault, 0 for a write (an HTTU update); QEMU 10.0 leaves bit 108 at 0 for the stage-1 table reads it " +
    "faults on",
  explains: (ours, rec) => {
    const t = EVT_F_TRANSLATION;
    if (!TRANSLATION_RELATED.has(EVT_F_UUT.Type.get(ours)) || t.S2.get(ours) !== 1) return null;
    if (t.CLASS.get(ours) !== EVT_CLASS.TT || t.TTRnW.get(ours) !== 1 || t.TTRnW.get(rec) !== 0) return null;
    return maskOf(t.TTRnW);
  },
};

/** The record rules of each recording. */
export const RECORD_RULES: Readonly<Record<"qemu-7.2" | "qemu-10.0", readonly RecordRule[]>> = {
  "qemu-7.2": [PNU, STAGE1_CLASS],
  "qemu-10.0": [PNU, IPA_LOW_BITS, TTRNW],
};

// ---------------------------------------------------------------------------------------------- QEMU 10.0

const AIDR = "IHI 0070 6.3.8 (SMMU_AIDR): ArchMajorRev/ArchMinorRev name the SMMUv3.x the implementation follows, an " +
  "implementation choice like the other identification registers the README has replayed as recorded; this model " +
  "implements SMMUv3.2 (RIL is mandatory from 3.2, IHI 0070 4.4.1.1) and reads 0x2 where QEMU 10.0 reads 0x1 (3.1)";
const PNU_TOO = " (and PnU = 1 for the privileged DMA, as the PnU rule)";
const N1 = "README N1: QEMU 10.0 indexes only the first of the concatenated stage-2 start tables. IHI 0070 5.2 " +
  "S2T0SZ/S2SL0 walk as the A-profile VTCR_EL2 does (DDI 0487 D8.2.6: concatenated start-level tables, each covering " +
  "its own IPA range)";
const N1_PA = N1 + ": this IPA translates through its own table, the recording's arch_expected";
const N1_FAULT = N1 + ": this IPA's own table has no mapping, an F_TRANSLATION at stage 2 (IHI 0070 7.3.13), the " +
  "recording's arch_expected";
const N1_QUEUE = N1 + "; with quirk 2 QEMU recorded one event per 4-byte beat of each DMA it faulted so, where this " +
  "model translates (IHI 0070 7.3: one record per faulting transaction). From here the queue holds other records, " +
  "and the guest's CONS writes, made for QEMU's PROD, move CONS past this model's PROD: with inconsistent indices " +
  "nothing more is produced (IHI 0070 3.5.1, CONSTRAINED UNPREDICTABLE)";
const N7_N8 = "README N7 and N8: a write that hits QEMU's cached read-only stage-2 entry, and a read that hits its " +
  "cached write-only one, fault with no record; IHI 0070 7.3.16: a stage-2 Permission fault is F_PERMISSION with S2 " +
  "= 1, CLASS = IN and the IPA, recorded as STE.S2R = 1 asks (5.5), cached or not. This model records those two, so " +
  "EVENTQ_PROD runs two ahead and the later slots hold the records after them";
const N7_NESTED = "README N7: QEMU reports a write that hits its cached nested entry whose stage 2 is read-only with " +
  "IPA = 0; IHI 0070 7.3.13 (to which 7.3.16 refers): a stage-2 fault of CLASS IN provides the IPA, here " +
  "0x20_0000_3000" + PNU_TOO;
const N13 = "README N13: QEMU reports RnW = 1 (the descriptor read) for a stage-2 fault while fetching nested " +
  "configuration for a write DMA; IHI 0070 7.3.13: RnW is the input transaction's (a write, 0)";
const N13_CD = N13 + "; CLASS = CD says the CD fetch faulted (7.3.16: 'When CLASS == CD, the access is implicitly " +
  "Data and a read')" + PNU_TOO;
const N13_TT = N13 + "; CLASS = TT with TTRnW = 1 says a stage-1 table read (of TTB0) faulted (7.3.16)" + PNU_TOO;
const N12 = "README N12: QEMU reports a stage-2 fault on a next-level stage-1 table address with S2 = 0; IHI 0070 " +
  "7.3.13: 'If walking stage 1 translation table, CLASS == TT, IPA is the stage 1 translation table descriptor " +
  "address' with S2 = 1, and 7.3.16: TTRnW = 1 for the descriptor read" + PNU_TOO;

export const QEMU10_DEVIATIONS: Record<string, Record<number, Deviation>> = {
  "nested-basic": {
    7: { ours: "0x2", reason: AIDR },
    142: { ours: "1300000010000000000000008202000020300000000000000030000020000000", reason: N7_NESTED },
  },
  "nested-s2-fault-cd-tt": {
    109: { ours: "1000000010000000000000008200000000100000000000000000804110000000", reason: N13_CD },
    111: { ours: "10000000200000000000000082110000001000000000000000e0004310000000", reason: N13_TT },
    112: { ours: "1000000028000000000000008211000000002000000000000050014310000000", reason: N12 },
    127: { ours: "1200000028000000000000008a11000010002000000000000050014310000000", reason: N12 },
  },
  "s2-16k-64k-granules": {
    65: { ours: { pa: "0x48050080" }, reason: N1_PA },
    66: { ours: { pa: "0x48070080" }, reason: N1_PA },
    69: { ours: "0x3", reason: N1_QUEUE },
    70: { ours: "1000000018000000000000008202000000000540000000000000054000000000", reason: N1_QUEUE },
    71: { ours: "1000000018000000000000008202000000000080000000000000008000000000", reason: N1_QUEUE },
    72: { ours: zero32, reason: N1_QUEUE },
    73: { ours: zero32, reason: N1_QUEUE },
    74: { ours: zero32, reason: N1_QUEUE },
    75: { ours: zero32, reason: N1_QUEUE },
    76: { ours: zero32, reason: N1_QUEUE },
    77: { ours: zero32, reason: N1_QUEUE },
    78: { ours: zero32, reason: N1_QUEUE },
    79: { ours: zero32, reason: N1_QUEUE },
    83: { ours: { pa: "0x48088100" }, reason: N1_PA },
    84: { ours: { pa: "0x4809c100" }, reason: N1_PA },
    85: { ours: { fault: true }, reason: N1_FAULT },
    86: { ours: "0x3", reason: N1_QUEUE },
    87: { ours: zero32, reason: N1_QUEUE },
    88: { ours: zero32, reason: N1_QUEUE },
    89: { ours: zero32, reason: N1_QUEUE },
    90: { ours: zero32, reason: N1_QUEUE },
    91: { ours: zero32, reason: N1_QUEUE },
    92: { ours: zero32, reason: N1_QUEUE },
    93: { ours: zero32, reason: N1_QUEUE },
    94: { ours: zero32, reason: N1_QUEUE },
    100: { ours: "0x3", reason: N1_QUEUE },
  },
  "s2-4k-concatenated": {
    64: { ours: { pa: "0x48002010" }, reason: N1_PA },
    65: { ours: { pa: "0x48003010" }, reason: N1_PA },
    67: { ours: "0x1", reason: N1_QUEUE },
    68: { ours: "1000000010000000000000008202000010200000000000000020000000000000", reason: N1_QUEUE },
    69: { ours: zero32, reason: N1_QUEUE },
    70: { ours: zero32, reason: N1_QUEUE },
    71: { ours: zero32, reason: N1_QUEUE },
    72: { ours: zero32, reason: N1_QUEUE },
    75: { ours: { pa: "0x48015020" }, reason: N1_PA },
    76: { ours: { pa: "0x4801f020" }, reason: N1_PA },
    77: { ours: { fault: true }, reason: N1_FAULT },
    78: { ours: "0x1", reason: N1_QUEUE },
    79: { ours: zero32, reason: N1_QUEUE },
    80: { ours: zero32, reason: N1_QUEUE },
    81: { ours: zero32, reason: N1_QUEUE },
    82: { ours: zero32, reason: N1_QUEUE },
    83: { ours: zero32, reason: N1_QUEUE },
    84: { ours: zero32, reason: N1_QUEUE },
    85: { ours: zero32, reason: N1_QUEUE },
    86: { ours: zero32, reason: N1_QUEUE },
    89: { ours: { pa: "0x48021030" }, reason: N1_PA },
    90: { ours: { pa: "0x48029030" }, reason: N1_PA },
    91: { ours: { pa: "0x4802f030" }, reason: N1_PA },
    92: { ours: "0x1", reason: N1_QUEUE },
    93: { ours: zero32, reason: N1_QUEUE },
    94: { ours: zero32, reason: N1_QUEUE },
    95: { ours: zero32, reason: N1_QUEUE },
    96: { ours: zero32, reason: N1_QUEUE },
    97: { ours: zero32, reason: N1_QUEUE },
    98: { ours: zero32, reason: N1_QUEUE },
    99: { ours: zero32, reason: N1_QUEUE },
    100: { ours: zero32, reason: N1_QUEUE },
    101: { ours: zero32, reason: N1_QUEUE },
    102: { ours: zero32, reason: N1_QUEUE },
    103: { ours: zero32, reason: N1_QUEUE },
    104: { ours: zero32, reason: N1_QUEUE },
    108: { ours: "0x1", reason: N1_QUEUE },
    109: { ours: zero32, reason: N1_QUEUE },
  },
  "s2-permissions-access-flag": {
    73: { ours: "0x8", reason: N7_N8 },
    76: { ours: "1300000010000000000000008202000020200000000000000020000000000000", reason: N7_N8 },
    77: { ours: "1300000010000000000000008202000030200000000000000020000000000000", reason: N7_N8 },
    78: { ours: "1300000010000000000000008a02000020300000000000000030000000000000", reason: N7_N8 },
    79: { ours: "1300000010000000000000008a02000030300000000000000030000000000000", reason: N7_N8 },
    85: { ours: "0xa", reason: N7_N8 },
    86: { ours: "1200000010000000000000008202000000500000000000000050000000000000", reason: N7_N8 },
    87: { ours: "1200000010000000000000008a02000000500000000000000050000000000000", reason: N7_N8 },
    94: { ours: "0xa", reason: N7_N8 },
  },
};
