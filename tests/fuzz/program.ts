/**
 * Guest programs as data: what the fuzzer generates and shrinks. A case is a device and memory to run on and a list
 * of actions a guest takes (bring the SMMU up, write STEs, CDs and page tables, issue commands, do DMA, poke
 * registers and memory, save and restore). Actions name places symbolically (a CD slot, a table root, a region, the
 * end of memory, anywhere), so that random actions line up into working configurations often, and into hostile
 * ones (tables overlapping queues, cycles, addresses past the end of memory, huge sizes) the rest of the time.
 * tests/fuzz/compile.ts turns a case into a scenario; fast-check shrinks it by dropping actions and shrinking
 * numbers towards zero, which the pools below order from the most ordinary value to the most hostile.
 * @module
 */
import fc from "fast-check";
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
  /** CD flags: HA, HD, AFFD, TBI0, E0PD0, PAN, WXN, HAD0 (bit 0 first); STE: S2HA, S2HD, S2AFFD likewise. */
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
    ssid: number | null;
    iova: IovaRef;
    write: boolean;
    priv: boolean;
    exec: boolean;
    view: boolean;
    len: number;
  }
  | { kind: "msi"; sid: number; at: AddrRef; data: number }
  | { kind: "regWrite"; reg: number; vals: number[]; wide: boolean; addr: AddrRef }
  | { kind: "mmioRaw"; offset: number; wide: boolean; lo: number; hi: number }
  | { kind: "mmioRead"; offset: number; wide: boolean }
  | { kind: "poke"; at: AddrRef; word: number; value: number }
  | { kind: "consumeEvents" | "ackErrors" | "skipCommands" | "pollCons" }
  | TlbiAction
  | { kind: "saveRestore"; fresh: boolean }
  | { kind: "reset" };

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

// ---------------------------------------------------------------------------------------------- arbitraries

/** Mostly 0, then small, then anything of 32 bits: field values where 0 is the ordinary choice. */
const fieldValue = fc.oneof(
  { weight: 6, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.nat(3) },
  { weight: 1, arbitrary: fc.nat(0xffff) },
  { weight: 1, arbitrary: fc.nat(0xffff_ffff) },
);
const vals = fc.array(fieldValue, { maxLength: 8 });
/** Usually nothing, sometimes a bit or two of a structure flipped. */
const flips = (bits: number) =>
  fc.oneof({ weight: 5, arbitrary: fc.constant([] as number[]) }, {
    weight: 1,
    arbitrary: fc.array(fc.nat(bits - 1), { maxLength: 3 }),
  });
/** A StreamID: for a DMA, an index into the streams configured last (then the pool); else a pool index. The first
 * four usually, any of the pool sometimes. */
const sidIndex = fc.oneof({ weight: 10, arbitrary: fc.nat(3) }, { weight: 1, arbitrary: fc.nat(30) });
/** `arb` about once in `1 + nulls` draws, else null. */
const sometimes = <T>(arb: fc.Arbitrary<T>, nulls: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: nulls, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
/** `arb` usually (null about once in `1 + values` draws). */
const usually = <T>(arb: fc.Arbitrary<T>, values: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: values, arbitrary: arb });
/** Small numbers usually, anything sometimes. */
const small = (max: number, rare = 0xffff_ffff) =>
  fc.oneof({ weight: 8, arbitrary: fc.nat(max) }, { weight: 1, arbitrary: fc.nat(rare) });
const skew = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, {
  weight: 1,
  arbitrary: fc.integer({ min: -8, max: 8 }),
});

export const addrRef: fc.Arbitrary<AddrRef> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ at: fc.constant("region" as const), i: fc.nat(15), off: small(15, 1023) }) },
  { weight: 3, arbitrary: fc.record({ at: fc.constant("cd" as const), p: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ at: fc.constant("space" as const), j: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ at: fc.constant("tables" as const), off: fc.nat(0xffff) }) },
  { weight: 1, arbitrary: fc.record({ at: fc.constantFrom("strtab" as const, "cmdq" as const, "eventq" as const) }) },
  { weight: 1, arbitrary: fc.record({ at: fc.constant("end" as const), back: fc.nat(64) }) },
  { weight: 1, arbitrary: fc.record({ at: fc.constant("beyond" as const), off: fc.nat(0xffff_ffff) }) },
  { weight: 1, arbitrary: fc.record({ at: fc.constant("hole" as const) }) },
  { weight: 1, arbitrary: fc.record({ at: fc.constant("wild" as const), v: fc.nat(2 ** 52 - 1) }) },
);

export const iovaRef: fc.Arbitrary<IovaRef> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ at: fc.constant("mapped" as const), i: fc.nat(3), off: small(0, 0xfff) }) },
  { weight: 8, arbitrary: fc.record({ at: fc.constant("page" as const), i: fc.nat(15), off: small(0, 0xfff) }) },
  { weight: 2, arbitrary: fc.record({ at: fc.constant("block" as const), i: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ at: fc.constant("upper" as const), i: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ at: fc.constant("same" as const), a: addrRef }) },
  {
    weight: 1,
    arbitrary: fc.record({ at: fc.constant("wild" as const), v: fc.nat(2 ** 53 - 1), neg: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ at: fc.constant("tagged" as const), tag: fc.nat(255), i: fc.nat(15) }) },
);

const bringUp: fc.Arbitrary<BringUp> = fc.record({
  strtab: sometimes(addrRef, 8),
  twoLevel: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  log2size: fc.oneof({ weight: 4, arbitrary: fc.constant(8) }, { weight: 2, arbitrary: fc.nat(16) }, {
    weight: 1,
    arbitrary: fc.nat(40),
  }),
  split: fc.oneof(fc.constantFrom(6, 8, 10), fc.nat(31)),
  cmdqLog2: small(8, 31),
  eventqLog2: small(5, 31),
  cr2: usually(fc.nat(7), 3),
  irqs: fc.nat(7),
  eventqMsi: sometimes(addrRef, 1),
  gerrorMsi: sometimes(addrRef, 1),
  msiData: fc.nat(0xffff_ffff),
  gbpa: sometimes(fc.nat(0xffff_ffff), 6),
  smmuen: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

const ste: fc.Arbitrary<SteAction> = fc.record({
  kind: fc.constant("ste" as const),
  sid: sidIndex,
  valid: fc.oneof({ weight: 12, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  config: fc.oneof({ weight: 10, arbitrary: fc.nat(4) }, { weight: 1, arbitrary: fc.nat(7) }),
  cd: fc.oneof({ weight: 6, arbitrary: fc.record({ at: fc.constant("cd" as const), p: fc.nat(7) }) }, {
    weight: 1,
    arbitrary: addrRef,
  }),
  cdMax: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.nat(6) }, {
    weight: 1,
    arbitrary: fc.nat(31),
  }),
  fmtSkew: small(0, 3),
  dss: small(2, 3),
  strw: small(0, 3),
  s2: fc.nat(3),
  t0szSkew: skew,
  ps: fc.oneof({ weight: 4, arbitrary: fc.constant(5) }, { weight: 1, arbitrary: fc.nat(7) }),
  vmid: small(3, 0xffff),
  ha: fc.boolean(),
  hd: fc.boolean(),
  affd: fc.boolean(),
  record: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  privcfg: small(0, 3),
  instcfg: small(0, 3),
  flips: flips(512),
  invalidate: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

const cd: fc.Arbitrary<CdAction> = fc.record({
  kind: fc.constant("cd" as const),
  slot: fc.nat(7),
  ssid: small(3, 20),
  sid: sidIndex,
  valid: fc.oneof({ weight: 12, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  ttb0: usually(fc.nat(3), 8),
  ttb1: sometimes(fc.nat(3), 4),
  tszSkew: skew,
  ips: fc.oneof({ weight: 4, arbitrary: fc.constant(5) }, { weight: 1, arbitrary: fc.nat(7) }),
  asid: small(3, 0xffff),
  record: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  ha: fc.boolean(),
  hd: fc.boolean(),
  affd: fc.boolean(),
  tbi: small(0, 3),
  pan: fc.boolean(),
  wxn: fc.boolean(),
  e0pd: small(0, 3),
  had: small(0, 3),
  flips: flips(512),
  invalidate: fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.nat(3) }),
});

const leaf: fc.Arbitrary<LeafParams> = fc.record({
  af: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  perm: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(3) }),
  xn: small(0, 3),
  ng: fc.boolean(),
  dbm: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  contiguous: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  table: small(0, 15),
});

const map: fc.Arbitrary<MapAction> = fc.record({
  kind: fc.constant("map" as const),
  space: fc.nat(3),
  iova: iovaRef,
  level: fc.oneof({ weight: 6, arbitrary: fc.constant(3) }, { weight: 2, arbitrary: fc.nat(3) }),
  oa: usually(addrRef, 2),
  leaf,
});

const attach: fc.Arbitrary<AttachAction> = fc.record({
  kind: fc.constant("attach" as const),
  sid: sidIndex,
  mode: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.nat(3) }),
  el2: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  slot: fc.nat(7),
  ssid: sometimes(small(3, 20), 4),
  space: fc.nat(3),
  s2: fc.nat(3),
  maps: fc.array(
    fc.record({
      iova: iovaRef,
      level: fc.oneof({ weight: 6, arbitrary: fc.constant(3) }, { weight: 2, arbitrary: fc.nat(3) }),
      oa: usually(addrRef, 2),
      leaf,
    }),
    { minLength: 1, maxLength: 4 },
  ),
  flags: fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(255) }),
});

const tlbi: fc.Arbitrary<TlbiAction> = fc.record({
  kind: fc.constant("tlbi" as const),
  op: fc.nat(11),
  sid: sidIndex,
  iova: iovaRef,
  leaf: fc.boolean(),
  range: sometimes(
    fc.record({ tg: fc.integer({ min: 1, max: 3 }), scale: small(3, 31), num: small(3, 31), ttl: fc.nat(3) }),
    2,
  ),
  sync: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

/** An opcode: mostly the defined ones, sometimes any byte. */
const opcode = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.constantFrom(
      0x46, // SYNC
      0x03, // CFGI_STE
      0x04, // CFGI_STE_RANGE
      0x05, // CFGI_CD
      0x06, // CFGI_CD_ALL
      0x10, // TLBI_NH_ALL
      0x11, // TLBI_NH_ASID
      0x12, // TLBI_NH_VA
      0x13, // TLBI_NH_VAA
      0x28, // TLBI_S12_VMALL
      0x2a, // TLBI_S2_IPA
      0x30, // TLBI_NSNH_ALL
      0x01, // PREFETCH_CONFIG
      0x02, // PREFETCH_ADDR
      0x20, // TLBI_EL2_ALL
      0x21, // TLBI_EL2_ASID
      0x22, // TLBI_EL2_VA
      0x23, // TLBI_EL2_VAA
      0x40, // ATC_INV
      0x41, // PRI_RESP
      0x07, // CFGI_VMS_PIDM
      0x18, // TLBI_EL3_ALL
      0x1a, // TLBI_EL3_VA
      0x44, // RESUME
      0x45, // STALL_TERM
    ),
  },
  { weight: 1, arbitrary: fc.nat(255) },
);

const cmd: fc.Arbitrary<Cmd> = fc.record({
  op: opcode,
  sid: sidIndex,
  ssid: small(3, 20),
  addr: iovaRef,
  msi: addrRef,
  vals,
  flips: flips(128),
});
const sync: fc.Arbitrary<Cmd> = fc.record({
  op: fc.constant(0x46),
  sid: fc.constant(0),
  ssid: fc.constant(0),
  addr: fc.constant({ at: "page" as const, i: 0, off: 0 }),
  msi: addrRef,
  vals,
  flips: flips(128),
});

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

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 1, arbitrary: bringUp.map((p) => ({ kind: "bringUp" as const, p })) },
  { weight: 6, arbitrary: ste },
  { weight: 6, arbitrary: cd },
  { weight: 10, arbitrary: map },
  { weight: 6, arbitrary: attach },
  { weight: 3, arbitrary: tlbi },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reset" as const) }) },
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant("dma" as const),
      sid: sidIndex,
      ssid: sometimes(small(3, 20), 3),
      iova: iovaRef,
      write: fc.boolean(),
      priv: fc.boolean(),
      exec: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      view: fc.boolean(),
      len: fc.oneof({ weight: 8, arbitrary: fc.nat(64) }, { weight: 2, arbitrary: fc.nat(0x4000) }, {
        weight: 1,
        arbitrary: fc.nat(0x40000), // a sweep over many pages: TLB eviction
      }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("commands" as const),
      cmds: fc.array(cmd, { maxLength: 6 }),
      sync: usually(sync, 2),
      publish: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, {
        weight: 1,
        arbitrary: fc.integer({ min: -3, max: 600 }),
      }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("rawDesc" as const),
      space: fc.nat(3),
      iova: iovaRef,
      level: fc.nat(3),
      lo: fc.nat(0xffff_ffff),
      hi: fc.nat(0xffff_ffff),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("cycle" as const),
      space: fc.nat(3),
      iova: iovaRef,
      level: fc.nat(3),
      to: fc.oneof(fc.constant("self" as const), addrRef),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("msi" as const),
      sid: sidIndex,
      at: addrRef,
      data: fc.nat(0xffff_ffff),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("regWrite" as const),
      reg: fc.nat(WRITTEN_REGISTERS.length - 1),
      vals,
      wide: fc.boolean(),
      addr: addrRef,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("mmioRaw" as const),
      offset: fc.nat(0x1ffff),
      wide: fc.boolean(),
      lo: fc.nat(0xffff_ffff),
      hi: fc.nat(0xffff_ffff),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("mmioRead" as const), offset: fc.nat(0x1ffff), wide: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("poke" as const),
      at: addrRef,
      word: small(15, 0xffff),
      value: fc.nat(0xffff_ffff),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom(
        "consumeEvents" as const,
        "ackErrors" as const,
        "skipCommands" as const,
        "pollCons" as const,
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("saveRestore" as const), fresh: fc.boolean() }) },
);

/** One feature changed from the defaults. */
const tweak: fc.Arbitrary<SmmuFeatures> = fc.oneof(
  fc.record({ stage1: fc.boolean() }),
  fc.record({ stage2: fc.boolean() }),
  fc.record({ granules: fc.subarray([4, 16, 64] as (4 | 16 | 64)[], { minLength: 1 }) }),
  fc.record({ oas: fc.constantFrom(32, 36, 40, 42, 44, 48, 52) as fc.Arbitrary<32 | 36 | 40 | 42 | 44 | 48 | 52> }),
  fc.record({ va52: fc.boolean() }),
  fc.record({ sidBits: fc.nat(32) }),
  fc.record({ ssidBits: fc.nat(20) }),
  fc.record({ cmdqLog2: fc.nat(19) }),
  fc.record({ eventqLog2: fc.nat(19) }),
  fc.record({ twoLevelStreamTable: fc.boolean() }),
  fc.record({ twoLevelCdTable: fc.boolean() }),
  fc.record({ msi: fc.boolean() }),
  fc.record({ rangeInvalidation: fc.boolean() }),
  fc.record({ asid16: fc.boolean() }),
  fc.record({ vmid16: fc.boolean() }),
  fc.record({ hyp: fc.boolean() }),
  fc.record({ ats: fc.boolean() }),
  fc.record({ pri: fc.boolean() }),
  fc.record({ sev: fc.boolean() }),
  fc.record({ httu: fc.constantFrom("none" as const, "access" as const, "access+dirty" as const) }),
  fc.record({ bbml: fc.constantFrom(0 as const, 1 as const, 2 as const) }),
);
/** The default features with a few changed. */
const features: fc.Arbitrary<SmmuFeatures> = fc.array(tweak, { minLength: 1, maxLength: 4 })
  .map((ts) => Object.assign({}, ...ts));

const space: fc.Arbitrary<SpaceParams> = fc.record({
  granule: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat(2) }),
  inputBits: fc.oneof({ weight: 3, arbitrary: fc.constant(48) }, {
    weight: 2,
    arbitrary: fc.integer({ min: 25, max: 52 }),
  }),
  stage: fc.constantFrom(1 as const, 2 as const),
  sl0: fc.nat(3),
});

const header: fc.Arbitrary<CaseHeader> = fc.record({
  features: sometimes(features, 1),
  idExtras: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(15) }),
  atc: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(2) }),
  memory: fc.record({
    flat: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    size: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(4) }),
    holes: fc.oneof({ weight: 5, arbitrary: fc.constant([] as { at: number; i: number }[]) }, {
      weight: 1,
      arbitrary: fc.array(fc.record({ at: fc.nat(5), i: fc.nat(15) }), { maxLength: 2 }),
    }),
    throws: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  }),
  cacheLimits: sometimes(
    fc.record({
      contexts: fc.integer({ min: 1, max: 4 }),
      streams: fc.integer({ min: 1, max: 4 }),
      entries: fc.integer({ min: 16, max: 40 }),
    }, { requiredKeys: [] }),
    4,
  ),
  commandBudget: sometimes(fc.integer({ min: 1, max: 8 }), 4),
  // A stage-1 space and a stage-2 space first (attach uses them), then up to two of either stage.
  spaces: fc.tuple(space, space, fc.array(space, { maxLength: 2 })).map(([a, b, rest]) => [
    { ...a, stage: 1 as const },
    { ...b, stage: 2 as const },
    ...rest,
  ]),
});

/** A whole case: nearly always starting with the driver's bring-up, then up to `maxActions` actions. */
export function fuzzCase(maxActions = 48): fc.Arbitrary<FuzzCase> {
  return fc.record({
    header,
    actions: fc.tuple(
      usually(bringUp.map((p) => ({ kind: "bringUp" as const, p })), 12),
      fc.array(action, { maxLength: maxActions, size: "max" }),
    ).map(([first, rest]) => (first === null ? rest : [first, ...rest])),
  });
}
