/**
 * smmuv3: an Arm SMMUv3 IOMMU emulator (Arm IHI 0070) for Deno and the web platform.
 *
 * The guest programs it as it would hardware: MMIO registers, and in guest memory the stream table, context
 * descriptors, translation tables, command queue and event queue. Every layout comes from `registers.yaml`.
 * @module
 */
export { ABORT, FlatMemory, SparseMemory } from "./src/memory.ts";
export type { GuestMemory, SparseMemoryOptions } from "./src/memory.ts";
export { HostError, OptionsError, SavedStateError } from "./src/errors.ts";
export { ACCESS } from "./src/types.ts";
export type { Access, Fault, Invalidation, SmmuObserver, TlbRange } from "./src/types.ts";
/** Everything generated from registers.yaml: layouts and field accessors, enums, the register map. */
export * as spec from "./gen/mod.ts";
