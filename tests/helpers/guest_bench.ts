/**
 * A device brought up as Linux does it (through the public API and the guest driver), with a table allocator and
 * helpers to build the common streams: the bench the audit tests share.
 */
import assert from "node:assert/strict";
import { CD_IPS, CD_TG0, EVT_F_TRANSLATION, EVT_F_UUT, STE, STE_CONFIG, STE_S2TG } from "../../gen/mod.ts";
import { guest, Smmu, SparseMemory } from "../../mod.ts";
import type { EndpointHooks, GuestMemory, InterruptSinks, MsiSink, SmmuFeatures } from "../../mod.ts";

export const PAGE = 0x1000;

/** A device with its guest driver (queues, stream table, event queue interrupt enabled) and an allocator. */
export function bench(
  features: SmmuFeatures = {},
  hooks: { interrupts?: InterruptSinks; onMsi?: MsiSink; endpoints?: EndpointHooks } = {},
) {
  const memory = new SparseMemory({ size: 2 ** 40 }); // nothing answers at or above 1 TiB
  const smmu = new Smmu({ memory, features, ...hooks });
  const driver = new guest.Driver(smmu, memory);
  driver.probe();
  driver.reset({ cr2: guest.LINUX_CR2, irqs: 0x5 });
  return { memory, smmu, driver, alloc: new guest.Allocator(0x5000_0000) };
}
export type Bench = ReturnType<typeof bench>;

/** The one event record the queue holds now (asserts there is exactly one). */
export function onlyEvent(b: Bench): Uint32Array {
  const events = b.driver.events();
  assert.equal(events.length, 1, `one event record, got ${events.length}`);
  return events[0];
}

/** The type and input address of a record (every record that has an InputAddr keeps it in bits [191:128]). */
export function inputOf(e: Uint32Array): number {
  return EVT_F_TRANSLATION.InputAddr_LO.get(e) + EVT_F_TRANSLATION.InputAddr_HI.get(e) * 2 ** 32;
}
export const typeOf = (e: Uint32Array): number => EVT_F_UUT.Type.get(e);

/** A CD for 48-bit TTB0 walks over `root` with 4 KiB pages, at `at` (or a fresh one), with extra fields. */
export function cd(
  b: { memory: GuestMemory; alloc: guest.Allocator },
  root: number,
  extra: guest.Values = {},
  at = b.alloc.alloc(64, 64),
): number {
  guest.cdAt(b.memory, at, {
    ...{ V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, TG0: CD_TG0.GRAN_4K, IPS: CD_IPS.BITS_48 },
    ...{ TTB0: root, ASID: 1 },
    ...extra,
  });
  return at;
}

/** STE fields of a 4 KiB stage 2 over `root`: 40-bit IPA from level 1, 48-bit output, faults recorded. */
export function stage2(ste: Uint32Array, root: number, extra: Record<string, number> = {}): void {
  STE.S2VMID.set(ste, 1);
  STE.S2T0SZ.set(ste, 24);
  STE.S2SL0.set(ste, 1);
  STE.S2TG.set(ste, STE_S2TG.GRAN_4K);
  STE.S2PS.set(ste, 5);
  STE.S2AA64.set(ste, 1);
  STE.S2R.set(ste, 1);
  STE.S2TTB.setAddress(ste, root);
  for (const [k, v] of Object.entries(extra)) (STE as unknown as guest.Fields)[k].set(ste, v);
}

/** A stage-1 stream `sid` with one CD over fresh 4 KiB tables; `ste` sets more STE fields. Returns the tables. */
export function stage1(b: Bench, sid: number, cdExtra: guest.Values = {}, ste?: (w: Uint32Array) => void) {
  const pt = new guest.PageTable(b.memory, b.alloc, 12, 48, 0);
  const at = cd(b, pt.root, cdExtra);
  b.driver.writeSte(sid, STE_CONFIG.S1_TRANS, (w) => {
    STE.S1ContextPtr.setAddress(w, at);
    ste?.(w);
  });
  b.driver.invalidateSte(sid);
  return pt;
}
