/**
 * The guest CPU's side of a compiled scenario: memory writes become `mem_write` steps (coalesced), and a shadow copy
 * lets the guest-side table builders read back what the guest wrote. Also the scenario's JSON form.
 * @module
 */
import type { GuestMemory } from "../../mod.ts";
import type { Scenario, Step } from "../../src/cli/scenario.ts";

const TWO_52 = 2 ** 52;

/** Guest memory as the guest CPU writes it: a shadow copy (for the table builders to read) and mem_write steps. */
export class GuestWrites implements GuestMemory {
  /** Words written so far, by address (unwritten memory reads as zero). */
  readonly #shadow = new Map<number, number>();
  #at = -1;
  #bytes: number[] = [];
  /** `steps`: where mem_write steps go (the compiler points it at a `reenter` step's steps while compiling them). */
  constructor(public steps: Step[]) {}

  read32(addr: number): number {
    return this.#shadow.get(addr) ?? 0;
  }
  read(addr: number, dst: Uint8Array): boolean {
    for (let i = 0; i < dst.length; i++) {
      const a = addr + i;
      dst[i] = (this.read32(a - (a % 4)) >>> (8 * (a % 4))) & 0xff;
    }
    return true;
  }
  write32(addr: number, value: number): boolean {
    if (!(addr >= 0 && addr + 4 <= TWO_52) || addr % 4 !== 0) return false; // no such address for the CPU either
    this.#shadow.set(addr, value >>> 0);
    this.#append(addr, [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24]);
    return true;
  }
  write(addr: number, src: Uint8Array): boolean {
    if (!(addr >= 0 && addr % 4 === 0 && src.length % 4 === 0 && addr + src.length <= TWO_52)) return false;
    const words = new DataView(src.buffer, src.byteOffset, src.length);
    for (let i = 0; i < src.length; i += 4) this.write32(addr + i, words.getUint32(i, true));
    return true;
  }
  /** Emits the pending bytes as one mem_write step. */
  flush(): void {
    if (this.#bytes.length === 0) return;
    const hex = this.#bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
    this.steps.push({ op: "mem_write", addr: BigInt(this.#at), hex });
    this.#bytes = [];
    this.#at = -1;
  }
  #append(addr: number, bytes: number[]): void {
    if (this.#at < 0 || this.#at + this.#bytes.length !== addr || this.#bytes.length >= 4096) {
      this.flush();
      this.#at = addr;
    }
    this.#bytes.push(...bytes);
  }
}

/** A scenario as JSON text, one step a line (numbers above 2^32 as 0x hex strings), as `smmuv3 trace` reads it. */
export function scenarioJson(s: Scenario): string {
  const json = (v: unknown) =>
    JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? (x < 2n ** 32n ? Number(x) : `0x${x.toString(16)}`) : x));
  const { steps, ...head } = s;
  const lines = Object.entries(head).map(([k, v]) => `  ${json(k)}: ${json(v)},`);
  return ["{", ...lines, '  "steps": [', steps.map((step) => `    ${json(step)}`).join(",\n"), "  ]", "}", ""].join(
    "\n",
  );
}
