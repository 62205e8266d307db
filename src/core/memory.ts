/**
 * Guest physical memory as the SMMU sees it: table walks, queue accesses, MSI writes and DMA data.
 *
 * Every access reports an external abort by its return value, never by throwing: an abort is a guest-visible,
 * architected outcome (F_WALK_EABT, CERROR_ABT, GERROR.*_ABT_ERR), not a host error.
 * @module
 */
import { HostError } from "./errors.ts";
import type { HostCalls } from "./host_calls.ts";

/** Result of {@link GuestMemory.read32} when the access aborts (no 32-bit value is negative). */
export const ABORT: number = -1;

/** Guest physical memory. Addresses are numbers below 2^52. */
export interface GuestMemory {
  /** Reads a little-endian 32-bit word at a 4-byte aligned address; {@link ABORT} on an external abort. */
  read32(addr: number): number;
  /** Writes a little-endian 32-bit word at a 4-byte aligned address; false on an external abort. */
  write32(addr: number, value: number): boolean;
  /** Copies `dst.length` bytes from `addr` into `dst`; false (and `dst` unspecified) on an external abort. */
  read(addr: number, dst: Uint8Array): boolean;
  /** Copies `src` to `addr`; false on an external abort (bytes before the aborting page may have been written). */
  write(addr: number, src: Uint8Array): boolean;
}

const PAGE_SHIFT = 16; // host-side storage granule of SparseMemory (64 KiB), not an architectural size
const PAGE_SIZE = 2 ** PAGE_SHIFT;
const PAGE_SCALE = 2 ** -PAGE_SHIFT; // multiplying by it is exact, and faster than dividing by PAGE_SIZE
const MAX_ADDRESS = 2 ** 52;
const SMALL_COPY = 32; // FlatMemory copies up to this many bytes with a loop: faster than set() of a subarray
const VIEWS = 256; // views of recently copied FlatMemory ranges kept for reuse (a power of two)

/**
 * The instances of our own memories, exactly as their constructors built them (frozen, of an unpatchable class):
 * known by identity, not by constructor name, so that neither a Proxy, a subclass nor a look-alike passes for one.
 */
const OWN = new WeakSet<GuestMemory>();

/**
 * The memory the device works through. Our own memories (by identity: {@link OWN}) never throw and return
 * well-formed values, so they are used as they are; any other memory is wrapped so that a thrown exception or a
 * malformed value becomes an external abort of that one access: a host memory's failure is the guest's architected
 * abort (F_WALK_EABT, CERROR_ABT, EVTQ_ABT_ERR…), never an exception out of the device. While a host memory's
 * method runs, `calls` knows it (the device refuses to be called from there). Throws {@link HostError} when `memory`
 * lacks a method.
 */
export function guardMemory(memory: GuestMemory, calls: HostCalls): GuestMemory {
  if (OWN.has(memory)) return memory;
  for (const m of ["read32", "write32", "read", "write"] as const) {
    if (typeof (memory as Partial<GuestMemory> | null)?.[m] !== "function") {
      throw new HostError(`GuestMemory: ${m}() is missing`);
    }
  }
  return new GuardedMemory(memory, calls);
}

/** A host memory behind a guard: exceptions and malformed results are aborts. */
class GuardedMemory implements GuestMemory {
  readonly #inner: GuestMemory;
  readonly #calls: HostCalls;

  constructor(inner: GuestMemory, calls: HostCalls) {
    this.#inner = inner;
    this.#calls = calls;
  }

  read32(addr: number): number {
    const outer = this.#calls.inMemory;
    this.#calls.inMemory = true;
    try {
      const v = this.#inner.read32(addr);
      return v === (v >>> 0) ? v : ABORT; // a 32-bit value, or an abort (ABORT, or anything else)
    } catch {
      return ABORT;
    } finally {
      this.#calls.inMemory = outer;
    }
  }

  write32(addr: number, value: number): boolean {
    const outer = this.#calls.inMemory;
    this.#calls.inMemory = true;
    try {
      return this.#inner.write32(addr, value) === true;
    } catch {
      return false;
    } finally {
      this.#calls.inMemory = outer;
    }
  }

  read(addr: number, dst: Uint8Array): boolean {
    const outer = this.#calls.inMemory;
    this.#calls.inMemory = true;
    try {
      return this.#inner.read(addr, dst) === true;
    } catch {
      return false;
    } finally {
      this.#calls.inMemory = outer;
    }
  }

  write(addr: number, src: Uint8Array): boolean {
    const outer = this.#calls.inMemory;
    this.#calls.inMemory = true;
    try {
      return this.#inner.write(addr, src) === true;
    } catch {
      return false;
    } finally {
      this.#calls.inMemory = outer;
    }
  }
}

/** Refuses (HostError naming it) a SparseMemory option of a wrong shape. */
function checkSparseOptions(options: unknown): asserts options is SparseMemoryOptions {
  const bad = (what: string) => {
    throw new HostError(`SparseMemory: ${what}`);
  };
  if (typeof options !== "object" || options === null || Array.isArray(options)) bad("options must be an object");
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== "size" && k !== "holes") bad(`options.${k} is not known (size, holes)`);
  if (o.size !== undefined && typeof o.size !== "number") bad(`options.size must be a number`);
  if (o.holes === undefined) return;
  if (!Array.isArray(o.holes)) bad("options.holes must be an array of [start, end] pairs");
  (o.holes as unknown[]).forEach((h, i) => {
    if (!Array.isArray(h) || h.length !== 2) bad(`options.holes[${i}] must be a [start, end] pair`);
  });
}

/** Options of {@link SparseMemory}. */
export interface SparseMemoryOptions {
  /** Size of the guest physical address space in bytes; accesses at or above it abort. Default 2^52. */
  size?: number;
  /** Ranges `[start, end)` with nothing behind them: accesses there abort (a hole in the memory map). */
  holes?: readonly (readonly [number, number])[];
}

/**
 * Guest memory allocated on first write, in 64 KiB pages, reading zero where nothing was written.
 * Suits tests and tools that place structures anywhere in a 52-bit space.
 */
export class SparseMemory implements GuestMemory {
  /** Size of the address space; accesses at or above it abort. */
  readonly size: number;
  readonly #holes: readonly (readonly [number, number])[];
  readonly #pages = new Map<number, Uint32Array>();
  #lastIndex = -1;
  #lastPage: Uint32Array | undefined;

  /** An empty (all-zero) memory; throws {@link HostError} on a bad size or hole. */
  constructor(options: SparseMemoryOptions = {}) {
    checkSparseOptions(options);
    const size = options.size ?? MAX_ADDRESS;
    if (!Number.isSafeInteger(size) || size <= 0 || size > MAX_ADDRESS) {
      throw new HostError(`SparseMemory: size must be an integer in (0, 2^52], got ${size}`);
    }
    for (const [start, end] of options.holes ?? []) {
      if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && end > start)) {
        throw new HostError(`SparseMemory: bad hole [${start}, ${end})`);
      }
    }
    this.size = size;
    this.#holes = (options.holes ?? []).map(([start, end]) => [start, end] as const); // the host's array may change
    if (new.target === SparseMemory) OWN.add(Object.freeze(this));
  }

  #aborts(addr: number, len: number): boolean {
    if (!(addr >= 0 && addr + len <= this.size)) return true;
    const holes = this.#holes; // an indexed loop: no iterator on the walk path
    for (let i = 0; i < holes.length; i++) if (addr < holes[i][1] && addr + len > holes[i][0]) return true;
    return false;
  }

  /** The page holding `addr`, created when `create` is set; undefined for a never-written page. */
  #page(index: number, create: boolean): Uint32Array | undefined {
    if (index === this.#lastIndex) return this.#lastPage;
    let page = this.#pages.get(index);
    if (page === undefined) {
      if (!create) return undefined;
      page = new Uint32Array(PAGE_SIZE / 4);
      this.#pages.set(index, page);
    }
    this.#lastIndex = index;
    this.#lastPage = page;
    return page;
  }

  /**
   * The words of the storage page that holds all of [`addr`, `addr` + `bytes`), where `read32(addr + 4 * i)` is
   * `words[addr % words.byteLength / 4 + i]` for as long as the memory lives: for readers on hot paths (the walker).
   * Undefined where that range is not so held (never written, crossing a page, or aborting).
   */
  wordsAt(addr: number, bytes: number): Uint32Array | undefined {
    if ((addr & 3) !== 0 || this.#aborts(addr, bytes)) return undefined;
    const index = Math.floor(addr * PAGE_SCALE);
    if (Math.floor((addr + bytes - 1) * PAGE_SCALE) !== index) return undefined;
    return this.#pages.get(index);
  }

  read32(addr: number): number {
    if ((addr & 3) !== 0 || this.#aborts(addr, 4)) return ABORT; // & masks: no float modulo on the walk path
    const page = this.#page(Math.floor(addr * PAGE_SCALE), false); // a multiply: no float division
    return page === undefined ? 0 : page[(addr & (PAGE_SIZE - 1)) >>> 2];
  }

  write32(addr: number, value: number): boolean {
    if (addr % 4 !== 0 || this.#aborts(addr, 4)) return false;
    this.#page(Math.floor(addr / PAGE_SIZE), true)![(addr % PAGE_SIZE) >>> 2] = value;
    return true;
  }

  read(addr: number, dst: Uint8Array): boolean {
    if (this.#aborts(addr, dst.length)) return false;
    for (let done = 0; done < dst.length;) {
      const at = addr + done;
      const off = at % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, dst.length - done);
      const page = this.#page(Math.floor(at / PAGE_SIZE), false);
      if (page === undefined) dst.fill(0, done, done + n);
      else dst.set(new Uint8Array(page.buffer, off, n), done);
      done += n;
    }
    return true;
  }

  write(addr: number, src: Uint8Array): boolean {
    if (this.#aborts(addr, src.length)) return false;
    for (let done = 0; done < src.length;) {
      const at = addr + done;
      const off = at % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, src.length - done);
      const page = this.#page(Math.floor(at / PAGE_SIZE), true)!;
      new Uint8Array(page.buffer, off, n).set(src.subarray(done, done + n));
      done += n;
    }
    return true;
  }
}

/** Guest memory as one flat buffer mapped at `base`; everything outside it aborts. The fastest backing. */
export class FlatMemory implements GuestMemory {
  /** Guest physical address of `bytes[0]`. */
  readonly base: number;
  /** The memory itself, for the host to fill and inspect. */
  readonly bytes: Uint8Array;
  readonly #words: Uint32Array;
  readonly #views: (Uint8Array | undefined)[] = new Array(VIEWS).fill(undefined);
  readonly #viewOff = new Float64Array(VIEWS).fill(-1); // the range each kept view shows
  readonly #viewLen = new Int32Array(VIEWS);

  /** `size` zeroed bytes at guest physical address `base`; throws {@link HostError} on a bad size or base. */
  constructor(size: number, base = 0) {
    if (!Number.isSafeInteger(size) || size <= 0 || size % 4 !== 0) {
      throw new HostError(`FlatMemory: size must be a positive multiple of 4, got ${size}`);
    }
    if (!Number.isSafeInteger(base) || base < 0 || base % 4 !== 0 || base + size > MAX_ADDRESS) {
      throw new HostError(`FlatMemory: base must be 4-byte aligned and the buffer below 2^52, got ${base}`);
    }
    this.base = base;
    this.bytes = new Uint8Array(size);
    this.#words = new Uint32Array(this.bytes.buffer);
    if (new.target === FlatMemory) OWN.add(Object.freeze(this));
  }

  /** The memory as 32-bit words, `words[i]` being what `read32(base + 4 * i)` returns: for readers on hot paths. */
  get words(): Uint32Array {
    return this.#words;
  }

  read32(addr: number): number {
    const off = addr - this.base;
    if (!(off >= 0 && off + 4 <= this.bytes.length) || (off & 3) !== 0) return ABORT; // & 3: no float modulo
    return this.#words[off >>> 2];
  }

  write32(addr: number, value: number): boolean {
    const off = addr - this.base;
    if (!(off >= 0 && off + 4 <= this.bytes.length) || (off & 3) !== 0) return false;
    this.#words[off >>> 2] = value;
    return true;
  }

  read(addr: number, dst: Uint8Array): boolean {
    return this.readInto(addr, dst, 0, dst.length);
  }

  write(addr: number, src: Uint8Array): boolean {
    return this.writeFrom(addr, src, 0, src.length);
  }

  /**
   * Copies `n` bytes at `addr` into `dst` from index `at` (what {@link read} does for a part of `dst`, without a
   * subarray); false, with nothing copied, on an external abort. The DMA path of DmaView.
   */
  readInto(addr: number, dst: Uint8Array, at: number, n: number): boolean {
    const off = addr - this.base;
    if (!(off >= 0 && off + n <= this.bytes.length)) return false;
    if (n <= SMALL_COPY) {
      // A loop beats set() for a few bytes, and allocates no subarray view.
      const bytes = this.bytes;
      for (let i = 0; i < n; i++) dst[at + i] = bytes[off + i];
    } else if (at === 0) dst.set(this.#view(off, n)); // without an offset argument set() takes a faster path
    else dst.set(this.#view(off, n), at);
    return true;
  }

  /** Copies `n` bytes of `src` from index `at` to `addr` (what {@link write} does for a part of `src`). */
  writeFrom(addr: number, src: Uint8Array, at: number, n: number): boolean {
    const off = addr - this.base;
    if (!(off >= 0 && off + n <= this.bytes.length)) return false;
    if (at === 0 && n === src.length) this.#view(off, n).set(src); // set() without an offset: its faster path
    else if (n <= SMALL_COPY) {
      const bytes = this.bytes;
      for (let i = 0; i < n; i++) bytes[off + i] = src[at + i];
    } else this.bytes.set(src.subarray(at, at + n), off);
    return true;
  }

  /**
   * A view of bytes [off, off + n): one kept from a recent copy of the same range (devices copy their buffers and
   * rings again and again), or a new one that replaces it. A copy through a kept view allocates nothing.
   */
  #view(off: number, n: number): Uint8Array {
    const i = ((off >>> 6) ^ (off >>> 14) ^ n) & (VIEWS - 1);
    if (this.#viewOff[i] === off && this.#viewLen[i] === n) return this.#views[i]!;
    this.#viewOff[i] = off;
    this.#viewLen[i] = n;
    return this.#views[i] = this.bytes.subarray(off, off + n);
  }
}

// Our memories' methods cannot be replaced: an instance in OWN behaves as this file says.
Object.freeze(SparseMemory.prototype);
Object.freeze(FlatMemory.prototype);
