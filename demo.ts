/**
 * `deno task demo`: an emulated SMMUv3 brought up and exercised the way Linux drives one. A guest driver probes the
 * ID registers, puts the stream table and queues in guest memory and enables the SMMU; five devices get bypass, stage
 * 1, stage 2, nested and substream configurations; their DMA runs, faults included, and the event queue is decoded by
 * name. The device is saved mid-traffic and restored into a new instance, and both continue identically. Then I/O page
 * faults, as shared virtual addressing has them: a platform device's DMA stalls, the guest maps the page and resumes it;
 * a PCIe endpoint's ATS request finds no page, its page request reaches the PRI queue, the guest maps it and answers,
 * and the endpoint's retry goes through. Every claim printed is checked: the exit status is 0 only if all checks pass.
 * @module
 */
import {
  Atc,
  type DmaResult,
  type DmaView,
  FlatMemory,
  guest,
  type PriResponse,
  Smmu,
  spec,
  type TranslationResult,
  type WalkStep,
} from "./mod.ts";

const {
  CD_IPS,
  CD_TG0,
  CMD_PRI_RESP_RESP,
  CMD_TLBI_NH_VA,
  EVENT_TYPE,
  EVT_F_TRANSLATION,
  EVT_F_UUT,
  IDR0,
  IDR1,
  IDR5,
  OPCODE,
  PRI_RECORD,
  STE,
  STE_CONFIG,
  STE_CONFIG_NAMES,
  STE_EATS,
  STE_S1DSS,
  STE_S2PS,
  STE_S2TG,
  TT_AP,
  TT_PAGE_S1,
  TT_S2AP,
  TT_TYPE,
} = spec;
const { Allocator, cdAt, cdTable, command, Driver, LINUX_CR2, PageTable } = guest;

const RAM_BASE = 0x4000_0000, RAM_SIZE = 0x800_0000; // 128 MiB of guest RAM
const hex = (v: number | bigint) => `0x${v.toString(16)}`;
/** An event record in one line, read through `spec`: its type, then its fields by name (RnW always, the others when
 * not 0), enumerated values by name, an address split into _LO and _HI halves joined. */
function eventSummary(record: Uint32Array): string {
  const layout = spec.EVENTS.get(EVT_F_UUT.Type.get(record));
  if (layout === undefined) return `event type ${hex(EVT_F_UUT.Type.get(record))}`;
  const parts = [layout.name.replace(/^EVT_/, "")];
  for (const f of layout.fields) {
    if (f.name === "Type" || f.name.endsWith("_LO")) continue;
    const lo = f.name.endsWith("_HI") ? layout.fields.find((x) => x.name === f.name.replace(/_HI$/, "_LO")) : undefined;
    const value = lo !== undefined
      ? (BigInt(f.get(record)) << BigInt(lo.width)) | BigInt(lo.get(record))
      : BigInt(f.get(record)) << BigInt(f.shift ?? 0);
    if (value === 0n && f.name !== "RnW") continue;
    const name = lo !== undefined ? f.name.slice(0, -3) : f.name;
    parts.push(`${name}=${f.enumValues?.[Number(value)] ?? hex(value)}`);
  }
  return parts.join(" ");
}
/** A translation's outcome in one line. */
const formatResult = (r: TranslationResult) =>
  r.ok ? `pa ${hex(r.pa)}` : `fault ${r.fault}${r.event ? "" : " (no event)"}`;
/** A descriptor read of a walk in one line: stage, level, where, what, and the walker's decision. */
const formatWalkStep = (s: WalkStep) =>
  `S${s.stage} L${s.level}  table ${hex(s.tableAddr)}  desc @${hex(s.descAddr)} = 0x${
    ((BigInt(s.descHi >>> 0) << 32n) | BigInt(s.descLo >>> 0)).toString(16).padStart(16, "0")
  }  ${s.decision}`;
const EVENT_NAMES: Record<number, string> = Object.fromEntries(Object.entries(EVENT_TYPE).map(([k, v]) => [v, k]));
const failures: string[] = [];
let checks = 0;
/** Records a check; prints nothing when it passes (the caller's line says what was shown). */
function check(what: string, got: unknown, want: unknown): boolean {
  checks++;
  const ok = JSON.stringify(got) === JSON.stringify(want);
  if (!ok) failures.push(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  return ok;
}
const mark = (ok: boolean) => (ok ? "✓" : "✗ MISMATCH");
const heading = (title: string) => console.log(`\n== ${title}`);

// ---------------------------------------------------------------- 1. bring-up, as arm_smmu_device_probe does it
const memory = new FlatMemory(RAM_SIZE, RAM_BASE);
const smmu = new Smmu({ memory });
const driver = new Driver(smmu, memory);
heading("Bring-up: probe the ID registers, allocate tables and queues, enable");
driver.probe();
const ids = Uint32Array.of(driver.idr0, driver.idr1, smmu.idRegisters.IDR5);
const granules = [[IDR5.GRAN4K, "4K"], [IDR5.GRAN16K, "16K"], [IDR5.GRAN64K, "64K"]] as const;
console.log(
  `  IDR0 ${hex(driver.idr0)}: stage 1 ${IDR0.S1P.get(ids) ? "yes" : "no"}, stage 2 ${
    IDR0.S2P.get(ids) ? "yes" : "no"
  }` +
    `, MSI ${IDR0.MSI.get(ids) ? "yes" : "no"}, 2-level CD tables ${IDR0.CD2L.get(ids) ? "yes" : "no"}`,
);
console.log(
  `  IDR1 ${hex(driver.idr1)}: ${IDR1.SIDSIZE.get(ids, 1)}-bit StreamIDs, ${IDR1.SSIDSIZE.get(ids, 1)}-bit ` +
    `SubstreamIDs; IDR5: granules ${granules.filter(([f]) => f.get(ids, 2)).map(([, n]) => n).join("/")}`,
);
driver.reset({ cr2: LINUX_CR2 });
const { strtab, cmdq, eventq, sidBits } = driver.layout;
console.log(`  stream table ${hex(strtab)} (linear, ${2 ** sidBits} STEs)`);
console.log(`  command queue ${hex(cmdq)} (${2 ** driver.cmdqLog2} entries), event queue ${hex(eventq)}`);
console.log(
  `  CR0 = CR0ACK = ${hex(driver.read(0x24))}: SMMUEN, EVENTQEN, CMDQEN ${
    mark(check("CR0ACK", driver.read(0x24), 0xd))
  }`,
);

// ---------------------------------------------------------------- 2. five devices
heading("Devices: one stream table entry each");
const alloc = new Allocator(0x4300_0000);
const RO_PAGE = { AP: TT_AP.RO_ANY };
// gpu: stage 1, 4 KiB granule, 48-bit VA (a 4-level walk); a page, a read-only page and a 2 MiB block.
const gpu = new PageTable(memory, alloc, 12, 48, 0);
gpu.map(0x1000_0000, 0x4400_0000);
gpu.map(0x1000_1000, 0x4400_1000, 3, RO_PAGE);
gpu.map(0x1020_0000, 0x4420_0000, 2);
const gpuCd = alloc.alloc(64, 64);
const s1Cd = { V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, IPS: CD_IPS.BITS_48 };
cdAt(memory, gpuCd, { ...s1Cd, T0SZ: 16, TG0: CD_TG0.GRAN_4K, TTB0: gpu.root, ASID: 1 });
driver.writeSte(1, STE_CONFIG.BYPASS);
driver.writeSte(2, STE_CONFIG.S1_TRANS, (s) => STE.S1ContextPtr.setAddress(s, gpuCd));
// vm-nic: stage 2 only, 64 KiB granule, 40-bit IPA starting at level 2; one page read/write, one read-only.
const vm = new PageTable(memory, alloc, 16, 40, 2);
vm.map(0x8000_0000, 0x4600_0000, 3, {}, 2);
vm.map(0x8001_0000, 0x4601_0000, 3, { S2AP: TT_S2AP.RO }, 2);
const s2 = (root: number, vmid: number, tg: number, sl0: number) => (s: Uint32Array) => {
  STE.S2VMID.set(s, vmid);
  STE.S2T0SZ.set(s, 24);
  STE.S2SL0.set(s, sl0);
  STE.S2TG.set(s, tg);
  STE.S2PS.set(s, STE_S2PS.BITS_48);
  STE.S2AA64.set(s, 1);
  STE.S2R.set(s, 1);
  STE.S2TTB.setAddress(s, root);
};
driver.writeSte(3, STE_CONFIG.S2_TRANS, s2(vm.root, 3, STE_S2TG.GRAN_64K, 1));
// vm-gpu: nested. Stage 2 maps IPA 0x1_0000_0000 + 2 MiB onto PA 0x45000000; the guest's CD and stage-1 tables
// live at IPAs in that window, so every stage-1 table fetch is itself translated by stage 2.
const IPA_WINDOW = 0x1_0000_0000, WINDOW_PA = 0x4500_0000;
const toPa = (ipa: number) => ipa - IPA_WINDOW + WINDOW_PA;
const nestedS2 = new PageTable(memory, alloc, 12, 40, 1);
nestedS2.map(IPA_WINDOW, WINDOW_PA, 2, {}, 2);
const guestRam = new Allocator(IPA_WINDOW);
const nestedS1 = new PageTable(memory, guestRam, 12, 39, 1, toPa);
nestedS1.map(0x4000, IPA_WINDOW + 0x10_0000);
nestedS1.map(0x5000, 0x2_0000_0000); // an IPA stage 2 does not map
nestedS1.map(0x6000, IPA_WINDOW + 0x10_1000);
const nestedCd = guestRam.alloc(64, 64);
cdAt(memory, toPa(nestedCd), { ...s1Cd, T0SZ: 25, TG0: CD_TG0.GRAN_4K, TTB0: nestedS1.root, ASID: 7 });
driver.writeSte(4, STE_CONFIG.NESTED, (s) => {
  s2(nestedS2.root, 4, STE_S2TG.GRAN_4K, 1)(s);
  STE.S1ContextPtr.setAddress(s, nestedCd);
});
// accel: substreams (PASIDs). A CD table of 4; SSID 1 uses 4 KiB pages, SSID 2 16 KiB pages, SSID 3 has no valid CD;
// transactions without a SubstreamID bypass stage 1 (S1DSS).
const cds = cdTable(memory, alloc, 2);
const pasid1 = new PageTable(memory, alloc, 12, 48, 0);
pasid1.map(0x10_0000, 0x4700_0000);
cdAt(memory, cds.cd(1), { ...s1Cd, T0SZ: 16, TG0: CD_TG0.GRAN_4K, TTB0: pasid1.root, ASID: 11 });
const pasid2 = new PageTable(memory, alloc, 14, 47, 1);
pasid2.map(0x10_0000, 0x4710_0000);
cdAt(memory, cds.cd(2), { ...s1Cd, T0SZ: 17, TG0: CD_TG0.GRAN_16K, TTB0: pasid2.root, ASID: 12 });
driver.writeSte(5, STE_CONFIG.S1_TRANS, (s) => {
  STE.S1ContextPtr.setAddress(s, cds.ptr);
  STE.S1CDMax.set(s, 2);
  STE.S1DSS.set(s, STE_S1DSS.BYPASS);
});
// StreamID 6 keeps an all-zero (invalid) STE.
check("CMD_SYNC after CFGI_ALL", driver.invalidateAll(), true);
const DEVICES: Record<number, string> = { 1: "nic", 2: "gpu", 3: "vm-nic", 4: "vm-gpu", 5: "accel", 6: "rogue" };
const WANT_CONFIG = ["BYPASS", "S1_TRANS", "S2_TRANS", "NESTED", "S1_TRANS", "C_BAD_STE"];
for (const sid of [1, 2, 3, 4, 5, 6]) {
  const c = smmu.streamConfig(sid);
  const got = "config" in c ? STE_CONFIG_NAMES[c.config] : EVENT_NAMES[c.fault.type];
  const detail = "config" in c
    ? `${
      c.s1
        ? `${c.s1.cdMax ? `CD table of ${2 ** c.s1.cdMax}` : "CD"} at ${hex(c.s1.contextPtr)}${c.s2 ? " (IPA)" : ""}`
        : ""
    }` +
      `${c.s1 && c.s2 ? "; " : ""}${c.s2 ? `stage 2 ${2 ** (c.s2.granuleShift - 10)} KiB, VMID ${c.vmid}` : ""}`
    : c.reason;
  const ok = check(`StreamID ${sid} configuration`, got, WANT_CONFIG[sid - 1]);
  console.log(`  StreamID ${sid}  ${DEVICES[sid].padEnd(7)} ${got.padEnd(9)} ${detail} ${mark(ok)}`);
}

// ---------------------------------------------------------------- 3. DMA traffic
/** One DMA: `len` bytes by device `sid` (substream `ssid`), expected to reach `pa` or to fault with `fault`. */
interface Dma {
  sid: number;
  ssid?: number;
  write: boolean;
  iova: number;
  expect: number | string;
}
const PATTERN = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);
/** A memo of one instance's DMA views, one per device (as a VMM hands each device its view once). */
function viewsOf(target: Smmu): (sid: number, ssid?: number) => DmaView {
  const views = new Map<string, DmaView>();
  return (sid, ssid) => {
    const key = `${sid}/${ssid}`;
    if (!views.has(key)) views.set(key, target.dmaView(sid, { ssid }));
    return views.get(key)!;
  };
}

/** Runs the DMAs on `target` (over `mem`), returns one transcript line each, checking data and outcome. */
function runTraffic(
  target: Smmu,
  mem: FlatMemory,
  list: readonly Dma[],
  views: (sid: number, ssid?: number) => DmaView,
) {
  const lines: string[] = [];
  for (const d of list) {
    const buf = d.write ? PATTERN.slice() : new Uint8Array(64);
    const dev = views(d.sid, d.ssid);
    const pa = target.probe(d.sid, d.iova, { write: d.write, ssid: d.ssid });
    const r = d.write ? dev.write(d.iova, buf) : dev.read(d.iova, buf);
    const got = r.ok ? (pa.ok ? pa.pa : -1) : (pa.ok ? "?" : pa.fault);
    let ok = check(`DMA sid ${d.sid} ${hex(d.iova)}`, got, d.expect);
    if (r.ok && pa.ok) {
      const landed = mem.bytes.subarray(pa.pa - RAM_BASE, pa.pa - RAM_BASE + 64);
      ok = check(`data at ${hex(pa.pa)}`, [...(d.write ? landed : buf)], [...(d.write ? PATTERN : landed)]) && ok;
    }
    const who = `${DEVICES[d.sid] ?? "unknown"} sid ${d.sid}${d.ssid === undefined ? "" : ` ssid ${d.ssid}`}`;
    lines.push(
      `  ${who.padEnd(19)} ${d.write ? "write" : "read "} iova ${hex(d.iova).padEnd(11)} → ${
        formatResult(pa).padEnd(22)
      } ${mark(ok)}`,
    );
  }
  return lines;
}
const devView = viewsOf(smmu);

heading("DMA traffic (64 bytes each; data checked at the physical address)");
const traffic1: Dma[] = [
  { sid: 1, write: true, iova: 0x4740_0000, expect: 0x4740_0000 },
  { sid: 2, write: true, iova: 0x1000_0040, expect: 0x4400_0040 },
  { sid: 2, write: false, iova: 0x1000_1000, expect: 0x4400_1000 },
  { sid: 2, write: true, iova: 0x1023_4000, expect: 0x4423_4000 },
  { sid: 3, write: true, iova: 0x8000_2000, expect: 0x4600_2000 },
  { sid: 4, write: true, iova: 0x4080, expect: WINDOW_PA + 0x10_0080 },
  { sid: 5, ssid: 1, write: true, iova: 0x10_0100, expect: 0x4700_0100 },
  { sid: 5, ssid: 2, write: true, iova: 0x10_0100, expect: 0x4710_0100 },
  { sid: 5, write: true, iova: 0x4720_0000, expect: 0x4720_0000 },
  { sid: 2, write: true, iova: 0x1000_1000, expect: "F_PERMISSION" },
  { sid: 2, write: false, iova: 0x2000_0000, expect: "F_TRANSLATION" },
  { sid: 3, write: true, iova: 0x8001_0000, expect: "F_PERMISSION" },
  { sid: 4, write: false, iova: 0x5000, expect: "F_TRANSLATION" },
  { sid: 5, ssid: 3, write: true, iova: 0x10_0000, expect: "C_BAD_CD" },
  { sid: 6, write: true, iova: 0x1000, expect: "C_BAD_STE" },
  { sid: 0x300, write: true, iova: 0x1000, expect: "C_BAD_STREAMID" },
];
for (const line of runTraffic(smmu, memory, traffic1, devView)) console.log(line);

// ---------------------------------------------------------------- 4. the event queue
heading("Event queue: what the driver's event thread reads");
const wantEvents = [
  "F_PERMISSION",
  "F_TRANSLATION",
  "F_PERMISSION",
  "F_TRANSLATION",
  "C_BAD_CD",
  "C_BAD_STE",
  "C_BAD_STREAMID",
];
const records = driver.events();
for (const r of records) console.log(`  ${eventSummary(r)}`);
const names = records.map((r) => EVENT_NAMES[EVT_F_UUT.Type.get(r)]);
console.log(`  ${records.length} records, in order ${mark(check("event types", names, wantEvents))}`);

// ---------------------------------------------------------------- 5. one walk, step by step
heading("A nested walk, step by step (probe: no side effects)");
const walk: WalkStep[] = [];
const nestedResult = smmu.probe(4, 0x6010, { write: false }, walk);
for (const step of walk) console.log(`  ${formatWalkStep(step)}`);
console.log(
  `  → ${formatResult(nestedResult)}: each stage-1 table address went through stage 2 first ${
    mark(check("nested walk", [
      walk.filter((w) => w.stage === 1).length,
      nestedResult,
    ], [3, { ok: true, pa: WINDOW_PA + 0x10_1010 }]))
  }`,
);

// ---------------------------------------------------------------- 6. save mid-traffic, restore, continue
heading("Save mid-traffic, restore into a new instance, continue both");
// More traffic leaves two events unread in the queue and the TLB warm; then the device is saved.
runTraffic(smmu, memory, [
  { sid: 2, write: true, iova: 0x1000_0000, expect: 0x4400_0000 },
  { sid: 2, write: false, iova: 0x3000_0000, expect: "F_TRANSLATION" },
  { sid: 3, write: true, iova: 0x8001_0040, expect: "F_PERMISSION" },
], devView);
const blob = smmu.save();
const memoryCopy = new FlatMemory(RAM_SIZE, RAM_BASE);
memoryCopy.bytes.set(memory.bytes);
const restored = new Smmu({ memory: memoryCopy });
restored.restore(blob);
console.log(`  saved ${blob.length} bytes with 2 events unread; restored into a new Smmu over a copy of guest memory`);

// The remap the guest does next: IOVA 0x10000000 of the gpu moves to PA 0x44008000 (a new leaf, TLBI by VA, sync).
const REMAP_IOVA = 0x1000_0000, REMAP_PA = 0x4400_8000;
const remapDesc = gpu.descAddr(REMAP_IOVA, 3);
const newLeaf = new Uint32Array(2);
TT_PAGE_S1.Valid.set(newLeaf, 1);
TT_PAGE_S1.Type.set(newLeaf, TT_TYPE.TABLE_OR_PAGE);
TT_PAGE_S1.AF.set(newLeaf, 1);
TT_PAGE_S1.AP.set(newLeaf, TT_AP.RW_ANY);
TT_PAGE_S1.OA.setAddress(newLeaf, REMAP_PA);
const traffic2: Dma[] = [
  { sid: 2, write: true, iova: REMAP_IOVA + 0x80, expect: REMAP_PA + 0x80 },
  { sid: 4, write: false, iova: 0x4080, expect: WINDOW_PA + 0x10_0080 },
  { sid: 5, ssid: 2, write: false, iova: 0x10_0100, expect: 0x4710_0100 },
  { sid: 2, write: true, iova: 0x1000_1000, expect: "F_PERMISSION" },
  { sid: 6, write: false, iova: 0x2000, expect: "C_BAD_STE" },
];

/** What the guest does after the save point, on either instance; returns everything it observed. */
function continueTraffic(target: Smmu, mem: FlatMemory): string[] {
  const guest = new Driver(target, mem);
  guest.probe();
  const seen = guest.events().map((r) => `event ${eventSummary(r)}`);
  mem.write32(remapDesc, newLeaf[0]);
  mem.write32(remapDesc + 4, newLeaf[1]);
  guest.issue(command(OPCODE.TLBI_NH_VA, (c) => {
    CMD_TLBI_NH_VA.ASID.set(c, 1);
    CMD_TLBI_NH_VA.Address.setAddress(c, REMAP_IOVA);
  }));
  seen.push(`CMD_TLBI_NH_VA + CMD_SYNC completed: ${guest.sync()}`);
  seen.push(...runTraffic(target, mem, traffic2, target === smmu ? devView : viewsOf(target)));
  seen.push(...guest.events().map((r) => `event ${eventSummary(r)}`));
  return seen;
}
const fromOriginal = continueTraffic(smmu, memory);
const fromRestored = continueTraffic(restored, memoryCopy);
for (const line of fromRestored) console.log(`  ${line.trim()}`);
const differing = fromOriginal.flatMap((
  l,
  i,
) => (l === fromRestored[i] ? [] : [`  original: ${l}\n  restored: ${fromRestored[i]}`]));
check("original vs restored transcript", differing, []);
check("original vs restored length", fromOriginal.length, fromRestored.length);
let sameBytes = memory.bytes.length === memoryCopy.bytes.length;
for (let i = 0; sameBytes && i < memory.bytes.length; i += 4096) {
  sameBytes = memory.bytes.subarray(i, i + 4096).every((b, j) => b === memoryCopy.bytes[i + j]);
}
check("guest memory after both runs", sameBytes, true);
check("saved state after both runs", [...restored.save()], [...smmu.save()]);
for (const d of differing) console.log(d);
console.log(
  `  original and restored: ${fromOriginal.length} observations, guest memory and saved state identical ${
    mark(differing.length === 0 && sameBytes && fromOriginal.length === fromRestored.length)
  }`,
);

// ---------------------------------------------------------------- 7. I/O page faults (IHI 0070 3.12.2, 3.9.1, 8)
heading("I/O page faults: a device faults, the guest's handler maps the page, the device retries");
{
  const mem = new FlatMemory(0x400_0000, 0x4000_0000); // 64 MiB of its own
  const responses: PriResponse[] = [];
  let atc: Atc | null = null;
  const sva = new Smmu({
    memory: mem,
    endpoints: { priResponse: (r) => void responses.push(r), atcInvalidate: (inv) => atc?.invalidate(inv) },
  });
  const drv = new Driver(sva, mem);
  drv.probe();
  drv.reset({ cr2: LINUX_CR2, pri: true, atschk: true });
  const al = new Allocator(0x4200_0000);
  const space = (sid: number, ste: (w: Uint32Array) => void, cdS: number) => {
    const tables = new PageTable(mem, al, 12, 48, 0);
    const cd = al.alloc(64, 64);
    cdAt(mem, cd, {
      ...{ V: 1, AA64: 1, A: 1, R: 1, S: cdS, HA: 1, EPD1: 1, T0SZ: 16, TG0: CD_TG0.GRAN_4K },
      ...{ IPS: CD_IPS.BITS_48, TTB0: tables.root, ASID: sid },
    });
    drv.writeSte(sid, STE_CONFIG.S1_TRANS, (w) => (STE.S1ContextPtr.setAddress(w, cd), ste(w)));
    drv.invalidateSte(sid);
    return tables;
  };
  // A platform device (StreamID 6) with the stall model: CD.S = 1, as Linux sets it for a stall-capable master.
  const dma = space(6, () => {}, 1);
  dma.map(0x10_0000, 0x4300_0000);
  mem.write(0x4300_0ffc, Uint8Array.of(1, 2, 3, 4));
  mem.write(0x4310_0000, Uint8Array.of(5, 6, 7, 8));
  const buf = new Uint8Array(8);
  const r = sva.dmaView(6).read(0x10_0ffc, buf); // its second page is not mapped yet
  const stall = !r.ok ? r.stall : undefined;
  let ended: DmaResult | null = null;
  if (stall) stall.onEnd = (res) => void (ended = res);
  console.log(
    `  dma sid 6 read 0x100ffc (8 bytes) → ${r.ok ? "done" : `stalled after ${r.done} bytes at ${hex(r.iova)}`} ${
      mark(check("the copy stalls", [r.ok, !r.ok && r.done, stall?.state], [false, 4, "stalled"]))
    }`,
  );
  const [ev] = drv.events();
  console.log(`  event ${eventSummary(ev)}`);
  const stag = EVT_F_TRANSLATION.STAG.get(ev);
  check("the record's Stall and STAG", [EVT_F_TRANSLATION.Stall.get(ev), stag], [1, stall?.stag]);
  dma.map(0x10_1000, 0x4310_0000); // the guest's fault handler (iopf) makes the page present …
  drv.resume(6, stag, true); // … and answers the stall with CMD_RESUME(Retry)
  console.log(
    `  map 0x101000, CMD_RESUME(sid 6, STAG ${stag}, retry) → the copy completes: ${[...buf].join(",")} ${
      mark(check("the retried copy", [ended, [...buf]], [{ ok: true }, [1, 2, 3, 4, 5, 6, 7, 8]]))
    }`,
  );

  // A PCIe endpoint (StreamID 7) with ATS and PRI: full ATS in its STE (STE.S1STALLD: PCIe must not stall).
  const pci = space(7, (w) => (STE.EATS.set(w, STE_EATS.FULL), STE.S1STALLD.set(w, 1)), 0);
  mem.write(0x4320_0010, Uint8Array.of(9, 10, 11, 12));
  atc = new Atc(sva.ats, mem, 7);
  const page = new Uint8Array(4);
  const miss = atc.read(0x20_0010, page);
  const denied = !miss.ok && "denied" in miss ? miss.denied : null;
  console.log(
    `  ats sid 7 0x200010 → ${denied?.status} R=${denied?.status === "success" && +denied.read} W=${
      denied?.status === "success" && +denied.write
    } (not present) ${
      mark(check("the completion grants nothing", denied, {
        status: "success",
        address: 0,
        size: 4096,
        read: false,
        write: false,
        exec: false,
        priv: false,
      }))
    }`,
  );
  const outcome = sva.pri.request({ sid: 7, address: 0x20_0010, read: true, group: 5, last: true });
  const [ppr] = drv.pageRequests();
  const addr = PRI_RECORD.Address.getAddress(ppr);
  console.log(
    `  page request (group 5, last) → ${outcome}; PRI queue record: StreamID ${PRI_RECORD.StreamID.get(ppr)} ` +
      `page ${hex(addr)} R ${PRI_RECORD.R.get(ppr)} ${
        mark(check("the PRI record", [outcome, addr, PRI_RECORD.PRGIndex.get(ppr)], ["queued", 0x20_0000, 5]))
      }`,
  );
  pci.map(addr, 0x4320_0000); // the guest pages it in, then answers the group
  drv.priResponse(7, -1, PRI_RECORD.PRGIndex.get(ppr), CMD_PRI_RESP_RESP.SUCCESS);
  const again = atc.read(0x20_0010, page);
  console.log(
    `  CMD_PRI_RESP(Success) → the endpoint retries: ${[...page].join(",")} ${
      mark(check("the retry", [responses.map((x) => x.code), again, [...page]], [[0], { ok: true }, [9, 10, 11, 12]]))
    }`,
  );
}

// ---------------------------------------------------------------- 8. figures
heading("Figures");
const N = 200_000;
const hot = smmu.dmaView(2);
const buf = new Uint8Array(8);
let start = performance.now();
for (let i = 0; i < N; i++) hot.read(0x1020_0000 + (i & 63) * 4096, buf);
const hitRate = (s: typeof smmu.stats) => s.translation.tlbHits / s.translation.translations;
let seconds = (performance.now() - start) / 1000;
console.log(`  ${(N / seconds / 1e6).toFixed(1)} M translated 8-byte DMA reads per second (TLB hits, 2 MiB block)`);
start = performance.now();
let walks = 0;
for (let i = 0; i < 2000; i++) {
  driver.issue(command(OPCODE.TLBI_NH_ALL));
  driver.sync();
  walks += smmu.translate(2, 0x1000_0000, {}).ok ? 1 : 0;
}
seconds = (performance.now() - start) / 1000;
console.log(`  ${(walks / seconds / 1e3).toFixed(0)} k (invalidate all + sync + 4-level walk) per second`);
const s = smmu.stats;
console.log(
  `  TLB hit rate ${(100 * hitRate(s)).toFixed(2)}% of ${s.translation.translations} translations; ` +
    `${s.translation.walks} walks; ${s.eventsWritten} events raised, ${s.eventsLost} lost; ${s.commands} commands`,
);
check("events raised by the original", s.eventsWritten, 7 + 2 + 2);
check("no events lost", s.eventsLost, 0);

// ---------------------------------------------------------------- verdict
if (failures.length > 0) {
  console.log(`\n${failures.length} of ${checks} checks FAILED:`);
  for (const f of failures) console.log(`  ${f}`);
  Deno.exit(1);
}
console.log(`\nAll ${checks} checks passed.`);
