/**
 * Bad host input, table-driven: every public entry point checks the host's arguments and throws a HostError (an
 * OptionsError for the constructor's options) whose message names the argument, and a refused call changes nothing.
 * Guest input is another matter (it gets the architected response; the fuzzer covers it): these are the VMM's own
 * mistakes, which must never surface as a TypeError from inside the device, nor half apply.
 */
import assert from "node:assert/strict";
import { CD_IPS, CD_TG0, REG, STE, STE_CONFIG } from "../gen/mod.ts";
import {
  FlatMemory,
  type GuestMemory,
  HostError,
  OptionsError,
  SavedStateError,
  Smmu,
  type SmmuOptions,
  SparseMemory,
} from "../mod.ts";
import { Driver } from "../src/guest/driver.ts";
import { Allocator, cdAt, PageTable } from "../src/guest/tables.ts";

const memory = new SparseMemory();
const noop = () => {};

/** Options of a wrong shape: the constructor refuses them with an OptionsError naming the option. */
const BAD_OPTIONS: [unknown, RegExp][] = [
  [undefined, /options must be an object/],
  [null, /options must be an object/],
  [{}, /options\.memory must be a GuestMemory/],
  [{ memory: null }, /options\.memory must be a GuestMemory/],
  [{ memory: {} }, /read32\(\) is missing/],
  [{ memory: { read32: 1, write32: noop, read: noop, write: noop } }, /read32\(\) is missing/],
  [{ memory, features: null }, /options\.features must be an object/],
  [{ memory, features: { granules: 4 } }, /options\.features\.granules must be an array/],
  [{ memory, features: { granules: [4, "16"] } }, /options\.features\.granules\[1\] must be a number/],
  [{ memory, features: { granules: [8] } }, /features\.granules: 8 KiB/],
  [{ memory, features: { stage1: "yes" } }, /options\.features\.stage1 must be a boolean/],
  [{ memory, features: { httu: true } }, /options\.features\.httu must be a string/],
  [{ memory, features: { granule: [4] } }, /options\.features\.granule is not known/],
  [{ memory, idRegisters: null }, /options\.idRegisters must be an object/],
  [{ memory, idRegisters: { IDR0: 0x1a } }, /options\.idRegisters\.IDR1 must be a 32-bit value/],
  [{ memory, idRegisters: { IDR0: -1, IDR1: 0, IDR3: 0, IDR5: 0 } }, /options\.idRegisters\.IDR0 must be a 32-bit/],
  [{ memory, features: {}, idRegisters: { IDR0: 0, IDR1: 0, IDR3: 0, IDR5: 0 } }, /either features or idRegisters/],
  [{ memory, interrupts: null }, /options\.interrupts must be an object/],
  [{ memory, interrupts: { eventq: 5 } }, /options\.interrupts\.eventq must be a function/],
  [{ memory, interrupts: { cmdqSync: "later" } }, /options\.interrupts\.cmdqSync must be a function/],
  [{ memory, onMsi: "inject" }, /options\.onMsi must be a function/],
  [{ memory, endpoints: { atcInvalidate: true } }, /options\.endpoints\.atcInvalidate must be a function/],
  [{ memory, endpoints: 7 }, /options\.endpoints must be an object/],
  [{ memory, schedule: {} }, /options\.schedule must be a function/],
  [{ memory, commandBudget: 0 }, /options\.commandBudget must be a positive integer/],
  [{ memory, commandBudget: 1.5 }, /options\.commandBudget must be a positive integer/],
  [{ memory, commandBudget: Infinity }, /options\.commandBudget must be a positive integer/],
  [{ memory, cacheLimits: null }, /options\.cacheLimits must be an object/],
  [{ memory, cacheLimits: { entries: 4 } }, /options\.cacheLimits\.entries must be an integer of at least 16/],
  [{ memory, cacheLimits: { tlb: 5 } }, /options\.cacheLimits\.tlb is not known/],
  [{ memory, interupts: {} }, /options\.interupts is not known/],
];

Deno.test("Smmu options of a wrong shape: OptionsError naming the option", async (t) => {
  for (const [options, message] of BAD_OPTIONS) {
    await t.step(message.source, () => {
      assert.throws(
        () => new Smmu(options as SmmuOptions),
        (e) => e instanceof OptionsError && message.test(e.message),
      );
    });
  }
});

Deno.test("SparseMemory and FlatMemory options of a wrong shape: HostError naming the option", () => {
  const bad: [() => unknown, RegExp][] = [
    [() => new SparseMemory(null as never), /options must be an object/],
    [() => new SparseMemory({ holes: 5 } as never), /options\.holes must be an array/],
    [() => new SparseMemory({ holes: [5] } as never), /options\.holes\[0\] must be a \[start, end\] pair/],
    [() => new SparseMemory({ holes: [[1]] } as never), /options\.holes\[0\] must be a \[start, end\] pair/],
    [() => new SparseMemory({ holes: [[8, 4]] }), /bad hole \[8, 4\)/],
    [() => new SparseMemory({ size: "1" } as never), /options\.size must be a number/],
    [() => new SparseMemory({ sise: 1 } as never), /options\.sise is not known/],
    [() => new FlatMemory("4096" as never), /size must be a positive multiple of 4/],
    [() => new FlatMemory(4096, 2), /base must be 4-byte aligned/],
  ];
  for (const [make, message] of bad) {
    assert.throws(make, (e) => e instanceof HostError && message.test(e.message), message.source);
  }
});

/** A device with a stage-1 stream 8 mapping IOVA 0x1000, as a test bench sets one up; `view` is its DmaView. */
function device() {
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory });
  const d = new Driver(smmu, memory);
  d.probe();
  d.reset();
  const alloc = new Allocator(0x5000_0000);
  const tables = new PageTable(memory, alloc, 12, 48, 0);
  tables.map(0x1000, 0x8000_0000);
  const cd = alloc.alloc(64, 64);
  cdAt(memory, cd, {
    ...{ V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, TG0: CD_TG0.GRAN_4K, IPS: CD_IPS.BITS_48 },
    ...{ TTB0: tables.root, ASID: 1 },
  });
  d.writeSte(8, STE_CONFIG.S1_TRANS, (ste) => STE.S1ContextPtr.setAddress(ste, cd));
  d.invalidateSte(8);
  return { smmu, memory, view: smmu.dmaView(8) };
}

type Device = ReturnType<typeof device>;
const buf = new Uint8Array(4);
// deno-lint-ignore no-explicit-any
const any = (v: unknown): any => v;

/** Calls with wrong host arguments, and what the HostError must name. */
const BAD_CALLS: [string, (t: Device) => unknown, RegExp][] = [
  ["mmioRead size", (t) => t.smmu.mmioRead(REG.CR0, any(2)), /size must be 4 or 8, got 2/],
  ["mmioRead offset", (t) => t.smmu.mmioRead(any("0x20"), 4), /offset "0x20" is outside/],
  ["mmioPeek offset", (t) => t.smmu.mmioPeek(0x20000, 4), /offset 131072 is outside/],
  ["mmioWrite value not a bigint", (t) => t.smmu.mmioWrite(REG.CR0, 4, any(1)), /value 1 does not fit 4 bytes/],
  ["mmioWrite value negative", (t) => t.smmu.mmioWrite(REG.CR0, 4, -1n), /value -1n does not fit/],
  ["mmioWrite value too wide", (t) => t.smmu.mmioWrite(REG.CR0, 4, 1n << 32n), /does not fit 4 bytes/],
  ["translate sid NaN", (t) => t.smmu.translate(NaN, 0x1000), /translate: sid must be a 32-bit StreamID, got NaN/],
  ["translate sid 2^32", (t) => t.smmu.translate(2 ** 32, 0x1000), /translate: sid must be/],
  ["translate iova NaN", (t) => t.smmu.translate(8, NaN), /translate: iova must be a safe integer or a bigint/],
  ["translate iova 0.5", (t) => t.smmu.translate(8, 0.5), /translate: iova/],
  ["translate iova 2^53", (t) => t.smmu.translate(8, 2 ** 53), /translate: iova/],
  ["translate iova string", (t) => t.smmu.translate(8, any("0x1000")), /translate: iova .* got "0x1000"/],
  ["translate iova 2^64", (t) => t.smmu.translate(8, 1n << 64n), /translate: iova .* not a 64-bit address/],
  ["translate access null", (t) => t.smmu.translate(8, 0x1000, any(null)), /translate: access must be an object/],
  ["translate access.write 1", (t) => t.smmu.translate(8, 0x1000, any({ write: 1 })), /access\.write must be a bool/],
  ["translate access.ssid -1", (t) => t.smmu.translate(8, 0x1000, { ssid: -1 }), /access\.ssid must be a 20-bit/],
  ["probe access.priv", (t) => t.smmu.probe(8, 0x1000, any({ priv: "no" })), /probe: access\.priv must be a bool/],
  ["probe trace", (t) => t.smmu.probe(8, 0x1000, {}, any({})), /probe: trace must be an array/],
  ["dmaView options null", (t) => t.smmu.dmaView(8, any(null)), /dmaView: options must be an object/],
  ["dmaView sid -1", (t) => t.smmu.dmaView(-1), /dmaView: sid must be a 32-bit StreamID/],
  ["dmaView ssid 2^20", (t) => t.smmu.dmaView(8, { ssid: 2 ** 20 }), /dmaView: options\.ssid must be a 20-bit/],
  ["dmaView exec", (t) => t.smmu.dmaView(8, any({ exec: 1 })), /dmaView: options\.exec must be a boolean/],
  ["DmaView.read iova NaN", (t) => t.view.read(NaN, buf), /DmaView\.read: iova must be a safe integer/],
  ["DmaView.read iova 0.5", (t) => t.view.read(4096.5, buf), /DmaView\.read: iova/],
  ["DmaView.read end past 2^53", (t) => t.view.read(2 ** 53 - 2, buf), /DmaView\.read: iova .* the copy's end/],
  ["DmaView.read iova string", (t) => t.view.read(any("4096"), buf), /DmaView\.read: iova .* got "4096"/],
  ["DmaView.read dst null", (t) => t.view.read(0x1000, any(null)), /DmaView\.read: dst must be a Uint8Array/],
  ["DmaView.read dst array", (t) => t.view.read(0x1000, any([1, 2])), /DmaView\.read: dst must be a Uint8Array/],
  ["DmaView.write src string", (t) => t.view.write(0x1000, any("data")), /DmaView\.write: src must be a Uint8Array/],
  ["DmaView.write iova -Infinity", (t) => t.view.write(-Infinity, buf), /DmaView\.write: iova/],
  ["observe null", (t) => t.smmu.observe(any(null)), /observe: observer must be an object/],
  ["observe undefined", (t) => t.smmu.observe(any(undefined)), /observe: observer must be an object/],
  ["observe synced 5", (t) => t.smmu.observe(any({ synced: 5 })), /observe: observer\.synced must be a function/],
  ["streamConfig sid", (t) => t.smmu.streamConfig(-1), /streamConfig: sid must be a 32-bit StreamID/],
  ["restore null", (t) => t.smmu.restore(any(null)), /restore: blob must be a Uint8Array, got null/],
  ["restore string", (t) => t.smmu.restore(any("blob")), /restore: blob must be a Uint8Array/],
  ["restore array", (t) => t.smmu.restore(any([8, 1])), /restore: blob must be a Uint8Array, got an array/],
  ["restore garbage", (t) => t.smmu.restore(Uint8Array.of(0xff)), /saved state: blob: not a SavedState/],
];

/** Everything observable of the device and its memory, to show a refused call changed nothing. */
function snapshot(t: Device): string {
  const bytes = new Uint8Array(0x1000);
  t.memory.read(0x8000_0000, bytes); // the mapped page a DMA write would change
  const events = new Uint8Array(0x400);
  t.memory.read(0x4210_0000, events); // the event queue a fault would write
  return JSON.stringify({
    state: [...t.smmu.save()],
    stats: t.smmu.stats,
    memory: [...bytes, ...events],
    translate: t.smmu.probe(8, 0x1000),
  });
}

Deno.test("calls with wrong host arguments: HostError naming the argument, and nothing changes", async (t) => {
  for (const [name, call, message] of BAD_CALLS) {
    await t.step(name, () => {
      const dev = device();
      const before = snapshot(dev);
      assert.throws(() => call(dev), (e) => e instanceof HostError && message.test(e.message), message.source);
      assert.equal(snapshot(dev), before);
    });
  }
  // restore's own refusal is the SavedStateError kind of HostError.
  assert.throws(() => device().smmu.restore(Uint8Array.of(0xff)), SavedStateError);
});

Deno.test("a callback that is not a function is refused at construction, not in the middle of a guest's write", () => {
  const memory = new SparseMemory();
  assert.throws(() => new Smmu({ memory, interrupts: { gerror: any(1) } }), OptionsError);
  // And the host changing its sinks object afterwards does not reach the device: it keeps what it was given.
  let heard = 0;
  const sinks: Record<string, unknown> = { gerror: () => heard++ };
  const smmu = new Smmu({ memory, interrupts: sinks });
  sinks.gerror = 1;
  smmu.mmioWrite(REG.IRQ_CTRL, 4, 1n); // GERROR_IRQEN
  smmu.mmioWrite(REG.CR0, 4, 8n); // CMDQEN, with a one-entry queue at address 0 (zeros: no such command)
  smmu.mmioWrite(REG.CMDQ_PROD, 4, 1n); // CERROR_ILL, GERROR.CMDQ_ERR: the gerror interrupt (IHI 0070 4.1.3)
  assert.equal(heard, 1);
});

Deno.test("guardMemory: only our own memories, by identity, go unguarded; a look-alike's exceptions are aborts", () => {
  const ours = new SparseMemory();
  const fails = () => {
    throw new Error("proxy fails");
  };
  const throwing = (m: GuestMemory): GuestMemory =>
    new Proxy(m, { get: (o, k) => (k === "read32" ? fails : Reflect.get(o, k)) });
  // A Proxy of our memory, a subclass of it, and a patched instance: each is a host memory, guarded.
  class Sub extends SparseMemory {
    override read32(_addr: number): number {
      throw new Error("subclass fails");
    }
  }
  for (const [name, memory] of [["a Proxy", throwing(ours)], ["a subclass", new Sub()]] as const) {
    const smmu = new Smmu({ memory });
    smmu.mmioWrite(REG.CR0, 4, 1n); // SMMUEN with STRTAB_BASE 0: the STE fetch reads memory, which throws
    const r = smmu.translate(0, 0x1000); // StreamID 0: its STE is read at STRTAB_BASE, 0
    assert.equal(r.ok, false, name);
    assert.equal(!r.ok && r.fault, "F_STE_FETCH", `${name}: the throw became an abort`);
  }
  // Our instances and classes cannot be patched, so an instance that is ours behaves as ours.
  assert.throws(() => Object.assign(ours, { read32: () => 0 }), TypeError);
  assert.throws(() => Object.assign(SparseMemory.prototype, { read32: () => 0 }), TypeError);
  assert.throws(() => Object.assign(new FlatMemory(16), { read32: () => 0 }), TypeError);
});
