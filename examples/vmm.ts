/**
 * A VMM-style embedding of the SMMU, small enough to read in one sitting: `deno run examples/vmm.ts`.
 *
 * - The guest's physical address map: RAM, the SMMU's 128 KiB register frame, a block device's registers, and the
 *   interrupt controller's MSI doorbell. The VMM's MMIO trap dispatches the vCPU's loads and stores by address.
 * - Guest memory as the SMMU sees it is the VMM's bus: RAM, plus the doorbell, where a 32-bit write injects an
 *   interrupt into the interrupt controller stub. So MSIs from the SMMU (event queue, CMD_SYNC) and from devices
 *   (their DMA writes, translated like any other) arrive the way they do on hardware.
 * - A virtio-like block device does its DMA through a `DmaView`: it reads a request, writes the data and a status,
 *   and signals completion with an MSI write through the same view.
 * - A "migration": the SMMU's state (`save`), guest RAM and the device's registers move to a fresh VMM, which
 *   `restore`s them; the guest carries on there.
 *
 * Every claim it prints is checked; `main` returns what it saw, for tests/examples_test.ts.
 * @module
 */
import { type DmaView, FlatMemory, guest, type GuestMemory, Smmu, spec } from "../mod.ts";

const RAM_BASE = 0x4000_0000, RAM_SIZE = 0x400_0000; // 64 MiB
const SMMU_BASE = 0x0900_0000, SMMU_SIZE = 0x2_0000;
const BLK_BASE = 0x0a00_0000, BLK_SIZE = 0x1000;
const DOORBELL = 0x0800_0040; // the interrupt controller's MSI doorbell (as a GIC ITS's GITS_TRANSLATER)
const BLK_SID = 0x10; // the block device's StreamID (its PCI requester ID)
const SECTOR = 512;

/** The interrupt controller, as far as this example needs it: MSIs in, pending interrupt IDs out. */
class InterruptController {
  pending: number[] = [];
  inject(id: number): void {
    this.pending.push(id);
  }
}

/** Guest physical memory as devices and the SMMU see it: RAM, and the doorbell that turns writes into interrupts. */
class Bus implements GuestMemory {
  constructor(readonly ram: FlatMemory, readonly gic: InterruptController) {}
  read32 = (addr: number) => this.ram.read32(addr); // the doorbell is write-only: reads there abort
  read = (addr: number, dst: Uint8Array) => this.ram.read(addr, dst);
  write32(addr: number, value: number): boolean {
    if (addr !== DOORBELL) return this.ram.write32(addr, value);
    this.gic.inject(value);
    return true;
  }
  write(addr: number, src: Uint8Array): boolean {
    if (addr !== DOORBELL || src.length !== 4) return this.ram.write(addr, src);
    this.gic.inject(new DataView(src.buffer, src.byteOffset).getUint32(0, true));
    return true;
  }
}

/** Registers of the block device (offsets in its frame). */
const BLK = { REQUEST: 0x0, MSI_ADDR: 0x8, MSI_DATA: 0x10, NOTIFY: 0x18 } as const;

/** A virtio-like block device: a request is 32 bytes at REQUEST (an IOVA): sector, buffer IOVA, length, status IOVA. */
class BlockDevice {
  regs = { request: 0, msiAddr: 0, msiData: 0 };
  #dma: DmaView;
  constructor(smmu: Smmu, readonly disk: Uint8Array) {
    this.#dma = smmu.dmaView(BLK_SID); // every access it makes goes through the SMMU
  }
  mmioWrite(offset: number, value: number): void {
    if (offset === BLK.REQUEST) this.regs.request = value;
    if (offset === BLK.MSI_ADDR) this.regs.msiAddr = value;
    if (offset === BLK.MSI_DATA) this.regs.msiData = value;
    if (offset === BLK.NOTIFY) this.#serve();
  }
  #serve(): void {
    const req = new DataView(new ArrayBuffer(32));
    if (!this.#dma.read(this.regs.request, new Uint8Array(req.buffer)).ok) return; // a request it cannot read
    const [sector, buffer, len, status] = [0, 8, 16, 24].map((at) => Number(req.getBigUint64(at, true)));
    const data = this.disk.subarray(sector * SECTOR, sector * SECTOR + len);
    const ok = this.#dma.write(buffer, data).ok; // a fault stops the copy; the SMMU records an event
    this.#dma.write(status, Uint8Array.of(ok ? 0 : 1)); // VIRTIO_BLK_S_OK or S_IOERR
    const msi = new Uint8Array(4);
    new DataView(msi.buffer).setUint32(0, this.regs.msiData, true);
    this.#dma.write(this.regs.msiAddr, msi); // the completion interrupt: a DMA write like any other
  }
  /** Re-attaches the device to another SMMU (after a migration), with its registers as they were. */
  attach(smmu: Smmu, regs: BlockDevice["regs"]): void {
    this.#dma = smmu.dmaView(BLK_SID);
    this.regs = { ...regs };
  }
}

/** The VMM: guest RAM, the bus, the SMMU, the block device, and the MMIO trap dispatcher. */
class Vmm {
  readonly ram = new FlatMemory(RAM_SIZE, RAM_BASE);
  readonly gic = new InterruptController();
  readonly smmu = new Smmu({ memory: new Bus(this.ram, this.gic) });
  readonly blk: BlockDevice;
  constructor(disk: Uint8Array) {
    this.blk = new BlockDevice(this.smmu, disk);
  }
  /** A trapped load of `size` bytes at guest physical address `pa`. */
  load(pa: number, size: 4 | 8): bigint {
    if (pa >= SMMU_BASE && pa < SMMU_BASE + SMMU_SIZE) return this.smmu.mmioRead(pa - SMMU_BASE, size);
    return 0n; // nothing else here is readable
  }
  /** A trapped store. */
  store(pa: number, size: 4 | 8, value: bigint): void {
    if (pa >= SMMU_BASE && pa < SMMU_BASE + SMMU_SIZE) this.smmu.mmioWrite(pa - SMMU_BASE, size, value);
    else if (pa >= BLK_BASE && pa < BLK_BASE + BLK_SIZE) this.blk.mmioWrite(pa - BLK_BASE, Number(value));
  }
  /** Live migration, the SMMU's part and the rest: architectural state only, caches rebuilt on the other side. */
  migrateTo(next: Vmm): void {
    next.ram.bytes.set(this.ram.bytes);
    next.smmu.restore(this.smmu.save());
    next.blk.attach(next.smmu, this.blk.regs);
    next.gic.pending = [...this.gic.pending];
  }
}

/** Interrupt IDs the guest assigns to its MSIs. */
const IRQ = { EVENTQ: 40, GERROR: 41, BLK: 50 } as const;
const IO_PAGE = 0x1000_0000; // IOVA of the request and status page (PA 0x4380_0000)
const DATA_PAGE = 0x1000_1000; // IOVA of the data buffer (PA 0x4380_1000)

/** The guest: an SMMU driver (the library's Linux-like one) and a block driver, both through trapped MMIO. */
class Guest {
  vmm: Vmm;
  readonly driver: guest.Driver;
  constructor(vmm: Vmm) {
    this.vmm = vmm;
    // The driver's register accesses are the vCPU's loads and stores to the SMMU's frame: they trap to the VMM.
    const regs = {
      mmioRead: (offset: number, size: 4 | 8) => this.vmm.load(SMMU_BASE + offset, size),
      mmioWrite: (offset: number, size: 4 | 8, v: bigint) => this.vmm.store(SMMU_BASE + offset, size, v),
    };
    // Its memory accesses are its CPU's: to the RAM of whichever VMM it runs on.
    const cpu: GuestMemory = {
      read32: (addr) => this.ram.read32(addr),
      write32: (addr, value) => this.ram.write32(addr, value),
      read: (addr, dst) => this.ram.read(addr, dst),
      write: (addr, src) => this.ram.write(addr, src),
    };
    this.driver = new guest.Driver(regs, cpu);
  }

  /** The guest's memory, as its CPU sees it (RAM; after a migration, the new VMM's). */
  get ram(): FlatMemory {
    return this.vmm.ram;
  }

  boot(): void {
    const d = this.driver;
    d.probe();
    d.reset({ irqs: 0 });
    for (
      const [cfg0, cfg1, id] of [[spec.REG.EVENTQ_IRQ_CFG0, spec.REG.EVENTQ_IRQ_CFG1, IRQ.EVENTQ], [
        spec.REG.GERROR_IRQ_CFG0,
        spec.REG.GERROR_IRQ_CFG1,
        IRQ.GERROR,
      ]]
    ) {
      d.write64(cfg0, DOORBELL, 0); // the SMMU's own MSIs go to the doorbell (a physical address)
      d.write(cfg1, id);
    }
    d.write(spec.REG.IRQ_CTRL, 0x5); // GERROR_IRQEN, EVENTQ_IRQEN
    // The block device's address space: its I/O pages, and the doorbell (as Linux maps the ITS page for MSIs).
    const alloc = new guest.Allocator(0x4300_0000);
    const tables = new guest.PageTable(this.ram, alloc, 12, 48, 0);
    tables.map(IO_PAGE, 0x4380_0000);
    tables.map(DATA_PAGE, 0x4380_1000);
    tables.map(DOORBELL & ~0xfff, DOORBELL & ~0xfff);
    const cd = alloc.alloc(64, 64);
    guest.cdAt(this.ram, cd, {
      ...{ V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, TG0: spec.CD_TG0.GRAN_4K, IPS: spec.CD_IPS.BITS_48 },
      ...{ TTB0: tables.root, ASID: 1 },
    });
    d.writeSte(BLK_SID, spec.STE_CONFIG.S1_TRANS, (ste) => spec.STE.S1ContextPtr.setAddress(ste, cd));
    d.invalidateSte(BLK_SID);
    this.#blk(BLK.MSI_ADDR, DOORBELL); // an IOVA: identity-mapped above
    this.#blk(BLK.MSI_DATA, IRQ.BLK);
  }

  #blk(offset: number, value: number): void {
    this.vmm.store(BLK_BASE + offset, 4, BigInt(value));
  }

  /** Reads `len` bytes of `sector` into the buffer at IOVA `buffer`; returns the status and, if 0, the data. */
  read(sector: number, len: number, buffer = DATA_PAGE): { status: number; data: Uint8Array; interrupts: number[] } {
    const req = new DataView(new ArrayBuffer(32));
    [sector, buffer, len, IO_PAGE + 0x100].forEach((v, i) => req.setBigUint64(8 * i, BigInt(v), true));
    this.ram.write(0x4380_0000, new Uint8Array(req.buffer));
    this.#blk(BLK.REQUEST, IO_PAGE);
    this.#blk(BLK.NOTIFY, 0); // the VMM runs the device model in the trap; its MSI is pending when it returns
    const interrupts = this.vmm.gic.pending.splice(0);
    const status = this.ram.bytes[0x380_0100];
    return { status, data: this.ram.bytes.slice(0x380_1000, 0x380_1000 + len), interrupts };
  }
}

/** What the example saw, for its test. */
export interface VmmRun {
  lines: string[];
  events: string[];
  migratedState: Uint8Array;
}

/** Runs the example; `log` prints (console.log by default). Throws if anything is not as the architecture says. */
export function main(log: (line: string) => void = console.log): VmmRun {
  const lines: string[] = [];
  const say = (s: string) => (lines.push(s), log(s));
  const check = (what: string, ok: boolean) => {
    if (!ok) throw new Error(`vmm example: ${what}`);
    say(`  ${what} ✓`);
  };
  const disk = Uint8Array.from({ length: 64 * SECTOR }, (_, i) => (i * 7 + (i >> 9)) & 0xff);
  const source = new Vmm(disk);
  const g = new Guest(source);
  g.boot();
  say("boot: the guest probed and enabled the SMMU through trapped MMIO, and attached the block device");
  check("CR0ACK reads SMMUEN | EVENTQEN | CMDQEN", source.load(SMMU_BASE + spec.REG.CR0ACK, 4) === 0xdn);

  const r1 = g.read(3, 1024);
  say("read of sector 3: the device read the request, wrote the data and status, and sent its MSI, all via DMA");
  check("status OK, data as on disk", r1.status === 0 && r1.data.every((b, i) => b === disk[3 * SECTOR + i]));
  check("the completion interrupt arrived at the interrupt controller", r1.interrupts.join() === `${IRQ.BLK}`);

  const r2 = g.read(5, 16, 0x2000_0000); // a buffer the guest never mapped
  check(
    "an unmapped buffer: status IOERR, and the SMMU's event queue MSI too",
    r2.status === 1 &&
      r2.interrupts.join() === `${IRQ.EVENTQ},${IRQ.BLK}`,
  );
  const events = g.driver.events().map((e) => {
    const type = spec.EVT_F_TRANSLATION.Type.get(e);
    const name = Object.entries(spec.EVENT_TYPE).find(([, v]) => v === type)?.[0];
    return `${name} sid 0x${spec.EVT_F_TRANSLATION.StreamID.get(e).toString(16)} iova 0x${
      spec.EVT_F_TRANSLATION.InputAddr_LO.get(e).toString(16)
    }`;
  });
  check(
    `the guest's event handler read: ${events.join("; ")}`,
    events.join() === "F_TRANSLATION sid 0x10 iova 0x20000000",
  );

  // Migration: pause, move state, resume on a fresh VMM. The guest's view carries on unchanged.
  const destination = new Vmm(disk);
  source.migrateTo(destination);
  g.vmm = destination;
  say("migrated: SMMU state, RAM and device registers restored into a fresh VMM");
  check("the restored SMMU saves the very state it was given", equal(destination.smmu.save(), source.smmu.save()));
  const r3 = g.read(7, 512);
  check(
    "after migration: a read completes on the new VMM, data and interrupt as before",
    r3.status === 0 && r3.data.every((b, i) => b === disk[7 * SECTOR + i]) && r3.interrupts.join() === `${IRQ.BLK}`,
  );
  check("and the guest's SMMU driver still runs commands there", g.driver.invalidateSte(BLK_SID));
  return { lines, events, migratedState: destination.smmu.save() };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

if (import.meta.main) main();
