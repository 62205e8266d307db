/**
 * The shapes of the host's arguments: every `Smmu` option, and the objects the public calls take (access flags,
 * observers), checked before anything changes. A wrong shape throws {@link OptionsError} (options) or
 * {@link HostError} (calls) naming the argument by its path, `options.features.granules` say. Values within a right
 * shape are the business of their owners (src/registers/features.ts for features and ID registers).
 *
 * Exhaustive by construction: each table below has a key for every field of its type, so adding an option without
 * deciding how to check it fails `deno check`.
 * @module
 */
import type { GuestMemory } from "../core/memory.ts";
import type { IdRegisterValues, SmmuFeatures } from "../registers/features.ts";
import type { InterruptSinks, MsiSink } from "./irq.ts";
import type { EndpointHooks } from "./commands.ts";
import type { CacheLimits } from "../translation/tlb.ts";
import { type Access, type SmmuObserver, SSID_LIMIT } from "../core/types.ts";
import { TWO_32 } from "../core/numbers.ts";
import { HostError, OptionsError, shown } from "../core/errors.ts";

/**
 * Options of `Smmu`, checked at construction (a wrong shape, a callback that is not a function, an unknown
 * option: {@link OptionsError} naming it).
 *
 * Callbacks and re-entrancy: the interrupt sinks, `onMsi`, `schedule` and a stalled transaction's `onEnd` (with the
 * retry or termination that ends it) are deferred: they run, in the order raised, when the device call that raised
 * them has finished its work, just before it returns; from them the host may call anything (register accesses, DMA,
 * save, restore, reset). Observers and endpoint hooks (CMD_ATC_INV, CMD_PRI_RESP and the automatic responses of
 * `pri.request`) run in the middle of a command or request: they may access registers, translate and DMA, but `save`,
 * `restore` and `reset` throw {@link HostError} there. GuestMemory methods must not call the device (a call throws
 * HostError).
 */
export interface SmmuOptions {
  /** Guest physical memory: tables, queues, MSI targets and DMA data. Called in the middle of accesses: it must
   * not call back into the device. */
  memory: GuestMemory;
  /** Features to advertise, in plain words (defaults suit a Linux guest). Exclusive with `idRegisters`. */
  features?: SmmuFeatures;
  /**
   * Exact ID register values to advertise (to match a host or another model). Values this emulator cannot honour
   * are refused with an {@link OptionsError}. Exclusive with `features`.
   */
  idRegisters?: IdRegisterValues;
  /** Wired interrupt sinks, one edge callback per interrupt kind. */
  interrupts?: InterruptSinks;
  /** Told of every MSI, after its 32-bit write to guest memory. */
  onMsi?: MsiSink;
  /** Host models of ATS/PRI endpoints, for CMD_ATC_INV and CMD_PRI_RESP. */
  endpoints?: EndpointHooks;
  /**
   * Most commands one access (or one `schedule` continuation) runs. Default: with `schedule`, 1024; without it, the
   * whole queue (its 2^CMDQ_BASE.LOG2SIZE entries, at most 2^19), so that a guest that publishes a full ring and then
   * only polls memory for its CMD_SYNC completion finishes. Commands beyond the budget run in the continuation, or
   * on the guest's next PROD write, CMDQ_CONS read, GERRORN acknowledgement or CR0 write.
   */
  commandBudget?: number;
  /**
   * The host's way to run work later (`queueMicrotask`, a timer, its event loop): when a batch stops at
   * `commandBudget` with commands left, the device calls `schedule(resume)` once; the host calls `resume()` later
   * (a deferred callback: never in the middle of an access), which runs the next batch and schedules again while
   * commands remain. A `resume` from before a restore or reset does nothing.
   */
  schedule?: (resume: () => void) => void;
  /** Bounds of the configuration cache and TLBs (host memory use); the defaults suit 65,536 streams. */
  cacheLimits?: CacheLimits;
}

/** Checks `v`, found at `path`; throws `E` naming the path. */
type Check = (v: unknown, path: string, E: typeof HostError) => void;

const fail = (E: typeof HostError, path: string, want: string, v: unknown): never => {
  throw new E(`${path} must be ${want}, got ${shown(v)}`);
};

const optional = (c: Check): Check => (v, p, E) => {
  if (v !== undefined) c(v, p, E);
};
const fn: Check = (v, p, E) => {
  if (typeof v !== "function") fail(E, p, "a function", v);
};
const bool: Check = (v, p, E) => {
  if (typeof v !== "boolean") fail(E, p, "a boolean", v);
};
const num: Check = (v, p, E) => {
  if (typeof v !== "number") fail(E, p, "a number", v);
};
const str: Check = (v, p, E) => {
  if (typeof v !== "string") fail(E, p, "a string", v);
};
const integer = (min: number, what: string): Check => (v, p, E) => {
  if (!(typeof v === "number" && Number.isSafeInteger(v) && v >= min)) fail(E, p, what, v);
};
const arrayOf = (c: Check): Check => (v, p, E) => {
  if (!Array.isArray(v)) fail(E, p, "an array", v);
  (v as unknown[]).forEach((x, i) => c(x, `${p}[${i}]`, E));
};
const isObject = (v: unknown): v is Record<string, unknown> =>
  (typeof v === "object" && v !== null && !Array.isArray(v)) || typeof v === "function";

/**
 * An object with these fields. `closed`: plain data, whose unknown own keys are refused (a misspelt option); else a
 * host object (sinks, hooks) that may carry state of its own.
 */
function shape<T>(fields: { [K in keyof Required<T>]: Check }, closed: boolean): Check {
  return (v, p, E) => {
    if (!isObject(v)) fail(E, p, "an object", v);
    const o = v as Record<string, unknown>;
    for (const [k, c] of Object.entries(fields) as [string, Check][]) c(o[k], `${p}.${k}`, E);
    if (!closed) return;
    for (const k of Object.keys(o)) {
      if (!(k in fields)) throw new E(`${p}.${k} is not known (known: ${Object.keys(fields).join(", ")})`);
    }
  };
}

const FEATURES = shape<SmmuFeatures>({
  stage1: optional(bool),
  stage2: optional(bool),
  granules: optional(arrayOf(num)),
  oas: optional(num),
  va52: optional(bool),
  sidBits: optional(num),
  ssidBits: optional(num),
  cmdqLog2: optional(num),
  eventqLog2: optional(num),
  priqLog2: optional(num),
  twoLevelStreamTable: optional(bool),
  twoLevelCdTable: optional(bool),
  msi: optional(bool),
  rangeInvalidation: optional(bool),
  asid16: optional(bool),
  vmid16: optional(bool),
  hyp: optional(bool),
  ats: optional(bool),
  pri: optional(bool),
  stalls: optional(str),
  stallMax: optional(num),
  sev: optional(bool),
  httu: optional(str),
  bbml: optional(num),
  hierarchicalAttributeDisable: optional(bool),
  xnx: optional(bool),
  smallTables: optional(bool),
  e0pd: optional(bool),
}, true);

const u32: Check = (v, p, E) => {
  if (!(typeof v === "number" && Number.isInteger(v) && v >= 0 && v < TWO_32)) fail(E, p, "a 32-bit value", v);
};

/** Smallest accepted cache limits: the TLB needs room for one context's pages. */
const CACHE_LIMIT_MINIMA: Readonly<Required<CacheLimits>> = { contexts: 1, streams: 1, entries: 16 };
const limit = (k: keyof CacheLimits) =>
  optional(integer(CACHE_LIMIT_MINIMA[k], `an integer of at least ${CACHE_LIMIT_MINIMA[k]}`));

/** The sink kinds, in one place (the fuzzer and the docs list them too). */
export const INTERRUPT_KINDS = ["eventq", "gerror", "priq", "cmdqSync", "sev"] as const satisfies readonly (
  keyof InterruptSinks
)[];

const OPTIONS = shape<SmmuOptions>({
  memory: (v, p, E) => {
    if (!isObject(v)) fail(E, p, "a GuestMemory (read32, write32, read, write)", v);
  },
  features: optional(FEATURES),
  idRegisters: optional(shape({ IDR0: u32, IDR1: u32, IDR3: u32, IDR5: u32 }, true)),
  interrupts: optional(
    shape<InterruptSinks>({
      eventq: optional(fn),
      gerror: optional(fn),
      priq: optional(fn),
      cmdqSync: optional(fn),
      sev: optional(fn),
    }, false),
  ),
  onMsi: optional(fn),
  endpoints: optional(shape<EndpointHooks>({ atcInvalidate: optional(fn), priResponse: optional(fn) }, false)),
  commandBudget: optional(integer(1, "a positive integer")),
  schedule: optional(fn),
  cacheLimits: optional(
    shape<CacheLimits>({ contexts: limit("contexts"), entries: limit("entries"), streams: limit("streams") }, true),
  ),
}, true);

/** Refuses (OptionsError naming the option) options of a wrong shape; nothing else is checked here. */
export function checkOptions(options: unknown): asserts options is SmmuOptions {
  OPTIONS(options, "Smmu: options", OptionsError);
}

const OBSERVER = shape<SmmuObserver>({
  invalidated: optional(fn),
  synced: optional(fn),
  globalChanged: optional(fn),
}, false);

/** Refuses (HostError) an observer of a wrong shape. */
export function checkObserver(observer: unknown): asserts observer is SmmuObserver {
  OBSERVER(observer, "observe: observer", HostError);
}

/** Refuses (HostError naming `what`) access flags of a wrong shape: a few typeof checks, no allocation. */
export function checkAccess(a: unknown, what: string): asserts a is Access | undefined {
  if (a === undefined) return;
  if (typeof a !== "object" || a === null) fail(HostError, what, "an object or undefined", a);
  const x = a as Access;
  if (x.write !== undefined && typeof x.write !== "boolean") fail(HostError, `${what}.write`, "a boolean", x.write);
  if (x.exec !== undefined && typeof x.exec !== "boolean") fail(HostError, `${what}.exec`, "a boolean", x.exec);
  if (x.priv !== undefined && typeof x.priv !== "boolean") fail(HostError, `${what}.priv`, "a boolean", x.priv);
  if (x.ssid !== undefined && !(Number.isInteger(x.ssid) && x.ssid >= 0 && x.ssid < SSID_LIMIT)) {
    fail(HostError, `${what}.ssid`, "a 20-bit SubstreamID", x.ssid);
  }
}
