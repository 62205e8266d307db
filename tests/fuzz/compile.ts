/**
 * Compiles a fuzz case (tests/fuzz/program.ts) into a scenario: the register accesses, guest memory writes, DMAs and
 * save/restore steps of a guest doing what the actions say. The compiler plays the guest driver: it keeps its own
 * idea of where its structures are (which hostile register writes may make wrong, as they would for a real driver),
 * resolves the places actions name, builds every structure through gen/ accessors (tests/fuzz/structures.ts) and the
 * guest-side table builders, and knows nothing of the device's state. The same case always compiles to the same
 * scenario.
 * @module
 */
import {
  CMD_CFGI_CD,
  CMD_CFGI_CD_ALL,
  CMD_CFGI_STE,
  CMD_CFGI_STE_RANGE,
  CMDQ_BASE,
  CR0,
  EVENTQ_BASE,
  GBPA,
  GERROR_IRQ_CFG0,
  GERROR_IRQ_CFG1,
  IDR0,
  IDR1,
  L1CD,
  L1STD,
  OPCODE,
  PRIQ_BASE,
  PRIQ_IRQ_CFG2,
  REG,
  REGISTERS,
  STRTAB_BASE,
  STRTAB_BASE_CFG,
  STRTAB_BASE_CFG_FMT,
  STRTAB_BASE_CFG_SPLIT,
  TT_S2AP,
} from "../../gen/mod.ts";
import type { Field } from "../../gen/mod.ts";
import type { IdRegisterSet } from "../../mod.ts";
import { command } from "../../src/guest/driver.ts";
import { Allocator, PageTable, type Values } from "../../src/guest/tables.ts";
import { CALLBACKS, type NestedStep, type Scenario, type Step } from "../../src/scenario/scenario.ts";
import { stage1StartLevel, stage2StartLevel } from "../../src/translation/regime.ts";
import { GuestWrites } from "./guest_writes.ts";
import {
  asidOf,
  CFGI_ALL_RANGE,
  HOLE_BASES,
  idRegisters,
  KIB64,
  MAP,
  MEMORY_SIZES,
  ORDINARY_CD,
  ORDINARY_STE,
  sidOf,
  slotFmt,
  SLOTS,
  ssidOf,
  TLBIS,
  TWO_52,
  vmidOf,
} from "./layout.ts";
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
  MapAction,
  NestedAction,
  SpaceParams,
  SteAction,
  TlbiAction,
} from "./program.ts";
import { WRITTEN_REGISTERS } from "./program.ts";
import {
  addressValue,
  cdWords,
  commandWords,
  fill,
  leafValues,
  namedCommand,
  type Space,
  steWords,
  tableDescriptor,
} from "./structures.ts";

const alignDown = (x: number, p: number) => x - (x % p);
const u64 = (v: number | bigint) => BigInt.asUintN(64, typeof v === "bigint" ? v : BigInt(v));

/** Puts `v` first in `list` (at most 16 kept). */
function recent(list: number[], v: number): void {
  const i = list.indexOf(v);
  if (i >= 0) list.splice(i, 1);
  list.unshift(v);
  if (list.length > 16) list.pop();
}

/** What the guest believes about its own structures. */
interface Layout {
  strtab: number;
  /** StreamID bits the stream table covers (as the guest programmed STRTAB_BASE_CFG.LOG2SIZE, clamped). */
  sidBits: number;
  twoLevel: boolean;
  split: number;
  cmdq: number;
  cmdqLog2: number;
  eventq: number;
  eventqLog2: number;
}

/** Compiles `c` into a scenario (deterministically). */
export function compile(c: FuzzCase): Scenario {
  return new Compiler(c.header).run(c.actions);
}

class Compiler {
  readonly steps: Step[] = [];
  /** Where steps go: the scenario's, or a `reenter` step's while its actions compile. */
  #out: Step[] = this.steps;
  readonly guest = new GuestWrites(this.steps);
  readonly ids: IdRegisterSet;
  readonly memSize: number;
  readonly holes: [number, number][];
  readonly spaces: Space[];
  layout: Layout;
  prod = 0;
  readonly #l1: Set<number> = new Set();
  /** What the guest set up last, most recent first: StreamIDs with an STE, CD slots with a CD, mapped IOVAs. */
  readonly #streams: number[] = [];
  readonly #slots: number[] = [];
  readonly #mapped: number[] = [];
  /** StreamID pool indices of the last attaches (their ASID and VMID derive from it). */
  readonly #attached: number[] = [];
  /** The last bring-up (a reset's reinit repeats it), and the CR0 value it left. */
  #lastBringUp: BringUp | null = null;
  #cr0 = 0;
  /** The SubstreamID each StreamID was last attached with (its DMAs carry it), or null. */
  readonly #attachedSsid = new Map<number, number | null>();
  /** IOVAs each attached StreamID has mapped, most recent first (its DMAs go there). */
  readonly #mappedBy = new Map<number, number[]>();
  /** The last DMA: a `next` address continues it, from the same device. */
  #lastDma: { sid: number; ssid: number | null; iova: number | bigint } | null = null;
  /** The space each attached StreamID translates through (a stall handler maps the faulting page there). */
  readonly #spaceBySid = new Map<number, number>();
  /** The StreamID of the DMA whose address is being resolved (-1 outside a DMA). */
  #dmaSid = -1;

  constructor(readonly header: CaseHeader) {
    this.ids = idRegisters(header);
    const flat = header.memory.flat;
    this.memSize = flat ? MAP.end : MEMORY_SIZES[header.memory.size % MEMORY_SIZES.length];
    this.holes = flat ? [] : header.memory.holes.map(({ at, i }) => {
      const base = HOLE_BASES[at % HOLE_BASES.length] + (i % 16) * KIB64;
      return [base, base + KIB64];
    });
    const alloc = new Allocator(MAP.tables);
    this.spaces = header.spaces.map((p) => this.#space(p, alloc));
    this.layout = {
      strtab: MAP.strtab,
      sidBits: 0, // nothing programmed: STRTAB_BASE_CFG is 0 out of reset
      twoLevel: false,
      split: 6,
      cmdq: MAP.cmdq,
      cmdqLog2: this.#queueLog2(8, IDR1.CMDQS),
      eventq: MAP.eventq,
      eventqLog2: this.#queueLog2(5, IDR1.EVENTQS),
    };
  }

  #space(params: SpaceParams, alloc: Allocator): Space {
    const gs = [12, 14, 16][params.granule % 3];
    const inputBits = Math.min(Math.max(params.inputBits, 25), 52);
    let startLevel = stage1StartLevel(gs, inputBits);
    let sl0 = params.sl0 % 4;
    if (params.stage === 2) {
      for (let k = 0; k < 3; k++) {
        const level = stage2StartLevel(gs, (sl0 + k) % 3, inputBits);
        if (level >= 0) {
          sl0 = (sl0 + k) % 3;
          startLevel = level;
          break;
        }
      }
    }
    const table = new PageTable(this.guest, alloc, gs, inputBits, startLevel);
    return { params, gs, inputBits, startLevel, sl0, table };
  }

  #queueLog2(wanted: number, max: Field): number {
    return Math.min(wanted, max.get(Uint32Array.of(this.ids.IDR1)));
  }

  run(actions: readonly Action[]): Scenario {
    for (const a of actions) this.#action(a);
    this.guest.flush();
    const h = this.header;
    const ids = this.ids;
    const scenario: Scenario = {
      name: "fuzz case",
      id_registers: { IDR0: BigInt(ids.IDR0), IDR1: BigInt(ids.IDR1), IDR3: BigInt(ids.IDR3), IDR5: BigInt(ids.IDR5) },
      steps: this.steps,
    };
    if (h.memory.flat) scenario.flat_memory = { base: BigInt(MAP.strtab), size: BigInt(MAP.end - MAP.strtab) };
    else if (this.memSize !== TWO_52) scenario.memory_size = BigInt(this.memSize);
    if (h.atc !== 0) scenario.atc_invalidations = h.atc === 1 ? "complete" : "fail";
    if (this.holes.length > 0) scenario.memory_holes = this.holes.map(([a, b]) => [BigInt(a), BigInt(b)]);
    if (h.memory.throws) scenario.memory_aborts = "throw";
    if (h.cacheLimits !== null) scenario.cache_limits = h.cacheLimits;
    if (h.commandBudget !== null) scenario.command_budget = h.commandBudget;
    return scenario;
  }

  #emit(step: Step): void {
    this.guest.flush();
    this.#out.push(step);
  }

  /** A `reenter` step: `then` compiled into its steps (the guest believes they ran, as a driver would). */
  #reenter(from: number, then: readonly NestedAction[]): void {
    this.guest.flush();
    const inner: Step[] = [];
    this.#out = this.guest.steps = inner;
    for (const a of then) this.#action(a);
    this.guest.flush();
    this.#out = this.guest.steps = this.steps;
    // NestedAction compiles to guest steps only (memory and register accesses, DMA).
    this.#emit({ op: "reenter", from: CALLBACKS[from % CALLBACKS.length], steps: inner as NestedStep[] });
  }
  #mmio(offset: number, size: 4 | 8, value: number | bigint): void {
    const v = BigInt.asUintN(size * 8, BigInt(value));
    this.#emit({ op: "mmio_write", offset: BigInt(offset), size, value: v });
  }
  #mmioFrom(offset: number, from: number): void {
    this.#emit({ op: "mmio_write", offset: BigInt(offset), size: 4, value_from: BigInt(from) });
  }
  #write64(offset: number, w: Uint32Array): void {
    this.#mmio(offset, 8, (BigInt(w[1]) << 32n) | BigInt(w[0]));
  }
  #words(addr: number, w: Uint32Array): void {
    for (let i = 0; i < w.length; i++) this.guest.write32(addr + 4 * i, w[i]);
  }

  addr(r: AddrRef): number {
    switch (r.at) {
      case "region":
        return MAP.regions + (r.i % 16) * KIB64 + (r.off % 1024) * 64;
      case "cd":
        return MAP.cds + this.#slot(r.p) * KIB64;
      case "space":
        return this.spaces[r.j % this.spaces.length].table.root;
      case "tables":
        return MAP.tables + (r.off % 0x10000) * 64;
      case "strtab":
        return this.layout.strtab;
      case "cmdq":
        return this.layout.cmdq;
      case "eventq":
        return this.layout.eventq;
      case "end":
        return alignDown(this.memSize - 64 * (1 + (r.back % 64)), 64);
      case "beyond":
        return Math.min(alignDown(this.memSize + (r.off % 2 ** 26) * 64, 64), TWO_52 - 64);
      case "hole":
        return this.holes[0]?.[0] ?? MAP.regions;
      case "wild":
        return alignDown(r.v % TWO_52, 64);
    }
  }

  iova(r: IovaRef): number | bigint {
    switch (r.at) {
      case "next": {
        const last = this.#lastDma?.iova ?? 0;
        return typeof last === "number" ? last + r.off : last; // a tagged address: the same again
      }
      case "mapped": {
        const mine = this.#mappedBy.get(this.#dmaSid) ?? this.#mapped; // a device's own mappings, if it has some
        if (mine.length > 0) return mine[r.i % mine.length] + (r.off % 4096);
        return (r.i % 16) * 4096 + (r.off % 4096);
      }
      case "page":
        return (r.i % 16) * 4096 + (r.off % 4096);
      case "block":
        return (r.i % 8) * 0x20_0000;
      case "upper":
        return -((r.i % 8) + 1) * 4096;
      case "same":
        return this.addr(r.a);
      case "wild":
        return r.neg ? -(r.v % 2 ** 53) : r.v % 2 ** 53;
      case "tagged":
        return (BigInt(r.tag % 256) << 56n) | BigInt((r.i % 16) * 4096);
    }
  }

  /** An IOVA as a number (a tagged one without its tag). */
  #iovaNumber(r: IovaRef): number {
    const v = this.iova(r);
    return typeof v === "number" ? v : Number(BigInt.asUintN(56, v));
  }

  /** A CD slot: the p-th most recently written (then slot p). */
  #slot(p: number): number {
    return p < this.#slots.length ? this.#slots[p] : p % SLOTS;
  }

  /** A StreamID for a transaction: for i < 4 one of the streams configured last (any stream before there are
   * some), for larger i the pool's. */
  #streamOf(i: number): number {
    return i < 4 && this.#streams.length > 0 ? this.#streams[i % this.#streams.length] : sidOf(i);
  }

  #action(a: Action): void {
    switch (a.kind) {
      case "bringUp":
        return this.#bringUp(a.p);
      case "ste":
        return this.#ste(a);
      case "cd":
        return this.#cd(a);
      case "map":
        return this.#map(a);
      case "attach":
        return this.#attach(a);
      case "rawDesc": {
        const s = this.spaces[a.space % this.spaces.length];
        s.table.raw(this.#ia(s, a.iova), this.#level(s, a.level), a.lo, a.hi);
        return;
      }
      case "cycle":
        return this.#cycle(a.space, a.iova, a.level, a.to);
      case "commands":
        return this.#commands(a.cmds, a.sync, a.publish);
      case "dma": {
        const again = a.iova.at === "next" && this.#lastDma !== null;
        const sid = again ? this.#lastDma!.sid : this.#streamOf(a.sid);
        this.#dmaSid = sid;
        const iova = this.iova(a.iova);
        this.#dmaSid = -1;
        const natural = this.#attachedSsid.get(sid) ?? null;
        const ssid = again ? this.#lastDma!.ssid : a.ssid === null ? natural : a.ssid < 0 ? null : ssidOf(a.ssid);
        this.#lastDma = { sid, ssid, iova };
        for (let k = 0; k <= a.repeat; k++) {
          const at = typeof iova === "number" ? iova + k * a.stride : iova;
          // A DmaView takes a copy whose first and last byte have safe-integer addresses.
          const view = a.view && typeof at === "number" && Number.isSafeInteger(at + 1 + a.len);
          this.#emit({
            op: "dma",
            sid: BigInt(sid),
            iova: u64(at),
            dir: a.write !== (a.mixed && k % 2 === 1) ? "write" : "read",
            priv: a.priv,
            exec: a.exec,
            view,
            ...(view ? { len: 1 + a.len } : {}),
            ...(ssid === null ? {} : { ssid: BigInt(ssid) }),
          });
        }
        return;
      }
      case "pri":
        return this.#pri(a);
      case "resume": {
        // The guest's handler: with `fix`, the page of the last DMA mapped where its stream translates, and that
        // stream resumed; STAGs come from 0 up, so it resumes the first few besides `stag`.
        const last = this.#lastDma;
        const space = last === null ? undefined : this.#spaceBySid.get(last.sid);
        const fixing = a.fix && last !== null && space !== undefined && typeof last.iova === "number" && last.iova >= 0;
        if (fixing) {
          const page = (last.iova as number) - ((last.iova as number) % 4096);
          this.spaces[space].table.map(
            page,
            MAP.regions + (page % (16 * KIB64)),
            3,
            {},
            this.spaces[space].params.stage,
          );
        }
        const sid = fixing ? last!.sid : this.#streamOf(a.sid);
        if (a.term) return this.#issue([namedCommand(OPCODE.STALL_TERM, { StreamID: sid }, 0), this.#sync()], 0);
        const stags = [...new Set([a.stag, 0, 1, 2, 3])];
        const resume = (stag: number) =>
          namedCommand(OPCODE.RESUME, { StreamID: sid, STAG: stag, Ac: a.retry ? 1 : 0, Ab: a.retry ? 0 : 1 }, 0);
        return this.#issue([...stags.map(resume), this.#sync()], 0);
      }
      case "ats":
        return this.#ats(a);
      case "msi": {
        const d = a.data;
        const hex = [d & 0xff, (d >>> 8) & 0xff, (d >>> 16) & 0xff, d >>> 24]
          .map((b) => b.toString(16).padStart(2, "0")).join("");
        const iova = u64(this.addr(a.at));
        this.#emit({ op: "dma", sid: BigInt(this.#streamOf(a.sid)), iova, dir: "write", view: true, hex });
        return;
      }
      case "regWrite":
        return this.#regWrite(a.reg, a.vals, a.wide, a.addr);
      case "mmioRaw":
        if (a.wide) this.#mmio(a.offset, 8, (BigInt(a.hi) << 32n) | BigInt(a.lo));
        else this.#mmio(a.offset, 4, a.lo);
        return;
      case "mmioRead": {
        let offset = a.offset;
        if (offset < 0) {
          const i = -1 - offset, r = REGISTERS[i % REGISTERS.length];
          offset = r.offset + (r.width === 64 && Math.floor(i / REGISTERS.length) % 2 === 1 ? 4 : 0);
        }
        this.#emit({ op: "mmio_read", offset: BigInt(offset), size: a.wide ? 8 : 4 });
        return;
      }
      case "poke":
        this.guest.write32(this.addr(a.at) + 4 * a.word, a.value);
        return;
      case "consumeEvents": // CONS ← PROD: every record read, any overflow acknowledged (OVACKFLG ← OVFLG)
        return this.#mmioFrom(REG.EVENTQ_CONS, REG.EVENTQ_PROD);
      case "consumePageRequests": // the PRI queue likewise
        return this.#mmioFrom(REG.PRIQ_CONS, REG.PRIQ_PROD);
      case "ackErrors":
        return this.#mmioFrom(REG.GERRORN, REG.GERROR);
      case "skipCommands": // CONS ← PROD: drop what is left (after a command error, say)
        return this.#mmioFrom(REG.CMDQ_CONS, REG.CMDQ_PROD);
      case "invalidateAll": // CFGI_ALL, TLBI_NSNH_ALL (and TLBI_EL2_ALL with Hyp), CMD_SYNC: every cache emptied
        return this.#issue([...this.#invalidateAll(), this.#sync()], 0);
      case "pollCons":
        this.#emit({ op: "mmio_read", offset: BigInt(REG.CMDQ_CONS), size: 4 });
        return;
      case "saveRestore":
        this.#emit({ op: "save_restore", into: a.fresh ? "fresh" : "same" });
        return;
      case "reset": // the guest's structures survive in memory; with reinit its driver probes and enables again
        this.#emit({ op: "reset" });
        if (a.reinit && this.#lastBringUp !== null) this.#bringUp(this.#lastBringUp);
        return;
      case "tlbi":
        return this.#tlbi(a);
      case "reenter":
        return this.#reenter(a.from, a.then);
    }
  }

  /** A page request from the endpoint of a recent stream, for a page of what it maps (where PRI is advertised). */
  #pri(a: Action & { kind: "pri" }): void {
    if (!IDR0.PRI.get(Uint32Array.of(this.ids.IDR0))) return;
    const sid = this.#streamOf(a.sid);
    this.#dmaSid = sid;
    const page = this.iova(a.page);
    this.#dmaSid = -1;
    const p = (bit: number) => ((a.perms >> bit) & 1) === 1;
    const ssid = a.ssid === null ? undefined : BigInt(ssidOf(a.ssid));
    this.#emit({
      op: "pri_request",
      sid: BigInt(sid),
      ...(ssid === undefined ? {} : { ssid }),
      address: u64(page),
      read: p(0),
      write: p(1),
      // Exe and Priv travel in the PASID prefix: only with a SubstreamID.
      ...(ssid === undefined ? {} : { exec: p(2), priv: p(3) }),
      group: BigInt(a.group % 512),
      last: a.last,
    });
  }

  /** An ATS Translation Request, or a Translated transaction, of a recent stream (where ATS is advertised). */
  #ats(a: Action & { kind: "ats" }): void {
    if (!IDR0.ATS.get(Uint32Array.of(this.ids.IDR0))) return;
    const sid = this.#streamOf(a.sid);
    if (a.translated) {
      this.#emit({ op: "ats_translated", sid: BigInt(sid), address: BigInt(this.addr(a.at)), write: a.write });
      return;
    }
    this.#dmaSid = sid;
    const iova = this.iova(a.iova);
    this.#dmaSid = -1;
    const natural = this.#attachedSsid.get(sid) ?? null;
    const ssid = a.ssid === null ? natural : ssidOf(a.ssid);
    this.#emit({
      op: "ats_translate",
      sid: BigInt(sid),
      address: u64(iova),
      write: a.write,
      ...(ssid === null ? {} : { ssid: BigInt(ssid), exec: a.exec, priv: a.priv }),
    });
  }

  /** The Linux reset sequence (arm_smmu_device_reset), with the parameters of `p`. */
  #bringUp(p: BringUp): void {
    this.#lastBringUp = p;
    const r = new Uint32Array(2);
    this.#mmio(REG.CR0, 4, 0);
    if (p.cr2 !== null) this.#mmio(REG.CR2, 4, p.cr2);
    const strtab = p.strtab === null ? MAP.strtab : this.addr(p.strtab);
    STRTAB_BASE.ADDR.setAddress(r, strtab);
    STRTAB_BASE.RA.set(r, 1);
    this.#write64(REG.STRTAB_BASE, r);
    const cfg = new Uint32Array(1);
    STRTAB_BASE_CFG.FMT.set(cfg, p.twoLevel ? STRTAB_BASE_CFG_FMT.TWO_LEVEL : STRTAB_BASE_CFG_FMT.LINEAR);
    STRTAB_BASE_CFG.LOG2SIZE.set(cfg, p.log2size);
    STRTAB_BASE_CFG.SPLIT.set(cfg, p.split);
    this.#mmio(REG.STRTAB_BASE_CFG, 4, cfg[0]);
    const split = p.split >= 10 ? 10 : p.split >= 8 ? 8 : 6; // reserved values behave as the next legal one down
    this.layout = {
      strtab,
      sidBits: Math.min(p.log2size % 64, IDR1.SIDSIZE.get(Uint32Array.of(this.ids.IDR1))),
      twoLevel: p.twoLevel,
      split: split === 10 ? STRTAB_BASE_CFG_SPLIT.L2_64KB : split === 8 ? STRTAB_BASE_CFG_SPLIT.L2_16KB : split,
      cmdq: MAP.cmdq,
      cmdqLog2: this.#queueLog2(p.cmdqLog2 % 32, IDR1.CMDQS),
      eventq: MAP.eventq,
      eventqLog2: this.#queueLog2(p.eventqLog2 % 32, IDR1.EVENTQS),
    };
    this.#l1.clear();
    r.fill(0);
    CMDQ_BASE.ADDR.setAddress(r, MAP.cmdq);
    CMDQ_BASE.LOG2SIZE.set(r, p.cmdqLog2);
    this.#write64(REG.CMDQ_BASE, r);
    this.#mmio(REG.CMDQ_PROD, 4, 0);
    this.#mmio(REG.CMDQ_CONS, 4, 0);
    this.prod = 0;
    r.fill(0);
    EVENTQ_BASE.ADDR.setAddress(r, MAP.eventq);
    EVENTQ_BASE.LOG2SIZE.set(r, p.eventqLog2);
    this.#write64(REG.EVENTQ_BASE, r);
    this.#mmio(REG.EVENTQ_PROD, 4, 0);
    this.#mmio(REG.EVENTQ_CONS, 4, 0);
    const msis = [
      [p.eventqMsi, REG.EVENTQ_IRQ_CFG0, REG.EVENTQ_IRQ_CFG1],
      [p.gerrorMsi, REG.GERROR_IRQ_CFG0, REG.GERROR_IRQ_CFG1],
    ] as const;
    for (const [at, cfg0, cfg1] of msis) {
      if (at === null) continue;
      r.fill(0);
      GERROR_IRQ_CFG0.ADDR.setAddress(r, this.addr(at));
      this.#write64(cfg0, r);
      GERROR_IRQ_CFG1.DATA.set(r, p.msiData);
      this.#mmio(cfg1, 4, r[0]);
    }
    const cr0 = new Uint32Array(1);
    CR0.CMDQEN.set(cr0, 1);
    this.#mmio(REG.CR0, 4, cr0[0]);
    this.#emit({ op: "mmio_read", offset: BigInt(REG.CR0ACK), size: 4 });
    this.#issue([...this.#invalidateAll(), this.#sync()], 0);
    // Where PRI is advertised, the PRI queue with the event queue, as Linux enables them.
    const pri = p.priq && IDR0.PRI.get(Uint32Array.of(this.ids.IDR0)) === 1;
    if (pri) {
      r.fill(0);
      PRIQ_BASE.ADDR.setAddress(r, MAP.priq);
      PRIQ_BASE.LOG2SIZE.set(r, p.priqLog2);
      this.#write64(REG.PRIQ_BASE, r);
      this.#mmio(REG.PRIQ_PROD, 4, 0);
      this.#mmio(REG.PRIQ_CONS, 4, 0);
      const cfg2 = new Uint32Array(1);
      PRIQ_IRQ_CFG2.LO.set(cfg2, p.priqLo ? 1 : 0);
      this.#mmio(REG.PRIQ_IRQ_CFG2, 4, cfg2[0]);
      CR0.PRIQEN.set(cr0, 1);
    }
    CR0.EVENTQEN.set(cr0, 1);
    this.#mmio(REG.CR0, 4, cr0[0]);
    this.#mmio(REG.IRQ_CTRL, 4, p.irqs);
    if (p.gbpa !== null) {
      const g = Uint32Array.of(p.gbpa);
      GBPA.Update.set(g, 1);
      this.#mmio(REG.GBPA, 4, g[0]);
    }
    if (p.smmuen) {
      CR0.SMMUEN.set(cr0, 1);
      this.#mmio(REG.CR0, 4, cr0[0]);
    }
    this.#cr0 = cr0[0];
  }

  /** The invalidations of everything a driver issues (arm_smmu_device_reset): CFGI_ALL, then the TLBs. */
  #invalidateAll(): Uint32Array[] {
    const cmds = [
      command(OPCODE.CFGI_STE_RANGE, (c) => CMD_CFGI_STE_RANGE.Range.set(c, CFGI_ALL_RANGE)),
      command(OPCODE.TLBI_NSNH_ALL),
    ];
    if (IDR0.Hyp.get(Uint32Array.of(this.ids.IDR0))) cmds.push(command(OPCODE.TLBI_EL2_ALL));
    return cmds;
  }

  #sync(): Uint32Array {
    return command(OPCODE.SYNC);
  }

  /** A generated command, its StreamID, SubstreamID and addresses resolved. */
  #buildCommand(c: Cmd): Uint32Array {
    const at = { sid: sidOf(c.sid), ssid: ssidOf(c.ssid), msi: this.addr(c.msi), addr: this.#iovaNumber(c.addr) };
    return commandWords(c, at);
  }

  /** Writes commands at the guest's PROD and publishes it: exactly (0), not at all (< 0), or `publish` too far. */
  #issue(cmds: readonly Uint32Array[], publish: number): void {
    const size = 2 ** this.layout.cmdqLog2;
    const mask = 2 * size - 1;
    for (const c of cmds) {
      this.#words(this.layout.cmdq + (this.prod & (size - 1)) * 16, c);
      this.prod = (this.prod + 1) & mask;
    }
    if (publish < 0) return;
    this.prod = (this.prod + publish) & mask;
    this.#mmio(REG.CMDQ_PROD, 4, this.prod);
  }

  #commands(cmds: readonly Cmd[], sync: Cmd | null, publish: number): void {
    const all = cmds.map((c) => this.#buildCommand(c));
    if (sync !== null) all.push(this.#buildCommand(sync));
    this.#issue(all, publish);
  }

  #steAddress(sid: number): number {
    const l = this.layout;
    if (!l.twoLevel) return l.strtab + sid * 64;
    const index = Math.floor(sid / 2 ** l.split);
    const l2 = MAP.l2Streams + (index % 16) * KIB64;
    const l1 = l.strtab + index * 8;
    if (!this.#l1.has(l1)) {
      this.#l1.add(l1);
      const d = new Uint32Array(2);
      L1STD.Span.set(d, l.split + 1);
      L1STD.L2Ptr.setAddress(d, l2);
      this.#words(l1, d);
    }
    return l2 + (sid % 2 ** l.split) * 64;
  }

  #ste(a: SteAction): void {
    const sid = sidOf(a.sid);
    const cd = { ptr: this.addr(a.cd), fmt: a.cd.at === "cd" ? slotFmt(this.#slot(a.cd.p)) : 0 };
    const w = steWords(a, cd, this.spaces[a.s2 % this.spaces.length]);
    this.#words(this.#steAddress(sid), w);
    if (sid < 2 ** this.layout.sidBits) recent(this.#streams, sid); // a stream its devices can use
    if (a.invalidate) {
      this.#issue([command(OPCODE.CFGI_STE, (c) => CMD_CFGI_STE.StreamID.set(c, sid)), this.#sync()], 0);
    }
  }

  /** Where the CD of `ssid` in slot `p` lives, writing the slot's L1CD on the way for a 2-level table. */
  #cdAddress(p: number, ssid: number): number {
    const ptr = MAP.cds + p * KIB64;
    const fmt = slotFmt(p);
    if (fmt === 0) return ptr + ssid * 64;
    const split = fmt === 1 ? 6 : 10;
    const index = Math.floor(ssid / 2 ** split);
    const l2 = MAP.l2Cds + (p * 4 + (index % 4)) * KIB64;
    const d = new Uint32Array(2);
    L1CD.V.set(d, 1);
    L1CD.L2Ptr.setAddress(d, l2);
    this.#words(ptr + index * 8, d);
    return l2 + (ssid % 2 ** split) * 64;
  }

  #cd(a: CdAction): void {
    const space = (j: number | null) => (j === null ? null : this.spaces[j % this.spaces.length]);
    const w = cdWords(a, space(a.ttb0), space(a.ttb1));
    const p = a.slot % SLOTS;
    const ssid = ssidOf(a.ssid);
    this.#words(this.#cdAddress(p, ssid), w);
    recent(this.#slots, p);
    const sid = sidOf(a.sid);
    const inv = [
      [],
      [command(OPCODE.CFGI_CD, (c) => (CMD_CFGI_CD.StreamID.set(c, sid), CMD_CFGI_CD.SubstreamID.set(c, ssid)))],
      [command(OPCODE.CFGI_CD_ALL, (c) => CMD_CFGI_CD_ALL.StreamID.set(c, sid))],
      [command(OPCODE.CFGI_STE_RANGE, (c) => CMD_CFGI_STE_RANGE.Range.set(c, CFGI_ALL_RANGE))],
    ][a.invalidate % 4];
    if (inv.length > 0) this.#issue([...inv, this.#sync()], 0);
  }

  /** The input address of `r` within space `s` (the upper range counted from the top of the space). */
  #ia(s: Space, r: IovaRef): number {
    const v = this.#iovaNumber(r);
    return v < 0 ? v + 2 ** s.inputBits : v;
  }
  #level(s: Space, level: number): number {
    return Math.max(s.startLevel, Math.min(level, 3));
  }

  #map(a: MapAction): void {
    const s = this.spaces[a.space % this.spaces.length];
    const ia = this.#ia(s, a.iova);
    if (ia < 0) return; // below the upper range: no descriptor covers it
    const oa = a.oa === null ? ia : this.addr(a.oa);
    const stage1 = s.params.stage === 1;
    const { leaf, table } = leafValues(a.leaf, stage1);
    s.table.map(ia, Math.max(0, Math.min(oa, TWO_52 - 1)), this.#level(s, a.level), leaf, stage1 ? 1 : 2, table);
    const iova = this.#iovaNumber(a.iova);
    recent(this.#mapped, iova - (iova % 4096));
  }

  /** The first space of `stage` from index `j` on (or space `j` when there is none). */
  #spaceOf(j: number, stage: 1 | 2): number {
    const n = this.spaces.length;
    for (let k = 0; k < n; k++) if (this.spaces[(j + k) % n].params.stage === stage) return (j + k) % n;
    return j % n;
  }

  /** Maps [from, to) of space `j` to itself with the largest blocks its granule allows (a VMM's stage 2). */
  #identity(j: number, from: number, to: number, leaf: Values = {}): void {
    const s = this.spaces[j];
    const level = Math.max(s.startLevel, s.gs === 12 ? 1 : 2);
    const size = 2 ** s.table.shift(level);
    for (let a = alignDown(from, size); a < to; a += size) s.table.map(a, a, level, leaf, s.params.stage);
  }

  /** A CD, then the STE that uses it (or a stage-2 or bypass STE), and mappings: a device a driver attached. */
  #attach(a: AttachAction): void {
    const mode = a.mode % 4;
    const s1 = this.#spaceOf(a.space, 1), s2 = this.#spaceOf(a.s2, 2);
    // With substreams the STE's S1DSS is SSID0, which rejects an explicit SubstreamID 0: attach others.
    const ssidIndex = a.ssid === null ? 0 : 1 + a.ssid;
    const ssid = a.ssid === null ? null : ssidOf(ssidIndex);
    if (mode === 0 || mode === 2) {
      const f = (bit: number) => ((a.flags >> bit) & 1) === 1;
      this.#cd({
        ...ORDINARY_CD,
        slot: a.slot,
        ssid: ssidIndex,
        sid: a.sid,
        ttb0: s1,
        asid: asidOf(a.sid),
        ha: f(0),
        hd: f(1),
        affd: f(2),
        tbi: (a.flags >> 3) & 1,
        e0pd: (a.flags >> 4) & 1,
        pan: f(5),
        wxn: f(6),
        had: (a.flags >> 7) & 1,
        stall: f(8),
      });
    }
    const bits = ssid === null ? 0 : Math.max(1, Math.ceil(Math.log2(ssid + 1)));
    recent(this.#attached, a.sid);
    this.#ste({
      ...ORDINARY_STE,
      sid: a.sid,
      strw: a.el2 && IDR0.Hyp.get(Uint32Array.of(this.ids.IDR0)) ? 1 : 0, // STRW index 1: EL2 (with Hyp)
      config: [0, 2, 3, 1][mode], // CONFIGS: S1_TRANS, S2_TRANS, NESTED, BYPASS
      cd: { at: "cd", p: 0 }, // the slot just written
      cdMax: bits,
      s2,
      vmid: vmidOf(a.sid),
      ha: (a.flags & 1) === 1,
      hd: (a.flags & 2) === 2,
      affd: (a.flags & 4) === 4,
      stall: ((a.flags >> 9) & 1) === 1,
      // Where ATS is offered, the driver enables full ATS for its device (ILLEGAL with stage 2 stalling).
      eats: IDR0.ATS.get(Uint32Array.of(this.ids.IDR0)) && ((a.flags >> 9) & 1) === 0 ? 1 : 0,
    });
    // A nested device with CD.HA and an odd slot gets a read-only stage 2: its hardware updates of stage-1
    // descriptors are stage-1 table writes that stage 2 refuses (IHI 0070 3.13).
    const readOnly: Values = (a.flags & 1) === 1 && a.slot % 2 === 1 ? { S2AP: TT_S2AP.RO } : {};
    if (mode === 2) this.#identity(s2, MAP.strtab, MAP.end, readOnly);
    this.#attachedSsid.set(sidOf(a.sid), mode === 0 || mode === 2 ? ssid : null);
    if (mode !== 3) this.#spaceBySid.set(sidOf(a.sid), mode === 1 ? s2 : s1);
    const mine = this.#mappedBy.get(sidOf(a.sid)) ?? [];
    this.#mappedBy.set(sidOf(a.sid), mine);
    for (const m of a.maps) {
      this.#map({ kind: "map", space: mode === 1 ? s2 : s1, ...m });
      const v = this.#iovaNumber(m.iova);
      recent(mine, v - (v % 4096));
    }
  }

  /** A TLBI of the ASID/VMID an attach of the same StreamID index uses, by address where the command has one. */
  #tlbi(a: TlbiAction): void {
    const op = TLBIS[a.op % TLBIS.length];
    const r = a.range;
    // Often the attach and the page a device used last: a TLBI that meets what the caches hold (scoped invalidations
    // are checked against them, tests/fuzz/invalidation_scopes.ts).
    const last = this.#lastDma;
    const lastAttach = last === null ? undefined : this.#attached.find((i) => sidOf(i) === last.sid);
    const aimed = a.sid < 2 && lastAttach !== undefined && typeof last!.iova === "number";
    const who = aimed
      ? lastAttach
      : a.sid < 4 && this.#attached.length > 0
      ? this.#attached[a.sid % this.#attached.length]
      : a.sid;
    const w = namedCommand(op, {
      ASID: asidOf(who),
      VMID: vmidOf(who),
      StreamID: sidOf(who),
      Leaf: a.leaf ? 1 : 0,
      ...(r === null ? {} : { TG: r.tg, SCALE: r.scale, NUM: r.num, TTL: r.ttl }),
    }, aimed ? last!.iova as number : this.#iovaNumber(a.iova));
    if (aimed) {
      // The device reads the page once more first, so its translation is cached when the invalidation comes.
      this.#emit({
        op: "dma",
        sid: BigInt(last!.sid),
        iova: u64(last!.iova),
        dir: "read",
        ...(last!.ssid === null ? {} : { ssid: BigInt(last!.ssid) }),
      });
    }
    this.#issue(a.sync ? [w, this.#sync()] : [w], 0);
  }

  /** A table descriptor at `level` for `iova` pointing back at its own table, or at `to` (a queue, say). */
  #cycle(space: number, iova: IovaRef, level: number, to: AddrRef | "self"): void {
    const s = this.spaces[space % this.spaces.length];
    const ia = this.#ia(s, iova);
    if (ia < 0) return;
    const l = Math.max(s.startLevel, Math.min(level, 2));
    const at = s.table.descAddr(ia, l);
    const target = to !== "self" ? this.addr(to) : l === s.startLevel ? s.table.root : alignDown(at, 2 ** s.gs);
    const d = tableDescriptor(s.gs, target);
    this.#words(at, d);
  }

  /** A write of register `index` (a driver's usual ones first, then any), fields from `vals`, addresses from `addr`. */
  #regWrite(index: number, vals: readonly number[], wide: boolean, addr: AddrRef): void {
    const info = index < WRITTEN_REGISTERS.length
      ? REGISTERS.find((r) => r.name === WRITTEN_REGISTERS[index])!
      : REGISTERS[(index - WRITTEN_REGISTERS.length) % REGISTERS.length];
    const w = new Uint32Array(2);
    fill(w, info.layout.fields, vals, (f) => (f.shift !== undefined ? addressValue(f, this.addr(addr)) : null));
    if (info.offset === REG.GBPA && vals.length % 2 === 0) GBPA.Update.set(w, 1); // as a driver does, usually
    if (info.offset === REG.CR0) w[0] ^= this.#cr0; // the enables the driver runs with, some toggled
    if (wide) this.#write64(info.offset, w); // on a 32-bit register: a wrong-width access, ignored
    else {
      this.#mmio(info.offset, 4, w[0]);
      if (info.width === 64) this.#mmio(info.offset + 4, 4, w[1]);
    }
  }
}
