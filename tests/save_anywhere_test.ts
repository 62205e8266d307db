/**
 * Save anywhere ≡ never saved. A seeded random guest program (MMIO writes, commands written to the command queue,
 * event consumption, error acknowledgement, guest memory writes, DMAs and translations from several streams) runs
 * once straight, and again with save → restore at random points: into a fresh instance, into the same instance
 * at once, and into the same instance after a detour (random operations whose effects are then rewound). Every
 * observable output must be identical: MMIO reads, translation and DMA results, every write to guest memory (event
 * records, MSIs, DMA data, CMD_SYNC completions), interrupts raised.
 *
 * The program starts from a recorded driver's configuration (tests/vectors/qemu-7.2/random-s1-seed*.json). Its tables are
 * read-only after that (a write there aborts), and STRTAB_BASE/CFG keep their values: a table changed without an
 * invalidation may legitimately be seen stale or fresh, and restore empties the caches, so it would make a
 * difference that is not a save/restore bug.
 */
import assert from "node:assert/strict";
import { SavedStateError } from "../src/core/errors.ts";
import {
  CMDQ_BASE,
  CMDQ_PROD,
  COMMANDS,
  CR0,
  EVENTQ_BASE,
  EVENTQ_CONS,
  EVENTQ_PROD,
  GBPA,
  REG,
  REGISTERS,
} from "../gen/mod.ts";
import type { Layout } from "../gen/mod.ts";
import { Smmu } from "../src/device/smmu.ts";
import type { SmmuOptions } from "../src/device/options.ts";
import { type GuestMemory, SparseMemory } from "../src/core/memory.ts";
import type { DmaView } from "../src/device/dma.ts";

const SEEDS = 3000;
const OPS = 40;

// ---------------------------------------------------------------- guest memory with an undo journal

/** Guest memory that can be rewound, refuses writes to read-only ranges, and reports every write. */
class JournalMemory implements GuestMemory {
  readonly #inner = new SparseMemory();
  readonly #undo: { addr: number; old: Uint8Array }[] = [];
  readOnly: readonly (readonly [number, number])[] = [];
  onWrite: (addr: number, bytes: Uint8Array) => void = () => {};

  read32(addr: number): number {
    return this.#inner.read32(addr);
  }
  read(addr: number, dst: Uint8Array): boolean {
    return this.#inner.read(addr, dst);
  }
  write32(addr: number, value: number): boolean {
    if (addr % 4 !== 0) return false;
    return this.write(addr, new Uint8Array(new Uint32Array([value]).buffer));
  }
  write(addr: number, src: Uint8Array): boolean {
    if (this.readOnly.some(([s, e]) => addr < e && addr + src.length > s)) return false;
    const old = new Uint8Array(src.length);
    if (!this.#inner.read(addr, old) || !this.#inner.write(addr, src)) return false;
    this.#undo.push({ addr, old });
    this.onWrite(addr, src);
    return true;
  }
  mark(): number {
    return this.#undo.length;
  }
  rewind(mark: number): void {
    while (this.#undo.length > mark) {
      const { addr, old } = this.#undo.pop()!;
      this.#inner.write(addr, old);
    }
  }
}

// ---------------------------------------------------------------- the recorded configuration

interface Setup {
  steps: ({ mem: number; bytes: Uint8Array } | { mmio: number; size: 4 | 8; value: bigint })[];
  tables: [number, number][];
  streams: number[];
  iovas: number[];
}

function loadSetup(name: string): Setup {
  const v = JSON.parse(Deno.readTextFileSync(new URL(`./vectors/qemu-7.2/${name}.json`, import.meta.url)));
  const steps: Setup["steps"] = [];
  const firstDma = v.steps.findIndex((s: { op: string }) => s.op === "dma");
  for (const s of v.steps.slice(0, firstDma)) {
    if (s.op === "mem_write") {
      steps.push({
        mem: Number(s.addr),
        bytes: new Uint8Array(s.hex.match(/../g).map((h: string) => parseInt(h, 16))),
      });
    }
    if (s.op === "mmio_write") steps.push({ mmio: Number(s.offset), size: s.size, value: BigInt(s.value) });
  }
  const cmdq = steps.find((s) => "mmio" in s && s.mmio === REG.CMDQ_BASE) as { value: bigint };
  const w = new Uint32Array([Number(cmdq.value & 0xffff_ffffn), Number(cmdq.value >> 32n)]);
  const ring = [CMDQ_BASE.ADDR.getAddress(w), CMDQ_BASE.ADDR.getAddress(w) + 16 * 2 ** CMDQ_BASE.LOG2SIZE.get(w)];
  const tables = steps.flatMap((s) =>
    "mem" in s && !(s.mem >= ring[0] && s.mem < ring[1]) ? [[s.mem, s.mem + s.bytes.length] as [number, number]] : []
  );
  const dmas = v.steps.filter((s: { op: string }) => s.op === "dma");
  return {
    steps,
    tables,
    streams: v.streams,
    iovas: [...new Set<number>(dmas.map((d: { iova: string }) => Number(d.iova)))],
  };
}

const SETUPS = [loadSetup("random-s1-seed1"), loadSetup("random-s1-seed2")];
const DEVICES: Omit<SmmuOptions, "memory">[] = [
  { idRegisters: { IDR0: 0x0d40101a, IDR1: 0x02730010, IDR3: 0x1404, IDR5: 0x74 } }, // the recording's
  { features: { pri: true, ats: true } }, // MSI, PRI, 48-bit OAS
];

// ---------------------------------------------------------------- the random guest program

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const SCRATCH = 0x4400_0000; // queues and MSI targets moved by the program live here
const SAVED_RW = REGISTERS.filter((r) =>
  r.access === "RW" && r.offset !== REG.STRTAB_BASE && r.offset !== REG.STRTAB_BASE_CFG
);
const READABLE = REGISTERS.filter((r) => r.state !== "none");
const ILLEGAL_OPCODE = [...Array(256).keys()].find((op) => op > 0 && !COMMANDS.has(op))!;
const LAYOUTS: (Layout | undefined)[] = [...COMMANDS.values(), undefined];

/** The device under test and what the program has observed. */
class Guest {
  log: string[] = [];
  #views = new Map<number, DmaView>();
  smmu: Smmu;

  constructor(readonly memory: JournalMemory, readonly device: Omit<SmmuOptions, "memory">, readonly setup: Setup) {
    this.smmu = this.newSmmu();
    memory.onWrite = (addr, bytes) => this.log.push(`w ${addr.toString(16)} ${bytes.join(",")}`);
  }

  newSmmu(): Smmu {
    this.#views = new Map();
    const irq = (name: string) => () => this.log.push(`irq ${name}`);
    return new Smmu({
      ...this.device,
      memory: this.memory,
      interrupts: { eventq: irq("eventq"), gerror: irq("gerror"), priq: irq("priq"), cmdqSync: irq("sync") },
      onMsi: (addr, data) => this.log.push(`msi ${addr.toString(16)} ${data}`),
    });
  }

  view(sid: number): DmaView {
    let v = this.#views.get(sid);
    if (v === undefined) this.#views.set(sid, v = this.smmu.dmaView(sid));
    return v;
  }

  read(offset: number, size: 4 | 8 = 4): bigint {
    const v = this.smmu.mmioRead(offset, size);
    this.log.push(`r ${offset.toString(16)} ${v}`);
    return v;
  }

  write(offset: number, value: bigint | number, size: 4 | 8 = 4): void {
    this.smmu.mmioWrite(offset, size, typeof value === "number" ? BigInt(value >>> 0) : value);
  }

  /** One random operation. */
  step(rng: () => number): void {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
    const u32 = () => Math.floor(rng() * 2 ** 32);
    const s = this.setup;
    const op = rng();
    if (op < 0.35) { // a DMA or a translation
      const sid = pick([...s.streams, s.streams[0] + 1, 0xffff]);
      const iova = pick(s.iovas) + 4 * Math.floor(rng() * 16);
      const write = rng() < 0.5;
      if (rng() < 0.3) return void this.log.push(`t ${JSON.stringify(this.smmu.translate(sid, iova, { write }))}`);
      const data = new Uint8Array(pick([4, 8, 16, 64]));
      if (write) { for (let i = 0; i < data.length; i++) data[i] = u32() & 0xff; }
      const r = write ? this.view(sid).write(iova, data) : this.view(sid).read(iova, data);
      this.log.push(`dma ${sid} ${iova} ${r.ok ? "ok" : `${r.done} ${r.fault.type}`} ${write ? "" : data.join(",")}`);
    } else if (op < 0.5) { // an MMIO read
      const r = pick(READABLE);
      if (r.width === 64 && rng() < 0.5) this.read(r.offset, 8);
      else this.read(r.offset + (r.width === 64 && rng() < 0.5 ? 4 : 0));
    } else if (op < 0.58) { // acknowledge errors, consume events
      this.write(REG.GERRORN, this.read(REG.GERROR));
      const w = new Uint32Array([Number(this.read(REG.EVENTQ_PROD)), 0]);
      EVENTQ_CONS.RD.set(w, EVENTQ_PROD.WR.get(w), 1);
      EVENTQ_CONS.OVACKFLG.set(w, EVENTQ_PROD.OVFLG.get(w), 1);
      this.write(REG.EVENTQ_CONS, w[1]);
    } else if (op < 0.72) this.#commands(rng, pick, u32);
    else if (op < 0.8) { // move a queue to a small ring in scratch memory (only takes while the queue is off)
      const [base, enable] = pick([[REG.EVENTQ_BASE, CR0.EVENTQEN], [REG.CMDQ_BASE, CR0.CMDQEN]] as const);
      const w = new Uint32Array([Number(this.read(REG.CR0)), 0, 0]);
      enable.set(w, 0);
      this.write(REG.CR0, w[0]);
      EVENTQ_BASE.ADDR.setAddress(w, SCRATCH + 0x1000 * Math.floor(rng() * 4), 1);
      EVENTQ_BASE.LOG2SIZE.set(w, Math.floor(rng() * 4), 1);
      this.write(base, (BigInt(w[2]) << 32n) | BigInt(w[1]), 8);
      if (rng() < 0.8) enable.set(w, 1), this.write(REG.CR0, w[0]);
    } else if (op < 0.95) { // a register write, often hostile
      const w = new Uint32Array([Number(this.read(REG.CR0))]);
      const choice = rng();
      if (choice < 0.3) this.write(REG.CR0, w[0] ^ (1 << pick([CR0.SMMUEN, CR0.EVENTQEN, CR0.CMDQEN, CR0.PRIQEN]).lsb));
      else if (choice < 0.45) this.write(REG.GBPA, u32() | (1 << GBPA.Update.lsb));
      else {
        const r = pick(SAVED_RW);
        if (r.width === 64 && rng() < 0.5) this.write(r.offset, (BigInt(u32()) << 32n) | BigInt(u32()), 8);
        else this.write(r.offset + (r.width === 64 && rng() < 0.5 ? 4 : 0), rng() < 0.5 ? u32() : u32() & 0xff);
      }
    } else { // the guest CPU writes memory a device may read
      const bytes = new Uint8Array(8).map(() => u32() & 0xff);
      this.memory.write(pick([SCRATCH + 0x100 * Math.floor(rng() * 64), pick(s.iovas)]), bytes);
    }
  }

  /** Writes one to four commands (random fields, sometimes an illegal opcode) at CMDQ_PROD and publishes them. */
  #commands(rng: () => number, pick: <T>(xs: readonly T[]) => T, u32: () => number): void {
    const base = new Uint32Array(2);
    const v = this.read(REG.CMDQ_BASE, 8);
    [base[0], base[1]] = [Number(v & 0xffff_ffffn), Number(v >> 32n)];
    const size = 2 ** CMDQ_BASE.LOG2SIZE.get(base);
    const prod = new Uint32Array([Number(this.read(REG.CMDQ_PROD))]);
    let index = CMDQ_PROD.WR.get(prod);
    for (let n = 1 + Math.floor(rng() * 4); n > 0; n--) {
      const cmd = new Uint32Array(4);
      const layout = pick(LAYOUTS);
      for (const f of layout?.fields ?? []) {
        const value = f.name === "StreamID" ? pick(this.setup.streams) : pick([0, 1, u32()]);
        f.set(cmd, f.name === "Opcode" ? layout!.code! : value);
      }
      if (layout === undefined) cmd[0] = ILLEGAL_OPCODE;
      this.memory.write(CMDQ_BASE.ADDR.getAddress(base) + 16 * (index % size), new Uint8Array(cmd.buffer));
      index = (index + 1) % (2 * size);
    }
    CMDQ_PROD.WR.set(prod, index);
    this.write(REG.CMDQ_PROD, prod[0]);
  }
}

type Mode = "fresh" | "same" | "detour";

/** The log of one run of program `seed`; at each index in `saves`, save and restore as `mode` says. */
function run(memory: JournalMemory, seed: number, saves: ReadonlySet<number>, mode?: Mode): string[] {
  const start = memory.mark();
  const guest = new Guest(memory, DEVICES[seed % DEVICES.length], SETUPS[(seed >> 1) % SETUPS.length]);
  for (const s of guest.setup.steps) {
    if ("mem" in s) memory.write(s.mem, s.bytes);
    else guest.write(s.mmio, s.value, s.size);
  }
  memory.readOnly = guest.setup.tables;
  const rng = mulberry32(seed);
  const detourRng = mulberry32(~seed);
  for (let i = 0; i < OPS; i++) {
    if (mode !== undefined && saves.has(i)) {
      const blob = guest.smmu.save();
      if (mode === "fresh") guest.smmu = guest.newSmmu();
      if (mode === "detour") {
        const [mark, log] = [memory.mark(), guest.log];
        guest.log = [];
        for (let n = 1 + Math.floor(detourRng() * 8); n > 0; n--) guest.step(detourRng);
        memory.rewind(mark);
        guest.log = log;
      }
      guest.smmu.restore(blob);
    }
    guest.step(rng);
  }
  memory.readOnly = [];
  memory.rewind(start);
  return guest.log;
}

Deno.test(`save → restore anywhere changes nothing observable (${SEEDS} seeds × fresh, same, detour)`, () => {
  const memory = new JournalMemory();
  let compared = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const rng = mulberry32(seed * 7919);
    const saves = new Set(Array.from({ length: 1 + Math.floor(rng() * 3) }, () => Math.floor(rng() * OPS)));
    const straight = run(memory, seed, saves);
    for (const mode of ["fresh", "same", "detour"] as const) {
      const other = run(memory, seed, saves, mode);
      const at = other.findIndex((line, i) => line !== straight[i]);
      if (at !== -1 || other.length !== straight.length) {
        const i = at === -1 ? Math.min(other.length, straight.length) : at;
        assert.fail(
          `seed ${seed} (${mode}, saves at ${[...saves]}): output ${i} differs:\n` +
            `  straight: ${straight[i]}\n  restored: ${other[i]}`,
        );
      }
      compared += straight.length;
    }
  }
  assert.ok(compared > SEEDS * OPS, "the runs produced output to compare");
});

Deno.test("a mutated blob restored into a live device either is taken or is refused with the device untouched", () => {
  const memory = new JournalMemory();
  let refused = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const rng = mulberry32(seed);
    const guest = new Guest(memory, DEVICES[seed % DEVICES.length], SETUPS[0]);
    for (const s of guest.setup.steps) "mem" in s ? memory.write(s.mem, s.bytes) : guest.write(s.mmio, s.value, s.size);
    for (let i = 0; i < 20; i++) guest.step(rng);
    const before = guest.smmu.save();
    const blob = before.slice();
    for (let n = 1 + Math.floor(rng() * 3); n > 0; n--) blob[Math.floor(rng() * blob.length)] = Math.floor(rng() * 256);
    try {
      guest.smmu.restore(blob);
    } catch (e) {
      if (!(e instanceof SavedStateError)) throw e;
      assert.deepEqual(guest.smmu.save(), before, `seed ${seed}`);
      refused++;
    }
    memory.rewind(0);
  }
  assert.ok(refused > 0);
});
