/**
 * The register file: the 128 KiB frame's architectural state as 32-bit words, indexed by byte offset / 4.
 * Field access goes through gen/ accessors (`CR0.SMMUEN.get(regs.words, word(REG.CR0))`), so no bit positions live
 * here. The device owns the access semantics; save/restore reads and writes the saved registers directly.
 * @module
 */
import { REGISTERS } from "../../gen/mod.ts";
import type { RegisterInfo } from "../../gen/mod.ts";

const FRAME_BYTES = 0x20000;

/** Word index of a register's byte offset (its low word for a 64-bit register). */
export const word = (offset: number): number => offset >>> 2;

/** For each word of the frame, the register covering it (undefined where none does). */
const BY_WORD: readonly (RegisterInfo | undefined)[] = (() => {
  const table = new Array<RegisterInfo | undefined>(FRAME_BYTES / 4);
  for (const r of REGISTERS) for (let i = 0; i < r.width / 32; i++) table[word(r.offset) + i] = r;
  return table;
})();

/** The register covering byte `offset` of the frame, if any. */
export function registerAt(offset: number): RegisterInfo | undefined {
  return offset >= 0 && offset < FRAME_BYTES ? BY_WORD[word(offset)] : undefined;
}

/** Bits of a register's value that fields cover, as [low word, high word] masks. */
export function fieldMask(r: RegisterInfo): [number, number] {
  const lo = ~r.layout.reserved[0] >>> 0;
  const hi = r.width === 64 ? ~r.layout.reserved[1] >>> 0 : 0;
  return [lo, hi];
}

/** The frame's words. A 64-bit register occupies two consecutive words, low word first. */
export class RegisterFile {
  readonly words: Uint32Array = new Uint32Array(FRAME_BYTES / 4);

  constructor() {
    this.reset();
  }

  /** Every stored register back to its reset value; identification registers are left to the device. */
  reset(): void {
    for (const r of REGISTERS) {
      if (r.state === "none" || r.state === "id") continue;
      this.words[word(r.offset)] = r.reset[0];
      if (r.width === 64) this.words[word(r.offset) + 1] = r.reset[1];
    }
  }

  /** A register's value as a number (64-bit registers: exact below 2^53, which every saved field is). */
  get(offset: number): number {
    const r = registerAt(offset);
    const lo = this.words[word(offset)];
    return r?.width === 64 ? lo + this.words[word(offset) + 1] * 0x1_0000_0000 : lo;
  }
}
