/**
 * The guest side, for demos, tools and test benches: a small Linux-like driver ({@link Driver}) and builders of the
 * structures a driver puts in guest memory (STEs, CDs, CD tables, translation tables for every granule and stage).
 * @module
 */
export { command, DEFAULT_LAYOUT, Driver, LINUX_CR2 } from "./driver.ts";
export type { DriverLayout } from "./driver.ts";
export { Allocator, cdAt, cdTable, PageTable, readWords, s1Leaf, steAt, writeStruct } from "./tables.ts";
export type { CdTable, Fields, Leaf, Values } from "./tables.ts";
