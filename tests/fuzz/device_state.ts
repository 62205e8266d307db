/**
 * What the fuzz oracle reads of the device without changing it: registers through `mmioPeek`, queue geometry, the
 * commands a call ran (from the ring as it was), and a twin device with the same state and empty caches to probe.
 * @module
 */
import {
  CMD_SYNC,
  CMDQ_BASE,
  CMDQ_CONS,
  CR0,
  GERROR_IRQ_CFG0,
  GERROR_IRQ_CFG1,
  REG,
  STE,
  STE_CONFIG,
  STE_CONFIG_EFFECTIVE,
  STE_S1DSS_EFFECTIVE,
} from "../../gen/mod.ts";
import { SavedState } from "../../gen/proto/smmuv3/v1/saved_state.ts";
import type { Smmu, TranslationResult } from "../../mod.ts";
import type { ScenarioRunner, Transaction } from "../../src/scenario/scenario.ts";
import type { RecordingMemory } from "./recording.ts";

/** The registers the invariants look at, read without side effects. */
export interface Regs {
  cr0: number;
  cr0ack: number;
  irqCtrl: number;
  irqCtrlAck: number;
  gerror: number;
  gerrorn: number;
  cmdqBase: Uint32Array;
  cmdqProd: number;
  cmdqCons: number;
  eventqBase: Uint32Array;
  eventqProd: number;
  eventqCons: number;
  /** [address, data] of the event queue, global error and PRI queue MSIs. */
  msis: [number, number][];
  priqBase: Uint32Array;
  priqProd: number;
  priqCons: number;
  priqIrqCfg2: number;
}

/** The registers the invariants need, through side-effect-free reads (a CMDQ_CONS read would run commands). */
export function readRegs(smmu: Smmu): Regs {
  const r = (offset: number) => Number(smmu.mmioPeek(offset, 4));
  const pair = (offset: number) => Uint32Array.of(r(offset), r(offset + 4));
  const msi = (cfg0: number, cfg1: number): [number, number] => [
    GERROR_IRQ_CFG0.ADDR.getAddress(pair(cfg0)),
    GERROR_IRQ_CFG1.DATA.get(Uint32Array.of(r(cfg1))),
  ];
  return {
    cr0: r(REG.CR0),
    cr0ack: r(REG.CR0ACK),
    irqCtrl: r(REG.IRQ_CTRL),
    irqCtrlAck: r(REG.IRQ_CTRLACK),
    gerror: r(REG.GERROR),
    gerrorn: r(REG.GERRORN),
    cmdqBase: pair(REG.CMDQ_BASE),
    cmdqProd: r(REG.CMDQ_PROD),
    cmdqCons: r(REG.CMDQ_CONS),
    eventqBase: pair(REG.EVENTQ_BASE),
    eventqProd: r(REG.EVENTQ_PROD),
    eventqCons: r(REG.EVENTQ_CONS),
    msis: [
      msi(REG.EVENTQ_IRQ_CFG0, REG.EVENTQ_IRQ_CFG1),
      msi(REG.GERROR_IRQ_CFG0, REG.GERROR_IRQ_CFG1),
      msi(REG.PRIQ_IRQ_CFG0, REG.PRIQ_IRQ_CFG1),
    ],
    priqBase: pair(REG.PRIQ_BASE),
    priqProd: r(REG.PRIQ_PROD),
    priqCons: r(REG.PRIQ_CONS),
    priqIrqCfg2: r(REG.PRIQ_IRQ_CFG2),
  };
}

/** A circular queue's geometry, as its BASE register and the index fields describe it. */
export interface Ring {
  base: number;
  log2: number;
  entryBytes: number;
}

export const ring = (base: Uint32Array, entryBytes: number): Ring => {
  const log2 = CMDQ_BASE.LOG2SIZE.get(base);
  const addr = CMDQ_BASE.ADDR.getAddress(base);
  const bytes = 2 ** log2 * entryBytes;
  return { base: addr - (addr % bytes), log2, entryBytes };
};

/** Entries from index+wrap `from` to `to`, modulo twice the ring size. */
export const distance = (r: Ring, from: number, to: number): number => {
  const span = 2 ** (r.log2 + 1);
  return (((to - from) % span) + span) % span;
};

/** The address of the slot of index `index` (any integer: it wraps). */
export const slotAddr = (r: Ring, index: number): number =>
  r.base + (((index % 2 ** r.log2) + 2 ** r.log2) % 2 ** r.log2) * r.entryBytes;

/** The commands a call ran, in order (read from the ring as it was before the call's writes). */
export function consumedCommands(mem: RecordingMemory, r: Ring, consAfter: number, commands: number): Uint32Array[] {
  // The commands run are the `commands` entries before CONS as it ends (it may have been written in this step).
  const n = Math.min(commands, 2 ** r.log2);
  const from = CMDQ_CONS.RD.get(Uint32Array.of(consAfter)) - n;
  return Array.from({ length: n }, (_, k) => {
    const at = slotAddr(r, from + k);
    return Uint32Array.from({ length: 4 }, (_, j) => mem.wordBefore(at + 4 * j));
  });
}

/**
 * Every command a call read from the ring (needs `mem.logReads`): four words read in a row from a slot, as read. A
 * superset of what it ran, for a call whose callbacks may have refilled the ring.
 */
export function commandsRead(mem: RecordingMemory, r: Ring): Uint32Array[] {
  const log = mem.readLog;
  const end = r.base + 2 ** r.log2 * r.entryBytes;
  const out: Uint32Array[] = [];
  for (let i = 0; i + 7 < log.length; i += 2) {
    const at = log[i];
    if (at < r.base || at >= end || (at - r.base) % r.entryBytes !== 0) continue;
    if (log[i + 2] === at + 4 && log[i + 4] === at + 8 && log[i + 6] === at + 12) {
      out.push(Uint32Array.of(log[i + 1], log[i + 3], log[i + 5], log[i + 7]));
    }
  }
  return out;
}

/** A CMD_SYNC a call ran: its completion signal and MSI. */
export interface Sync {
  cs: number;
  addr: number;
  data: number;
}

export const syncOf = (w: Uint32Array): Sync => ({
  cs: CMD_SYNC.CS.get(w),
  addr: CMD_SYNC.MSIAddress.getAddress(w),
  data: CMD_SYNC.MSIData.get(w),
});

/** A device in the same architectural state with empty caches, its command queue held (nothing runs): for probes. */
export function twin(runner: ScenarioRunner): Smmu {
  const state = SavedState.decode(runner.smmu.save());
  const cr0 = Uint32Array.of(state.cr0 ?? 0);
  CR0.CMDQEN.set(cr0, 0);
  state.cr0 = cr0[0];
  const other = runner.freshDevice();
  other.restore(SavedState.encode(state).finish());
  return other;
}

/** What the oracle needs of the STE a transaction used (IHI 0070 5.2). */
export interface UsedSte {
  readonly addr: number;
  readonly words: readonly number[];
  /** Found in the configuration cache (alone, or with a CD in a context), not read from memory. */
  readonly cached: boolean;
  /** STE.Config, and whether it enables stage 1 and stage 2. */
  readonly config: number;
  readonly s1: boolean;
  readonly s2: boolean;
  /** STE.S1CDMax and STE.S1DSS (meaningful with stage 1). */
  readonly cdMax: number;
  readonly dss: number;
}

/** Faults of a lookup that found no valid STE. */
const NO_STE: ReadonlySet<string> = new Set(["C_BAD_STREAMID", "C_BAD_STE", "F_STE_FETCH"]);

/**
 * The valid STE a transaction like `t` uses now (probed after a transaction: the one that transaction used), or null
 * where its lookup finds none. It may be an STE the SMMU cached before the guest changed it: a cached STE may be used
 * until a CMD_CFGI_STE / STE_RANGE / ALL covering it is completed by a CMD_SYNC (IHI 0070 3.21.3, 4.3), so the STE in
 * memory is not necessarily the one a transaction used.
 */
export function steUsed(smmu: Smmu, t: Transaction): UsedSte | null {
  const e = smmu.explain(t.sid, t.iova, t.access);
  const read = e.config.find((r) => r.structure === "STE");
  if (read === undefined || read.words.length === 0 || (!e.result.ok && NO_STE.has(e.result.fault))) return null;
  const w = Uint32Array.from(read.words);
  const config = STE_CONFIG_EFFECTIVE[STE.Config.get(w)]; // reserved encodings as they behave (IHI 0070 5.2)
  return {
    addr: read.addr,
    words: read.words,
    cached: read.cached,
    config,
    s1: config === STE_CONFIG.S1_TRANS || config === STE_CONFIG.NESTED,
    s2: config === STE_CONFIG.S2_TRANS || config === STE_CONFIG.NESTED,
    cdMax: STE.S1CDMax.get(w),
    dss: STE_S1DSS_EFFECTIVE[STE.S1DSS.get(w)],
  };
}

/** A translation's answer as text: the PA, or the fault's name. */
export const describe = (r: TranslationResult): string => r.ok ? `pa 0x${r.pa.toString(16)}` : r.fault;

/** Whether two byte arrays (a flat memory: megabytes) hold the same. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  const whole = a.length - (a.length % 4);
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const [wa, wb] = [
      new Uint32Array(a.buffer, a.byteOffset, whole / 4),
      new Uint32Array(b.buffer, b.byteOffset, whole / 4),
    ];
    for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) return false;
  } else for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  for (let i = whole; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
