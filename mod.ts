/**
 * smmuv3: an Arm SMMUv3 IOMMU emulator (Arm IHI 0070) for Deno and the web platform.
 *
 * The guest programs it as it would hardware: MMIO registers, and in guest memory the stream table, context
 * descriptors, translation tables, command queue and event queue. Every layout comes from `registers.yaml`.
 *
 * ```ts
 * import { Smmu, SparseMemory } from "@iommu/smmuv3";
 * const memory = new SparseMemory();
 * const smmu = new Smmu({ memory, interrupts: { eventq: () => console.log("event") } });
 * smmu.mmioWrite(0x20, 4, 0x1n); // CR0.SMMUEN
 * const t = smmu.translate(0x8, 0x1000, { write: true });
 * ```
 *
 * Callbacks may call back into the device: interrupt sinks, `onMsi` and `schedule` run when the call that raised
 * them has finished its work; observers and endpoint hooks run in the middle of a command (see {@link SmmuOptions}).
 * @module
 */
export { Smmu } from "./src/device/smmu.ts";
export type { CacheOccupancy, Explanation, SmmuStats, TranslationResult } from "./src/device/smmu.ts";
export type { SmmuOptions } from "./src/device/options.ts";
export type {
  CacheContents,
  CachedContext,
  CachedTranslation,
  ConfigRead,
  ExplainedProbe,
} from "./src/translation/explain.ts";
export type { CacheLimits } from "./src/translation/tlb.ts";
export type { AccessSize } from "./src/registers/regfile.ts";
export type { IdRegisterSet, IdRegisterValues, SmmuFeatures } from "./src/registers/features.ts";
export type { InterruptSinks, MsiSink } from "./src/device/irq.ts";
export type { AtcInvalidation, EndpointHooks, PriResponse } from "./src/device/commands.ts";
export type { PageRequest, PageRequestOutcome, Pri } from "./src/device/priq.ts";
export type { Ats, AtsCompletion, AtsRequest, TranslatedAccess, TranslatedResult } from "./src/translation/ats.ts";
export { Atc } from "./src/endpoint/atc.ts";
export type { AtcAccess, AtcDmaResult, AtcEntry, AtcResult } from "./src/endpoint/atc.ts";
export type { Stall } from "./src/device/stall.ts";
export { DmaView } from "./src/device/dma.ts";
export type { DmaResult } from "./src/device/dma.ts";
export type { ConfigFault, ContextConfig, StreamConfig, StreamStage1 } from "./src/translation/config_types.ts";
export type { Regime } from "./src/translation/regime.ts";
export { STE_CONFIG, STE_S1DSS, STE_S1FMT } from "./gen/mod.ts";
export type { TranslatorStats, WalkStep } from "./src/translation/translate.ts";
export { ABORT, FlatMemory, SparseMemory } from "./src/core/memory.ts";
export type { GuestMemory, SparseMemoryOptions } from "./src/core/memory.ts";
export { HostError, OptionsError, SavedStateError } from "./src/core/errors.ts";
export { ACCESS } from "./src/core/types.ts";
export type { Access, Fault, Invalidation, SmmuObserver, TlbRange } from "./src/core/types.ts";
/** Everything generated from registers.yaml: layouts and field accessors, enums, the register map. */
export * as spec from "./gen/mod.ts";
/**
 * The guest side, for demos, tools and test benches: a Linux-like driver (probe, tables and queues in guest memory,
 * enable, commands, events) and builders of STEs, CDs and translation tables, all through the `spec` accessors.
 */
export * as guest from "./src/guest/mod.ts";
