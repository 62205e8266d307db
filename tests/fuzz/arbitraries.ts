/**
 * The fast-check arbitraries of fuzz cases (tests/fuzz/program.ts): weighted so that the ordinary choice comes first
 * (0, a valid encoding, the last thing the guest set up) and the hostile ones often enough, and so that shrinking
 * moves towards the ordinary.
 * @module
 */
import fc from "fast-check";
import type { SmmuFeatures } from "../../mod.ts";
import type {
  Action,
  AddrRef,
  AttachAction,
  BringUp,
  CaseHeader,
  CdAction,
  Cmd,
  FuzzCase,
  IovaRef,
  LeafParams,
  MapAction,
  NestedAction,
  SpaceParams,
  SteAction,
  TlbiAction,
} from "./program.ts";
import { WRITTEN_REGISTERS } from "./program.ts";
import { type CallbackName, CALLBACKS } from "../../src/scenario/scenario.ts";

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
  { weight: 6, arbitrary: fc.record({ at: fc.constant("next" as const), off: small(64, 0x4000) }) },
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

/** Where a device DMAs: mostly pages it has mapped, or on from its last access; anywhere sometimes. */
const dmaIova: fc.Arbitrary<IovaRef> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ at: fc.constant("mapped" as const), i: fc.nat(3), off: small(0, 0xfff) }) },
  { weight: 1, arbitrary: fc.record({ at: fc.constant("next" as const), off: small(64, 0x4000) }) },
  { weight: 2, arbitrary: iovaRef },
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
  smmuen: fc.oneof({ weight: 19, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  priq: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  priqLog2: small(2, 31),
  priqLo: fc.boolean(),
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

/** What a driver maps for its device: pages and blocks of the first megabytes mostly, anything sometimes. */
const mapIova: fc.Arbitrary<IovaRef> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ at: fc.constant("page" as const), i: fc.nat(15), off: fc.constant(0) }) },
  { weight: 1, arbitrary: fc.record({ at: fc.constant("block" as const), i: fc.nat(7) }) },
  { weight: 1, arbitrary: iovaRef },
);

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
      iova: mapIova,
      level: fc.oneof({ weight: 6, arbitrary: fc.constant(3) }, { weight: 2, arbitrary: fc.nat(3) }),
      oa: usually(addrRef, 2),
      leaf,
    }),
    { minLength: 1, maxLength: 4 },
  ),
  flags: fc.oneof(
    { weight: 4, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.nat(255) },
    { weight: 1, arbitrary: fc.constantFrom(1 << 8, 1 << 9, 3 << 8) }, // stalling at stage 1, stage 2 or both
    { weight: 1, arbitrary: fc.nat(1023) },
  ),
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
/** A CMD_SYNC: any, or one that signals on the wired line (CS = SIG_IRQ, no MSI address), as a driver without MSIs
 * issues it, whose interrupt handler may publish more commands. */
const sync: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant(0x46),
      sid: fc.constant(0),
      ssid: fc.constant(0),
      addr: fc.constant({ at: "page" as const, i: 0, off: 0 }),
      msi: addrRef,
      vals,
      flips: flips(128),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constant<Cmd>({
      op: 0x46,
      sid: 0,
      ssid: 0,
      addr: { at: "page" as const, i: 0, off: 0 },
      msi: { at: "wild" as const, v: 0 },
      vals: [1], // CS = SIG_IRQ (and MSIData 1, unused)
      flips: [],
    }),
  },
);

const dmaAction: fc.Arbitrary<Action & { kind: "dma" }> = fc.record({
  kind: fc.constant("dma" as const),
  sid: sidIndex,
  ssid: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: small(3, 20) }, {
    weight: 1,
    arbitrary: fc.constant(-1),
  }),
  iova: dmaIova,
  write: fc.boolean(),
  priv: fc.boolean(),
  exec: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  view: fc.boolean(),
  len: fc.oneof({ weight: 8, arbitrary: fc.nat(64) }, { weight: 2, arbitrary: fc.nat(0x4000) }, {
    weight: 1,
    arbitrary: fc.nat(0x40000), // a sweep over many pages: TLB eviction
  }),
  repeat: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat(4) }),
  stride: fc.constantFrom(0, 8, 64, 0x1000, 0x2000, 0x20_0000),
  mixed: fc.boolean(),
});

const commandsAction: fc.Arbitrary<Action & { kind: "commands" }> = fc.record({
  kind: fc.constant("commands" as const),
  cmds: fc.array(cmd, { maxLength: 6 }),
  sync: usually(sync, 2),
  publish: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, {
    weight: 1,
    arbitrary: fc.integer({ min: -3, max: 600 }),
  }),
});

const priAction: fc.Arbitrary<Action & { kind: "pri" }> = fc.record({
  kind: fc.constant("pri" as const),
  sid: sidIndex,
  ssid: sometimes(small(3, 20), 2),
  page: dmaIova,
  perms: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1, 3) }, { weight: 1, arbitrary: fc.nat(15) }),
  group: small(3, 511),
  last: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

const atsAction: fc.Arbitrary<Action & { kind: "ats" }> = fc.record({
  kind: fc.constant("ats" as const),
  sid: sidIndex,
  ssid: sometimes(small(3, 20), 3),
  iova: dmaIova,
  at: addrRef,
  write: fc.boolean(),
  exec: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  priv: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  translated: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

const resumeAction: fc.Arbitrary<Action & { kind: "resume" }> = fc.record({
  kind: fc.constant("resume" as const),
  sid: sidIndex,
  stag: small(1, 0xffff),
  retry: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  term: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  fix: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

const msiAction: fc.Arbitrary<Action & { kind: "msi" }> = fc.record({
  kind: fc.constant("msi" as const),
  sid: sidIndex,
  at: addrRef,
  data: fc.nat(0xffff_ffff),
});

/** What an interrupt handler does inside its callback: commands and their completion, event consumption, error
 * acknowledgement, polls, DMA. */
const nestedAction: fc.Arbitrary<NestedAction> = fc.oneof(
  { weight: 4, arbitrary: commandsAction },
  { weight: 2, arbitrary: tlbi },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom(
        "consumeEvents" as const,
        "ackErrors" as const,
        "pollCons" as const,
        "invalidateAll" as const,
      ),
    }),
  },
  { weight: 2, arbitrary: dmaAction },
  { weight: 1, arbitrary: msiAction },
);

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 1, arbitrary: bringUp.map((p) => ({ kind: "bringUp" as const, p })) },
  { weight: 4, arbitrary: ste },
  { weight: 4, arbitrary: cd },
  { weight: 8, arbitrary: map },
  { weight: 10, arbitrary: attach },
  { weight: 3, arbitrary: tlbi },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reset" as const),
      reinit: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  { weight: 12, arbitrary: dmaAction },
  { weight: 6, arbitrary: commandsAction },
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
  { weight: 1, arbitrary: msiAction },
  { weight: 3, arbitrary: priAction },
  { weight: 3, arbitrary: atsAction },
  { weight: 3, arbitrary: resumeAction },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("regWrite" as const),
      // The registers a driver writes most, and now and then any register of the frame (REGISTERS, after them).
      reg: fc.oneof({ weight: 6, arbitrary: fc.nat(WRITTEN_REGISTERS.length - 1) }, {
        weight: 1,
        arbitrary: fc.integer({ min: WRITTEN_REGISTERS.length, max: WRITTEN_REGISTERS.length + 255 }),
      }),
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
    arbitrary: fc.record({
      kind: fc.constant("mmioRead" as const),
      // A register's offset (an index into REGISTERS, plus 4 for the upper half of a 64-bit one), or any offset.
      offset: fc.oneof(fc.nat(0x1ff).map((i) => -1 - i), fc.nat(0x1ffff)),
      wide: fc.boolean(),
    }),
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
        "invalidateAll" as const,
        "consumePageRequests" as const,
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("saveRestore" as const), fresh: fc.boolean() }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("reenter" as const),
      // The callbacks that fire most, and where re-entry is most delicate, first: event queue and CMD_SYNC interrupts
      // and observers of CMD_SYNC (in the middle of a batch); any of them sometimes.
      from: fc.oneof(
        {
          weight: 3,
          arbitrary: fc.constantFrom(
            ...["eventq", "cmdqSync", "synced", "invalidated"].map((n) => CALLBACKS.indexOf(n as CallbackName)),
          ),
        },
        { weight: 1, arbitrary: fc.nat(CALLBACKS.length - 1) },
      ),
      then: fc.array(nestedAction, { minLength: 1, maxLength: 2 }),
    }),
  },
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
  fc.record({
    stalls: fc.constantFrom(
      "stall-and-terminate" as const,
      "terminate-only" as const,
      "stall-forced" as const,
    ),
  }),
  fc.record({ stallMax: fc.integer({ min: 1, max: 3 }) }), // few STAGs: stall overflow
);
/** The default features with a few changed. */
const features: fc.Arbitrary<SmmuFeatures> = fc.array(tweak, { minLength: 1, maxLength: 4 })
  .map((ts) => Object.assign({}, ...ts));

const space: fc.Arbitrary<SpaceParams> = fc.record({
  granule: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat(2) }),
  // 48 bits usually; any size a 4K or 16K granule takes (25 to 48); now and then the 52 bits only 64K (or VAX) takes.
  inputBits: fc.oneof(
    { weight: 6, arbitrary: fc.constant(48) },
    { weight: 4, arbitrary: fc.integer({ min: 25, max: 48 }) },
    { weight: 1, arbitrary: fc.integer({ min: 49, max: 52 }) },
  ),
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

/** A whole case: nearly always the driver's bring-up, usually an attach, then up to `maxActions` actions. */
export function fuzzCase(maxActions = 48): fc.Arbitrary<FuzzCase> {
  return fc.record({
    header,
    // Usually the driver brings the device up and attaches a device first; then anything.
    actions: fc.tuple(
      usually(bringUp.map((p) => ({ kind: "bringUp" as const, p })), 24),
      usually(attach, 2),
      fc.array(action, { maxLength: maxActions, size: "max" }),
    ).map(([up, first, rest]) => [up, first, ...rest].filter((a): a is Action => a !== null)),
  });
}
