/**
 * Guest programs as data: what the fuzzer generates and shrinks. A case is a device and memory to run on and a list
 * of actions a guest takes (bring the SMMU up, write STEs, CDs and page tables, issue commands, do DMA, poke
 * registers and memory, save and restore). Actions name places symbolically (a CD slot, a table root, a region, the
 * end of memory, anywhere), so that random actions line up into working configurations often, and into hostile
 * ones (tables overlapping queues, cycles, addresses past the end of memory, huge sizes) the rest of the time.
 * tests/fuzz/arbitraries.ts generates them, tests/fuzz/compile.ts turns a case into a scenario; fast-check shrinks a
 * case by dropping actions and shrinking numbers towards zero, which the pools order from the most ordinary value to
 * the most hostile.
 * @module
 */
import type { SmmuFeatures } from "../../mod.ts";

/** A guest physical address, by what is there. Numbers index pools and wrap, so any value is meaningful. */
export type AddrRef =
  | { at: "region"; i: number; off: number } // data buffers and MSI doorbells
  | { at: "cd"; p: number } // a CD slot (a CD table)
  | { at: "space"; j: number } // an address space's start table
  | { at: "tables"; off: number } // among the translation tables
  | { at: "strtab" | "cmdq" | "eventq" }
  | { at: "end"; back: number } // just below the end of memory
  | { at: "beyond"; off: number } // past the end of memory
  | { at: "hole" } // in a hole of the memory map (or a region, when there is none)
  | { at: "wild"; v: number }; // anywhere below 2^52

/** An input address of a transaction, a mapping or a TLBI. */
export type IovaRef =
  | { at: "next"; off: number } // for a DMA: the same device again, `off` bytes after its last access
  | { at: "mapped"; i: number; off: number } // the i-th most recently mapped address (else a page)
  | { at: "page"; i: number; off: number } // the first pages
  | { at: "block"; i: number } // 2 MiB blocks
  | { at: "upper"; i: number } // the top pages of the TTB1 range (negative)
  | { at: "same"; a: AddrRef } // an address of the memory map: identity mappings, bypass
  | { at: "wild"; v: number; neg: boolean }
  | { at: "tagged"; tag: number; i: number }; // a top-byte tag (not for DmaView copies)

/** One translation regime's tables: a granule (0: 4K, 1: 16K, 2: 64K), an input size, a stage. */
export interface SpaceParams {
  granule: number;
  inputBits: number;
  stage: 1 | 2;
  /** Preferred S2SL0 for a stage-2 space (the first legal one from here is taken). */
  sl0: number;
}

/** Bits to flip in a structure after building it (reserved bits, wrong encodings). */
export type Flips = number[];

export interface BringUp {
  strtab: AddrRef | null;
  twoLevel: boolean;
  log2size: number;
  split: number;
  cmdqLog2: number;
  eventqLog2: number;
  cr2: number | null;
  irqs: number;
  eventqMsi: AddrRef | null;
  gerrorMsi: AddrRef | null;
  msiData: number;
  gbpa: number | null;
  smmuen: boolean;
  /** Where PRI is advertised: program and enable the PRI queue (2^priqLog2 entries; PRIQ_IRQ_CFG2.LO as `priqLo`). */
  priq: boolean;
  priqLog2: number;
  priqLo: boolean;
}

export interface SteAction {
  kind: "ste";
  sid: number;
  valid: boolean;
  config: number;
  cd: AddrRef;
  cdMax: number;
  fmtSkew: number;
  dss: number;
  strw: number;
  s2: number;
  t0szSkew: number;
  ps: number;
  vmid: number;
  ha: boolean;
  hd: boolean;
  affd: boolean;
  record: boolean;
  privcfg: number;
  instcfg: number;
  flips: Flips;
  invalidate: boolean;
  /** STE.S2S: stage-2 translation-related faults stall. */
  stall?: boolean;
  /** STE.EATS. */
  eats?: number;
}

export interface CdAction {
  kind: "cd";
  slot: number;
  ssid: number;
  sid: number;
  valid: boolean;
  ttb0: number | null;
  ttb1: number | null;
  tszSkew: number;
  ips: number;
  asid: number;
  record: boolean;
  ha: boolean;
  hd: boolean;
  affd: boolean;
  tbi: number;
  pan: boolean;
  wxn: boolean;
  e0pd: number;
  had: number;
  flips: Flips;
  /** 0 none, 1 CFGI_CD, 2 CFGI_CD_ALL, 3 CFGI_ALL; each then CMD_SYNC. */
  invalidate: number;
  /** CD.S: stage-1 translation-related faults stall. */
  stall?: boolean;
}

export interface LeafParams {
  af: boolean;
  /** AP (stage 1) or S2AP (stage 2). */
  perm: number;
  /** UXN | PXN << 1 (stage 1) or XN (stage 2). */
  xn: number;
  ng: boolean;
  dbm: boolean;
  contiguous: boolean;
  /** APTable | PXNTable << 2 | UXNTable << 3 on the table descriptors created on the way. */
  table: number;
}

export interface MapAction {
  kind: "map";
  space: number;
  iova: IovaRef;
  level: number;
  /** null: the identity (OA = IA). */
  oa: AddrRef | null;
  leaf: LeafParams;
}

/** A working device in one action: a CD and an STE that point at each other and at tables that map some pages. */
export interface AttachAction {
  kind: "attach";
  sid: number;
  /** 0 stage 1, 1 stage 2, 2 nested, 3 bypass. */
  mode: number;
  /** A stage-1 stream of the EL2 regime (STE.STRW = EL2; needs IDR0.Hyp). */
  el2: boolean;
  slot: number;
  ssid: number | null;
  /** The stage-1 and stage-2 spaces (the first of that stage from here). */
  space: number;
  s2: number;
  maps: { iova: IovaRef; level: number; oa: AddrRef | null; leaf: LeafParams }[];
  /** CD flags: HA, HD, AFFD, TBI0, E0PD0, PAN, WXN, HAD0 (bit 0 first); STE: S2HA, S2HD, S2AFFD likewise. Bit 8:
   * CD.S (stage-1 faults stall), bit 9: STE.S2S (stage-2 faults stall). */
  flags: number;
}

/** A well-formed TLB invalidation of what an attach set up (its ASID and VMID), then usually CMD_SYNC. */
export interface TlbiAction {
  kind: "tlbi";
  /** Index into the TLBI opcodes. */
  op: number;
  /** Whose ASID/VMID to name: below 4, one of the last attaches; else a StreamID pool index, as attach takes. */
  sid: number;
  iova: IovaRef;
  leaf: boolean;
  /** The range form (TG 1–3, SCALE, NUM, TTL), or null. */
  range: { tg: number; scale: number; num: number; ttl: number } | null;
  sync: boolean;
}

export interface Cmd {
  op: number;
  sid: number;
  ssid: number;
  addr: IovaRef;
  msi: AddrRef;
  vals: number[];
  flips: Flips;
}

export type Action =
  | { kind: "bringUp"; p: BringUp }
  | SteAction
  | CdAction
  | MapAction
  | AttachAction
  | { kind: "rawDesc"; space: number; iova: IovaRef; level: number; lo: number; hi: number }
  | { kind: "cycle"; space: number; iova: IovaRef; level: number; to: AddrRef | "self" }
  | { kind: "commands"; cmds: Cmd[]; sync: Cmd | null; publish: number }
  | {
    kind: "dma";
    sid: number;
    /** A SubstreamID pool index; null: the one the stream was attached with (if any); -1: none. */
    ssid: number | null;
    iova: IovaRef;
    write: boolean;
    priv: boolean;
    exec: boolean;
    view: boolean;
    len: number;
    /** More transactions right after it from the same device: `stride` bytes apart, the direction alternating when
     * `mixed` (a read, then a write of the same page...), as devices stream. */
    repeat: number;
    stride: number;
    mixed: boolean;
  }
  | { kind: "msi"; sid: number; at: AddrRef; data: number }
  /** The guest's stall handler (Linux iopf): with `fix`, it first maps the page of the last DMA (where its stream
   * was attached); then CMD_RESUME of a recent stream's STAG `stag` (STAGs are given from 0 up), retrying or
   * terminating, or (`term`) CMD_STALL_TERM of the stream; then CMD_SYNC. */
  | { kind: "resume"; sid: number; stag: number; retry: boolean; term: boolean; fix: boolean }
  /** A PCIe endpoint's page request (IHI 0070 chapter 8), for a page of `page`: `perms` R, W, X, Priv (bit 0 first);
   * a SubstreamID pool index or null (none). */
  | { kind: "pri"; sid: number; ssid: number | null; page: IovaRef; perms: number; group: number; last: boolean }
  /** An ATS Translation Request for `iova`, or (`translated`) a Translated transaction to `at` (IHI 0070 3.9.1). */
  | {
    kind: "ats";
    sid: number;
    ssid: number | null;
    iova: IovaRef;
    at: AddrRef;
    write: boolean;
    exec: boolean;
    priv: boolean;
    translated: boolean;
  }
  /** A write of register `reg` (WRITTEN_REGISTERS first, then any register of the frame), fields from `vals`. */
  | { kind: "regWrite"; reg: number; vals: number[]; wide: boolean; addr: AddrRef }
  | { kind: "mmioRaw"; offset: number; wide: boolean; lo: number; hi: number }
  /** A read: a negative offset -1 - i reads register i % REGISTERS.length (the upper half of a 64-bit one when
   * i / REGISTERS.length is odd); else the offset as it is. */
  | { kind: "mmioRead"; offset: number; wide: boolean }
  | { kind: "poke"; at: AddrRef; word: number; value: number }
  | { kind: "consumeEvents" | "consumePageRequests" | "ackErrors" | "skipCommands" | "pollCons" | "invalidateAll" }
  | TlbiAction
  | { kind: "saveRestore"; fresh: boolean }
  /** The host resets the device; with `reinit`, the guest then brings it up again as it did last. */
  | { kind: "reset"; reinit: boolean }
  /** The next time host callback `from` (an index into CALLBACKS of src/scenario/scenario.ts) is called, the guest (an
   * interrupt handler) or the host does `then` inside it: the device re-entered from its own callback. */
  | { kind: "reenter"; from: number; then: NestedAction[] };

/** What a callback may do inside the device's call: what an interrupt handler does (commands, event consumption,
 * error acknowledgement, polls, DMA). No reset, restore or register writes that move the queues. */
export type NestedAction =
  | Extract<Action, { kind: "commands" | "tlbi" | "dma" | "msi" | "mmioRead" }>
  | { kind: "consumeEvents" | "ackErrors" | "pollCons" | "invalidateAll" };

/** The device and memory a case runs on. */
export interface CaseHeader {
  features: SmmuFeatures | null;
  /** ID register fields the features cannot name: bit 0 IDR1.ATTR_PERMS_OVR, 1 IDR1.ATTR_TYPES_OVR, 2 IDR3.HAD;
   * bit 3 turns IDR0.Hyp on (EL2 streams). */
  idExtras: number;
  /** Sparse memory (size by index, holes), or one flat buffer around the fuzz guest's structures. */
  memory: { flat: boolean; size: number; holes: { at: number; i: number }[]; throws: boolean };
  /** ATS endpoints (IDR0.ATS and PRI then advertised): 0 none, 1 completing every ATC invalidation, 2 failing them. */
  atc: number;
  cacheLimits: { contexts?: number; streams?: number; entries?: number } | null;
  commandBudget: number | null;
  spaces: SpaceParams[];
}

export interface FuzzCase {
  header: CaseHeader;
  actions: Action[];
}

/** Registers a guest writes most, by name; the rest of the frame comes from `mmioRaw`. */
export const WRITTEN_REGISTERS = [
  "CR0",
  "GERRORN",
  "EVENTQ_CONS",
  "CMDQ_PROD",
  "CMDQ_CONS",
  "GBPA",
  "IRQ_CTRL",
  "CR2",
  "CR1",
  "STRTAB_BASE",
  "STRTAB_BASE_CFG",
  "CMDQ_BASE",
  "EVENTQ_BASE",
  "EVENTQ_PROD",
  "EVENTQ_IRQ_CFG0",
  "EVENTQ_IRQ_CFG1",
  "GERROR_IRQ_CFG0",
  "GERROR_IRQ_CFG1",
  "PRIQ_BASE",
  "PRIQ_PROD",
  "PRIQ_CONS",
  "PRIQ_IRQ_CFG0",
  "EVENTQ_PROD_P0",
  "EVENTQ_CONS_P0",
  "GATOS_CTRL",
] as const;
