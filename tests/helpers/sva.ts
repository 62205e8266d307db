/**
 * A device brought up as Linux does it for shared virtual addressing (queues, PRI queue, ATS checking, interrupts),
 * with a builder of stage-1 streams: the common ground of the ATS, PRI and stall tests and the demo's scene.
 */
import { CD_IPS, CD_TG0, STE, STE_CONFIG, STE_S1DSS } from "../../gen/mod.ts";
import { guest, type PriResponse, Smmu, type SmmuOptions, SparseMemory } from "../../mod.ts";
import type { AtcInvalidation } from "../../mod.ts";

/** Options of a stage-1 stream: STE fields (by gen/ STE name) and CD fields (by gen/ CD name) beside the defaults. */
export interface StreamOptions {
  ste?: Record<string, number>;
  cd?: Record<string, number>;
  /** With substreams: STE.S1CDMax, a linear CD table whose every CD is the same; S1DSS substream 0. */
  cdMax?: number;
}

export function sva(options: Partial<SmmuOptions> = {}) {
  const memory = (options.memory as SparseMemory | undefined) ?? new SparseMemory({ size: 2 ** 40 });
  const responses: PriResponse[] = [];
  const invalidations: AtcInvalidation[] = [];
  const atcHooks: ((inv: AtcInvalidation) => boolean | void)[] = [];
  const smmu = new Smmu({
    features: { ats: true, pri: true },
    endpoints: {
      priResponse: (r) => void responses.push(r),
      atcInvalidate: (inv) => {
        invalidations.push(inv);
        return atcHooks.every((h) => h(inv) !== false);
      },
    },
    ...options,
    memory,
  });
  const driver = new guest.Driver(smmu, memory);
  driver.probe();
  driver.reset({ cr2: guest.LINUX_CR2, irqs: 0x7, pri: true, atschk: true });
  const alloc = new guest.Allocator(0x5000_0000);
  /** A stage-1 stream `sid` (4 KiB granule, 48-bit VA, ASID = sid): its tables, CD address and STE writer. */
  function stage1(sid: number, o: StreamOptions = {}) {
    const tables = new guest.PageTable(memory, alloc, 12, 48, 0);
    const cds = 2 ** (o.cdMax ?? 0);
    const cd = alloc.alloc(64 * cds, 64 * cds);
    for (let i = 0; i < cds; i++) {
      guest.cdAt(memory, cd + 64 * i, {
        ...{ V: 1, AA64: 1, A: 1, R: 1, EPD1: 1, T0SZ: 16, TG0: CD_TG0.GRAN_4K, IPS: CD_IPS.BITS_48 },
        ...{ TTB0: tables.root, ASID: sid },
        ...o.cd,
      });
    }
    driver.writeSte(sid, STE_CONFIG.S1_TRANS, (ste) => {
      STE.S1ContextPtr.setAddress(ste, cd);
      if (o.cdMax) STE.S1CDMax.set(ste, o.cdMax), STE.S1DSS.set(ste, STE_S1DSS.SSID0);
      for (const [k, v] of Object.entries(o.ste ?? {})) (STE as unknown as Record<string, typeof STE.V>)[k].set(ste, v);
    });
    driver.invalidateSte(sid);
    return { tables, cd };
  }
  return { memory, smmu, driver, alloc, stage1, responses, invalidations, atcHooks };
}
