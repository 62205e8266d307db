/**
 * Guest memory errors are architected responses, never exceptions (Arm IHI 0070).
 *
 * A host memory that fails an access, by returning an abort, by throwing, or by returning a malformed value (not a
 * uint32 from read32, not `true` from the others), is an external abort of that one access: the device wraps any
 * GuestMemory that is not its own SparseMemory/FlatMemory in a guard. One table says, for each structure the SMMU
 * reads or writes, what the guest sees when that structure sits in faulty memory:
 *
 * - STE or L1STD fetch: F_STE_FETCH (IHI 0070 7.3.4); CD or L1CD fetch: F_CD_FETCH (7.3.10); both with FetchAddr;
 * - a translation table descriptor, read or HTTU write-back: F_WALK_EABT (IHI 0070 7.3.12);
 * - a command fetch: CMDQ_CONS.ERR = CERROR_ABT, GERROR.CMDQ_ERR, CONS at the failed command (IHI 0070 4.1.3);
 * - an event record write: GERROR.EVENTQ_ABT_ERR, the record lost, PROD unchanged (IHI 0070 6.3.19);
 * - an MSI write (GERROR, event queue, CMD_SYNC): GERROR.MSI_*_ABT_ERR (IHI 0070 3.18, 6.3.19);
 * - the DMA data itself: an abort to the device, with no SMMU event.
 *
 * Every case runs in each failure mode of the host memory ("garbage" once per malformed value), checks that the
 * calls simply return and that the faulty range was really accessed, then heals memory and checks that the device
 * works again once the guest has acknowledged the error or retried.
 */
import assert from "node:assert/strict";
import { ABORT, guest, Smmu, SparseMemory, spec } from "../mod.ts";
import type { DmaResult, GuestMemory, TranslationResult } from "../mod.ts";

/** How the host memory fails an access in a faulty range. */
type Mode = "abort" | "throw" | "garbage";
const MODES: readonly Mode[] = ["abort", "throw", "garbage"];

/** A faulty range `[start, end)`, failing reads, writes or both. */
interface FaultRange {
  start: number;
  end: number;
  on: "read" | "write" | "both";
}

/** What a broken host memory returns instead of a word: nothing here is a uint32. */
const BAD_WORDS: readonly unknown[] = [NaN, -5, 2 ** 40, undefined, 0.5, "7", null];
/** What it returns instead of `true`. */
const BAD_FLAGS: readonly unknown[] = [undefined, 1, "true", null, {}, 0, NaN];

/** Guest RAM (a SparseMemory) with ranges that fail as `mode` says; counts the failed accesses. */
class FaultyMemory implements GuestMemory {
  /** The healthy backing store: what the guest driver and the table builders use. */
  readonly ram = new SparseMemory();
  faults: FaultRange[] = [];
  /** Accesses that met a faulty range. */
  hits = 0;
  #junk: number;

  /** In "garbage" mode the malformed values are taken in turn, starting with those at index `seed`. */
  constructor(readonly mode: Mode, seed = 0) {
    this.#junk = seed;
  }

  /** Whether this access meets a faulty range (and counts it). */
  #faulty(addr: number, len: number, write: boolean): boolean {
    for (const f of this.faults) {
      if (addr < f.end && addr + len > f.start && (f.on === "both" || (f.on === "write") === write)) {
        this.hits++;
        return true;
      }
    }
    return false;
  }

  #fail<T>(abort: T, garbage: readonly unknown[]): T {
    if (this.mode === "throw") throw new Error("host memory failure");
    if (this.mode === "abort") return abort;
    return garbage[this.#junk++ % garbage.length] as T;
  }

  read32(addr: number): number {
    return this.#faulty(addr, 4, false) ? this.#fail(ABORT, BAD_WORDS) : this.ram.read32(addr);
  }
  write32(addr: number, value: number): boolean {
    return this.#faulty(addr, 4, true) ? this.#fail(false, BAD_FLAGS) : this.ram.write32(addr, value);
  }
  read(addr: number, dst: Uint8Array): boolean {
    if (!this.#faulty(addr, dst.length, false)) return this.ram.read(addr, dst);
    dst.fill(0xee); // whatever the caller was given must not be trusted
    return this.#fail(false, BAD_FLAGS);
  }
  write(addr: number, src: Uint8Array): boolean {
    return this.#faulty(addr, src.length, true) ? this.#fail(false, BAD_FLAGS) : this.ram.write(addr, src);
  }
}

/** IRQ_CTRL with the GERROR and event queue interrupts enabled (wired unless an MSI address is programmed). */
const IRQS = (() => {
  const w = new Uint32Array(1);
  spec.IRQ_CTRL.GERROR_IRQEN.set(w, 1);
  spec.IRQ_CTRL.EVENTQ_IRQEN.set(w, 1);
  return w[0];
})();
/** An MSI doorbell (an interrupt controller's translation register) and the data written to it. */
const DOORBELL = 0x0808_0040;
const MSI_DATA = 0x2a;
/** A stage-1 CD: 4 KiB granule, 48-bit VA, TTB0 only. */
const CD_4K_48: guest.Values = {
  ...{ V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, TG0: spec.CD_TG0.GRAN_4K, IPS: spec.CD_IPS.BITS_48 },
  ASID: 1,
};

/** A device brought up by the Linux-like driver over a FaultyMemory, with every interrupt it signals recorded. */
interface Bench {
  mem: FaultyMemory;
  ram: SparseMemory;
  smmu: Smmu;
  driver: guest.Driver;
  alloc: guest.Allocator;
  wired: { eventq: number; gerror: number; cmdqSync: number };
  msis: [number, number][];
}

function bringUp(mode: Mode, seed: number): Bench {
  const mem = new FaultyMemory(mode, seed);
  const wired = { eventq: 0, gerror: 0, cmdqSync: 0 };
  const msis: [number, number][] = [];
  const smmu = new Smmu({
    memory: mem,
    interrupts: { eventq: () => wired.eventq++, gerror: () => wired.gerror++, cmdqSync: () => wired.cmdqSync++ },
    onMsi: (addr, data) => msis.push([addr, data]),
  });
  const driver = new guest.Driver(smmu, mem.ram); // the guest's own accesses never fault
  driver.probe();
  driver.reset({ cr2: guest.LINUX_CR2, irqs: IRQS });
  return { mem, ram: mem.ram, smmu, driver, alloc: new guest.Allocator(0x5000_0000), wired, msis };
}

/** The names of the active GERROR bits (GERROR xor GERRORN), in bit order. */
function activeErrors(b: Bench): string[] {
  const w = Uint32Array.of(b.driver.activeErrors());
  return spec.GERROR_LAYOUT.fields.filter((f) => f.get(w) === 1).map((f) => f.name);
}

/** A 32-bit register as a word for the spec accessors. */
const reg = (b: Bench, offset: number) => Uint32Array.of(b.driver.read(offset));

/** The one event record in the queue, of type `type`. */
function onlyEvent(b: Bench, type: number): Uint32Array {
  const events = b.driver.events();
  assert.equal(events.length, 1, "one event record");
  // Every record has Type in the same place; reading it through any layout's accessor names it.
  assert.equal(spec.EVT_TYPE_NAMES[spec.EVT_F_STE_FETCH.Type.get(events[0])], spec.EVT_TYPE_NAMES[type], "Type");
  return events[0];
}

/** A stage-1 stream `sid` with its page tables and CD (extra CD fields in `cd`), invalidated. */
function stage1(b: Bench, sid: number, cd: guest.Values = {}) {
  const tables = new guest.PageTable(b.ram, b.alloc, 12, 48, 0);
  const cdAddr = b.alloc.alloc(64, 64);
  guest.cdAt(b.ram, cdAddr, { ...CD_4K_48, TTB0: tables.root, ...cd });
  b.driver.writeSte(sid, spec.STE_CONFIG.S1_TRANS, (ste) => spec.STE.S1ContextPtr.setAddress(ste, cdAddr));
  b.driver.invalidateSte(sid);
  return { tables, cd: cdAddr };
}

/** Programs an interrupt's MSI address and data (`cfg0`, `cfg1`), with IRQ_CTRL off meanwhile as they require. */
function doorbell(b: Bench, cfg0: number, cfg1: number): void {
  b.driver.write(spec.REG.IRQ_CTRL, 0);
  const w = new Uint32Array(2);
  spec.GERROR_IRQ_CFG0.ADDR.setAddress(w, DOORBELL);
  b.driver.write64(cfg0, w[0], w[1]);
  b.driver.write(cfg1, MSI_DATA);
  b.driver.write(spec.REG.IRQ_CTRL, IRQS);
}

/** The command queue slot and event queue slot the next entry goes to. */
function cmdqSlot(b: Bench): number {
  const prod = spec.CMDQ_PROD.WR.get(reg(b, spec.REG.CMDQ_PROD));
  return b.driver.layout.cmdq + (prod % 2 ** b.driver.cmdqLog2) * 16;
}
function eventqSlot(b: Bench): number {
  const prod = spec.EVENTQ_PROD.WR.get(reg(b, spec.REG.EVENTQ_PROD));
  return b.driver.layout.eventq + (prod % 2 ** b.driver.eventqLog2) * 32;
}

/** A command the Non-secure queue rejects (TLBI_EL3_* is Secure-only: CERROR_ILL), to raise a global error. */
const ILLEGAL = guest.command(spec.OPCODE.TLBI_EL3_ALL);
/** StreamID 99 has an all-zero (invalid) STE: any transaction records C_BAD_STE. */
const BAD_STE_SID = 99;

/** One case, built with healthy memory: where memory then fails, what meets it, and what the guest must see. */
interface Scenario {
  faults: FaultRange[];
  /** The transaction or guest action that meets the faulty memory. */
  act(): void;
  /** The architected response. */
  check(): void;
  /** With memory healed: what the guest does next (acknowledge, retry), and the device working again. */
  recover?(): void;
}

interface Case {
  /** What lives in the faulty range. */
  what: string;
  /** The architected response. */
  response: string;
  /** Set where the emulator deviates from the architecture (see the report). */
  ignore?: boolean;
  arrange(b: Bench): Scenario;
}

const range = (start: number, bytes: number, on: FaultRange["on"] = "both"): FaultRange => ({
  start,
  end: start + bytes,
  on,
});

const CASES: Case[] = [
  {
    what: "the STE (linear stream table)",
    response: "F_STE_FETCH with FetchAddr = the STE",
    arrange(b) {
      b.driver.writeSte(8, spec.STE_CONFIG.BYPASS);
      const ste = b.driver.steAddress(8);
      let r: TranslationResult | undefined;
      return {
        faults: [range(ste, 64)],
        act: () => (r = b.smmu.translate(8, 0x1000, {})),
        check() {
          assert.deepEqual(r, { ok: false, fault: "F_STE_FETCH", event: true });
          const e = onlyEvent(b, spec.EVENT_TYPE.F_STE_FETCH);
          assert.equal(spec.EVT_F_STE_FETCH.StreamID.get(e), 8);
          assert.equal(spec.EVT_F_STE_FETCH.FetchAddr.getAddress(e), ste);
          assert.deepEqual(activeErrors(b), []);
        },
        recover() {
          b.driver.invalidateSte(8);
          assert.deepEqual(b.smmu.translate(8, 0x1000, {}), { ok: true, pa: 0x1000 });
        },
      };
    },
  },
  {
    what: "the L1 stream table descriptor (2-level stream table)",
    response: "F_STE_FETCH with FetchAddr = the L1STD",
    arrange(b) {
      // Move to a 2-level stream table (SPLIT 6, 8 StreamID bits): SMMUEN off while STRTAB_BASE* change.
      const d = b.driver;
      const cr0 = Uint32Array.of(d.read(spec.REG.CR0ACK));
      spec.CR0.SMMUEN.set(cr0, 0);
      d.enable(cr0[0]);
      const split = spec.STRTAB_BASE_CFG_SPLIT.L2_4KB; // 64 STEs per level-2 table
      const sid = 0x48; // L1 index 1, L2 index 8
      const l1 = b.alloc.alloc(4 * 8, 64);
      const l2 = b.alloc.alloc(64 * 2 ** split, 4096);
      const l1std = l1 + 8 * Math.floor(sid / 2 ** split);
      const full = { Span: split + 1, L2Ptr: l2 }; // Span: 2^(Span-1) STEs, the whole level-2 table
      guest.writeStruct(b.ram, l1std, spec.L1STD as unknown as guest.Fields, 2, full);
      guest.steAt(b.ram, l2 + (sid % 2 ** split) * 64, { V: 1, Config: spec.STE_CONFIG.BYPASS });
      const base = new Uint32Array(2);
      spec.STRTAB_BASE.ADDR.setAddress(base, l1);
      spec.STRTAB_BASE.RA.set(base, 1);
      d.write64(spec.REG.STRTAB_BASE, base[0], base[1]);
      const cfg = new Uint32Array(1);
      spec.STRTAB_BASE_CFG.FMT.set(cfg, spec.STRTAB_BASE_CFG_FMT.TWO_LEVEL);
      spec.STRTAB_BASE_CFG.SPLIT.set(cfg, split);
      spec.STRTAB_BASE_CFG.LOG2SIZE.set(cfg, 8);
      d.write(spec.REG.STRTAB_BASE_CFG, cfg[0]);
      spec.CR0.SMMUEN.set(cr0, 1);
      d.enable(cr0[0]);
      assert.ok(d.invalidateAll());
      let r: TranslationResult | undefined;
      return {
        faults: [range(l1std, 8)],
        act: () => (r = b.smmu.translate(sid, 0x1000, { write: true })),
        check() {
          assert.deepEqual(r, { ok: false, fault: "F_STE_FETCH", event: true });
          const e = onlyEvent(b, spec.EVENT_TYPE.F_STE_FETCH);
          assert.equal(spec.EVT_F_STE_FETCH.StreamID.get(e), sid);
          assert.equal(spec.EVT_F_STE_FETCH.FetchAddr.getAddress(e), l1std);
        },
        recover() {
          d.invalidateSte(sid);
          assert.deepEqual(b.smmu.translate(sid, 0x1000, { write: true }), { ok: true, pa: 0x1000 });
        },
      };
    },
  },
  {
    what: "the CD (linear, one CD)",
    response: "F_CD_FETCH with FetchAddr = the CD",
    arrange(b) {
      const { tables, cd } = stage1(b, 8);
      tables.map(0x1000, 0x8000_0000);
      let r: TranslationResult | undefined;
      return {
        faults: [range(cd, 64)],
        act: () => (r = b.smmu.translate(8, 0x1010, {})),
        check() {
          assert.deepEqual(r, { ok: false, fault: "F_CD_FETCH", event: true });
          const e = onlyEvent(b, spec.EVENT_TYPE.F_CD_FETCH);
          assert.equal(spec.EVT_F_CD_FETCH.StreamID.get(e), 8);
          assert.equal(spec.EVT_F_CD_FETCH.SSV.get(e), 0);
          assert.equal(spec.EVT_F_CD_FETCH.FetchAddr.getAddress(e), cd);
          assert.deepEqual(activeErrors(b), []);
        },
        recover() {
          b.driver.invalidateSte(8);
          assert.deepEqual(b.smmu.translate(8, 0x1010, {}), { ok: true, pa: 0x8000_0010 });
        },
      };
    },
  },
  {
    what: "the L1CD of a 2-level CD table",
    response: "F_CD_FETCH with FetchAddr = the L1CD",
    arrange(b) {
      const ssid = 0x45; // L1 index 1, L2 index 5
      const split = 6; // S1Fmt TWO_LEVEL_4K: 64 CDs per level-2 table
      const table = guest.cdTable(b.ram, b.alloc, 8, split);
      const tables = new guest.PageTable(b.ram, b.alloc, 12, 48, 0);
      tables.map(0x1000, 0x8000_0000);
      guest.cdAt(b.ram, table.cd(ssid), { ...CD_4K_48, TTB0: tables.root });
      b.driver.writeSte(8, spec.STE_CONFIG.S1_TRANS, (ste) => {
        spec.STE.S1ContextPtr.setAddress(ste, table.ptr);
        spec.STE.S1CDMax.set(ste, 8);
        spec.STE.S1Fmt.set(ste, spec.STE_S1FMT.TWO_LEVEL_4K);
      });
      b.driver.invalidateSte(8);
      const l1cd = table.ptr + 8 * Math.floor(ssid / 2 ** split);
      let r: TranslationResult | undefined;
      return {
        faults: [range(l1cd, 8)],
        act: () => (r = b.smmu.translate(8, 0x1000, { ssid })),
        check() {
          assert.deepEqual(r, { ok: false, fault: "F_CD_FETCH", event: true });
          const e = onlyEvent(b, spec.EVENT_TYPE.F_CD_FETCH);
          assert.equal(spec.EVT_F_CD_FETCH.SSV.get(e), 1);
          assert.equal(spec.EVT_F_CD_FETCH.SubstreamID.get(e), ssid);
          assert.equal(spec.EVT_F_CD_FETCH.FetchAddr.getAddress(e), l1cd);
        },
        recover() {
          b.driver.invalidateCd(8, ssid);
          assert.deepEqual(b.smmu.translate(8, 0x1000, { ssid }), { ok: true, pa: 0x8000_0000 });
        },
      };
    },
  },
  {
    what: "a level-2 stage-1 descriptor (4 KiB granule, 48-bit VA)",
    response: "F_WALK_EABT with FetchAddr = the descriptor, CLASS TT",
    arrange(b) {
      const iova = 0x40_1000;
      const { tables } = stage1(b, 8);
      tables.map(iova, 0x8000_0000);
      const desc = tables.descAddr(iova, 2);
      let r: TranslationResult | undefined;
      return {
        faults: [range(desc, 8)],
        act: () => (r = b.smmu.translate(8, iova + 0x20, { write: true })),
        check() {
          assert.deepEqual(r, { ok: false, fault: "F_WALK_EABT", event: true });
          const e = onlyEvent(b, spec.EVENT_TYPE.F_WALK_EABT);
          assert.equal(spec.EVT_F_WALK_EABT.StreamID.get(e), 8);
          assert.equal(spec.EVT_F_WALK_EABT.InputAddr_LO.get(e), iova + 0x20);
          assert.equal(spec.EVT_F_WALK_EABT.RnW.get(e), 0);
          assert.equal(spec.EVT_F_WALK_EABT.S2.get(e), 0);
          assert.equal(spec.EVT_F_WALK_EABT.CLASS.get(e), spec.EVT_CLASS.TT);
          assert.equal(spec.EVT_F_WALK_EABT.FetchAddr.getAddress(e), desc);
          assert.deepEqual(activeErrors(b), []);
        },
        recover() {
          assert.deepEqual(b.smmu.translate(8, iova + 0x20, { write: true }), { ok: true, pa: 0x8000_0020 });
        },
      };
    },
  },
  {
    what: "the leaf descriptor, written by HTTU (CD.HA = 1, AF = 0; writes fail)",
    response: "F_WALK_EABT on the Access flag update, AF still 0",
    arrange(b) {
      const iova = 0x1000;
      const { tables } = stage1(b, 8, { HA: 1 });
      const leaf = tables.map(iova, 0x8000_0000, 3, { AF: 0 });
      let r: TranslationResult | undefined;
      return {
        faults: [range(leaf, 8, "write")],
        act: () => (r = b.smmu.translate(8, iova, {})),
        check() {
          assert.deepEqual(r, { ok: false, fault: "F_WALK_EABT", event: true });
          const e = onlyEvent(b, spec.EVENT_TYPE.F_WALK_EABT);
          assert.equal(spec.EVT_F_WALK_EABT.InputAddr_LO.get(e), iova);
          assert.equal(spec.EVT_F_WALK_EABT.RnW.get(e), 1);
          assert.equal(spec.EVT_F_WALK_EABT.CLASS.get(e), spec.EVT_CLASS.TT);
          assert.equal(spec.EVT_F_WALK_EABT.FetchAddr.getAddress(e), leaf);
          assert.equal(guest.s1Leaf(tables.leaf(iova)).af, 0, "the descriptor is unchanged");
        },
        recover() {
          assert.deepEqual(b.smmu.translate(8, iova, {}), { ok: true, pa: 0x8000_0000 });
          assert.equal(guest.s1Leaf(tables.leaf(iova)).af, 1, "the Access flag written back");
        },
      };
    },
  },
  {
    what: "a command queue slot (the command fetch)",
    response: "CMDQ_CONS.ERR = CERROR_ABT, GERROR.CMDQ_ERR, CONS at the failed command",
    arrange(b) {
      const slot = cmdqSlot(b);
      const cons = b.driver.consIndex();
      let synced: boolean | undefined;
      return {
        faults: [range(slot, 16, "read")],
        act: () => (synced = b.driver.sync()),
        check() {
          assert.equal(synced, false, "the CMD_SYNC did not complete");
          assert.equal(spec.CMDQ_CONS.ERR.get(reg(b, spec.REG.CMDQ_CONS)), spec.CMDQ_CONS_ERR.CERROR_ABT);
          assert.equal(b.driver.consIndex(), cons, "CONS stays at the failed command");
          assert.deepEqual(activeErrors(b), ["CMDQ_ERR"]);
          assert.equal(b.wired.gerror, 1, "the GERROR interrupt");
        },
        recover() {
          // Acknowledging CMDQ_ERR lets the queue resume at CONS: the same command, now readable (IHI 0070 4.1.3).
          b.driver.ackErrors();
          assert.deepEqual(activeErrors(b), []);
          assert.equal(b.driver.consIndex(), cons + 1, "the CMD_SYNC ran");
          assert.ok(b.driver.sync());
        },
      };
    },
  },
  {
    what: "the event queue slot the next record goes to",
    response: "GERROR.EVENTQ_ABT_ERR, the record lost, EVENTQ_PROD not advanced",
    arrange(b) {
      const slot = eventqSlot(b);
      const prod = b.driver.read(spec.REG.EVENTQ_PROD);
      let r: TranslationResult | undefined;
      return {
        faults: [range(slot, 32, "write")],
        act: () => (r = b.smmu.translate(BAD_STE_SID, 0x1000, {})),
        check() {
          assert.deepEqual(r, { ok: false, fault: "C_BAD_STE", event: true });
          assert.deepEqual(activeErrors(b), ["EVENTQ_ABT_ERR"]);
          assert.equal(b.driver.read(spec.REG.EVENTQ_PROD), prod, "PROD not advanced");
          assert.equal(b.smmu.stats.eventsLost, 1);
          assert.equal(b.wired.eventq, 0, "no event queue interrupt for a lost record");
          assert.deepEqual(b.driver.events(), []);
        },
        recover() {
          b.driver.ackErrors();
          b.smmu.translate(BAD_STE_SID, 0x2000, {});
          const e = onlyEvent(b, spec.EVENT_TYPE.C_BAD_STE);
          assert.equal(spec.EVT_C_BAD_STE.StreamID.get(e), BAD_STE_SID);
          assert.deepEqual(activeErrors(b), []);
        },
      };
    },
  },
  {
    what: "the GERROR MSI doorbell (a CMDQ error to signal)",
    response: "GERROR.MSI_GERROR_ABT_ERR beside CMDQ_ERR",
    arrange(b) {
      doorbell(b, spec.REG.GERROR_IRQ_CFG0, spec.REG.GERROR_IRQ_CFG1);
      return {
        faults: [range(DOORBELL, 4, "write")],
        act: () => b.driver.issue(ILLEGAL),
        check() {
          assert.equal(spec.CMDQ_CONS.ERR.get(reg(b, spec.REG.CMDQ_CONS)), spec.CMDQ_CONS_ERR.CERROR_ILL);
          assert.deepEqual(activeErrors(b), ["CMDQ_ERR", "MSI_GERROR_ABT_ERR"]);
          assert.deepEqual(b.msis, [], "no MSI delivered");
          assert.equal(b.wired.gerror, 1, "the wired output pulses whatever the MSI does (IHI 0070 3.18.2)");
        },
        recover() {
          // Linux's recovery (arm_smmu_cmdq_skip_err): replace the failed command by a CMD_SYNC, acknowledge.
          const at = b.driver.layout.cmdq + (b.driver.consIndex() % 2 ** b.driver.cmdqLog2) * 16;
          guest.writeStruct(b.ram, at, spec.CMD_SYNC as unknown as guest.Fields, 4, { Opcode: spec.OPCODE.SYNC });
          b.driver.ackErrors();
          assert.ok(b.driver.sync());
          b.driver.issue(ILLEGAL);
          assert.deepEqual(activeErrors(b), ["CMDQ_ERR"]);
          assert.deepEqual(b.msis, [[DOORBELL, MSI_DATA]], "the next global error is signalled by MSI");
          assert.equal(b.ram.read32(DOORBELL), MSI_DATA);
        },
      };
    },
  },
  {
    what: "the event queue MSI doorbell (an event to signal)",
    response: "GERROR.MSI_EVENTQ_ABT_ERR, the record itself written",
    arrange(b) {
      doorbell(b, spec.REG.EVENTQ_IRQ_CFG0, spec.REG.EVENTQ_IRQ_CFG1);
      let r: TranslationResult | undefined;
      return {
        faults: [range(DOORBELL, 4, "write")],
        act: () => (r = b.smmu.translate(BAD_STE_SID, 0x1000, {})),
        check() {
          assert.deepEqual(r, { ok: false, fault: "C_BAD_STE", event: true });
          assert.deepEqual(activeErrors(b), ["MSI_EVENTQ_ABT_ERR"]);
          assert.deepEqual(b.msis, []);
          assert.equal(b.wired.eventq, 1, "the wired output pulses whatever the MSI does (IHI 0070 3.18.2)");
          assert.equal(b.wired.gerror, 1, "the GERROR interrupt (wired)");
          onlyEvent(b, spec.EVENT_TYPE.C_BAD_STE);
        },
        recover() {
          b.driver.ackErrors();
          b.smmu.translate(BAD_STE_SID, 0x2000, {});
          onlyEvent(b, spec.EVENT_TYPE.C_BAD_STE);
          assert.deepEqual(b.msis, [[DOORBELL, MSI_DATA]]);
          assert.deepEqual(activeErrors(b), []);
        },
      };
    },
  },
  {
    what: "a CMD_SYNC's MSI address (CS = SIG_IRQ)",
    response: "GERROR.MSI_CMDQ_ABT_ERR, no command error",
    arrange(b) {
      const msiSync = (w: Uint32Array) => {
        spec.CMD_SYNC.CS.set(w, spec.CMD_SYNC_CS.SIG_IRQ);
        spec.CMD_SYNC.MSIAddress.setAddress(w, DOORBELL);
        spec.CMD_SYNC.MSIData.set(w, MSI_DATA);
      };
      let synced: boolean | undefined;
      return {
        faults: [range(DOORBELL, 4, "write")],
        act: () => (synced = b.driver.sync(msiSync)),
        check() {
          assert.equal(synced, true, "the CMD_SYNC completed: its MSI aborting is no command error");
          assert.deepEqual(activeErrors(b), ["MSI_CMDQ_ABT_ERR"]);
          assert.equal(spec.CMDQ_CONS.ERR.get(reg(b, spec.REG.CMDQ_CONS)), spec.CMDQ_CONS_ERR.CERROR_NONE);
          assert.deepEqual(b.msis, []);
          assert.equal(b.wired.cmdqSync, 1, "IHI 0070 4.7.3: the wired output regardless of MSIAddress");
        },
        recover() {
          b.driver.ackErrors();
          assert.ok(b.driver.sync(msiSync));
          assert.deepEqual(b.msis, [[DOORBELL, MSI_DATA]]);
          assert.deepEqual(activeErrors(b), []);
        },
      };
    },
  },
  {
    what: "the DMA data of a bypass stream (a device write)",
    response: "an abort to the device (DmaResult fault type 0), no event",
    arrange(b) {
      b.driver.writeSte(8, spec.STE_CONFIG.BYPASS);
      b.driver.invalidateSte(8);
      const dev = b.smmu.dmaView(8);
      const data = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
      let r: DmaResult | undefined;
      return {
        faults: [range(0x9000_0000, 0x1000)],
        act: () => (r = dev.write(0x9000_0100, data)),
        check() {
          assert.ok(r !== undefined && !r.ok);
          assert.deepEqual([r.done, r.iova, r.fault.type, r.fault.sid], [0, 0x9000_0100, 0, 8]);
          assert.deepEqual(b.driver.events(), []);
          assert.deepEqual(activeErrors(b), []);
          assert.equal(b.ram.read32(0x9000_0100), 0, "nothing written");
        },
        recover() {
          assert.deepEqual(dev.write(0x9000_0100, data), { ok: true });
          const back = new Uint8Array(8);
          b.ram.read(0x9000_0100, back);
          assert.deepEqual(back, data);
        },
      };
    },
  },
  {
    what: "the DMA data of a stage-1 mapping (a device read)",
    response: "an abort to the device (DmaResult fault type 0), no event",
    arrange(b) {
      const { tables } = stage1(b, 8);
      tables.map(0x1000, 0x9000_0000);
      b.ram.write(0x9000_0010, Uint8Array.of(9, 8, 7, 6));
      const dev = b.smmu.dmaView(8);
      const buf = new Uint8Array(4);
      let r: DmaResult | undefined;
      return {
        faults: [range(0x9000_0000, 0x1000, "read")],
        act: () => (r = dev.read(0x1010, buf)),
        check() {
          assert.ok(r !== undefined && !r.ok);
          assert.deepEqual([r.done, r.iova, r.fault.type], [0, 0x1010, 0]);
          assert.deepEqual(b.driver.events(), []);
          assert.deepEqual(activeErrors(b), []);
        },
        recover() {
          assert.deepEqual(dev.read(0x1010, buf), { ok: true });
          assert.deepEqual(buf, Uint8Array.of(9, 8, 7, 6));
        },
      };
    },
  },
];

/** One case in one mode: arrange with healthy memory, break it, act, check, heal, recover. */
function run(c: Case, mode: Mode, seed = 0): void {
  const b = bringUp(mode, seed);
  const s = c.arrange(b);
  assert.deepEqual(activeErrors(b), [], "a healthy start");
  b.mem.faults = s.faults;
  assert.doesNotThrow(() => s.act(), "no exception escapes the device");
  assert.ok(b.mem.hits > 0, "the faulty range was accessed");
  s.check();
  if (s.recover) {
    b.mem.faults = [];
    s.recover();
  }
}

const show = (
  v: unknown,
) => (typeof v === "string" || (typeof v === "object" && v !== null) ? JSON.stringify(v) : String(v));

for (const c of CASES) {
  for (const mode of MODES) {
    Deno.test({
      name: `memory fault (${mode}): ${c.what} → ${c.response}`,
      ignore: c.ignore ?? false,
      async fn(t) {
        if (mode !== "garbage") return run(c, mode);
        // Once per malformed value, so that each structure meets every one of them first.
        for (let seed = 0; seed < BAD_WORDS.length; seed++) {
          await t.step(`read32 → ${show(BAD_WORDS[seed])}, the others → ${show(BAD_FLAGS[seed])}`, () => {
            run(c, mode, seed);
          });
        }
      },
    });
  }
}
