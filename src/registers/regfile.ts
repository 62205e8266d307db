/**
 * The register file: the 128 KiB frame's architectural state as 32-bit words, indexed by byte offset / 4.
 * Field access goes through gen/ accessors (`CR0.SMMUEN.get(regs.words, word(REG.CR0))`), so no bit positions live
 * here. The device owns the access semantics; save/restore reads and writes the saved registers directly.
 * @module
 */
import { FRAME_BYTES, REGISTERS } from "../../gen/mod.ts";
import type { RegisterInfo } from "../../gen/mod.ts";
import { type DWORD_BYTES, TWO_32, WORD_BITS, WORD_BYTES, WORD_SHIFT } from "../core/numbers.ts";

/** Word index of a register's byte offset (its low word for a 64-bit register). */
export const word = (offset: number): number => offset >>> WORD_SHIFT;

/** The byte sizes of a register access (IHI 0070 6.2): 32 bits, or a 64-bit register whole. Spelled out for the
 * public API; the check below keeps it equal to gen/'s sizes. */
export type AccessSize = 4 | 8;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const accessSizesMatchGen: Same<AccessSize, typeof WORD_BYTES | typeof DWORD_BYTES> = true;
void accessSizesMatchGen;

/** A 64-bit register: two consecutive words. */
export const isWide = (r: RegisterInfo): boolean => r.width > WORD_BITS;

/** For each word of the frame, the register covering it (undefined where none does). */
const BY_WORD: readonly (RegisterInfo | undefined)[] = (() => {
  const table = new Array<RegisterInfo | undefined>(FRAME_BYTES / WORD_BYTES);
  for (const r of REGISTERS) for (let i = 0; i < r.width / WORD_BITS; i++) table[word(r.offset) + i] = r;
  return table;
})();

/** The register covering byte `offset` of the frame, if any. */
export function registerAt(offset: number): RegisterInfo | undefined {
  return offset >= 0 && offset < FRAME_BYTES ? BY_WORD[word(offset)] : undefined;
}

/** Bits of a register's value that fields cover, as [low word, high word] masks. */
export function fieldMask(r: RegisterInfo): [number, number] {
  const lo = ~r.layout.reserved[0] >>> 0;
  const hi = isWide(r) ? ~r.layout.reserved[1] >>> 0 : 0;
  return [lo, hi];
}

/** The frame's words. A 64-bit register occupies two consecutive words, low word first. */
export class RegisterFile {
  readonly words: Uint32Array = new Uint32Array(FRAME_BYTES / WORD_BYTES);

  constructor() {
    this.reset();
  }

  /** Every stored register back to its reset value; identification registers are left to the device. */
  reset(): void {
    for (const r of REGISTERS) {
      if (r.state === "none" || r.state === "id") continue;
      this.words[word(r.offset)] = r.reset[0];
      if (isWide(r)) this.words[word(r.offset) + 1] = r.reset[1];
    }
  }

  /** A register's value as a number (64-bit registers: exact below 2^53, which every saved field is). */
  get(offset: number): number {
    const r = registerAt(offset);
    const lo = this.words[word(offset)];
    return r !== undefined && isWide(r) ? lo + this.words[word(offset) + 1] * TWO_32 : lo;
  }
}
