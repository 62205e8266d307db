/**
 * A transaction's 64-bit input address as the engine takes it: bits [55:0] as a signed number (sign-extended from bit
 * 55: negative in the upper, TTB1, range), and the top byte apart as a tag where it is not that sign extension (Top
 * Byte Ignore, DDI 0487 D8.8). Records carry it as 64 bits laid out as gen/ VA.
 * @module
 */
import { VA, VA_LAYOUT } from "../../gen/mod.ts";
import { TWO_32 } from "./numbers.ts";
import { NO_TAG, TAG_SHIFT } from "./types.ts";

/** The top byte of a negative (upper range) address: bit 55 repeated. */
const SIGN_EXTENSION = 2 ** VA.Tag.width - 1;
const HI_TOP = 2 ** (VA.VA_HI.width - 1);
const HI_ALL = 2 * HI_TOP;

/** The top byte an untagged `addr` has: its sign extension. */
function extension(addr: number): number {
  return addr < 0 ? SIGN_EXTENSION : 0;
}

const TWO_64 = 1n << BigInt(VA_LAYOUT.bits);

/** Whether `address` is a 64-bit address, as an unsigned or a signed (two's complement) number. */
export function isVa(address: bigint): boolean {
  return address >= -(TWO_64 >> 1n) && address < TWO_64;
}

/** A 64-bit address as [signed address, tag or NO_TAG]. */
export function untag(address: bigint): [number, number] {
  const addr = Number(BigInt.asIntN(TAG_SHIFT, address));
  const tag = Number(BigInt.asUintN(VA_LAYOUT.bits, address) >> BigInt(TAG_SHIFT));
  return [addr, tag === extension(addr) ? NO_TAG : tag];
}

/** Writes the 64 bits of `addr` (signed) with `tag` (or its sign extension for NO_TAG) at words `o`, `o + 1` of `w`. */
export function writeVa(w: Uint32Array, addr: number, tag: number, o = 0): void {
  const hi = Math.floor(addr / TWO_32);
  VA.VA_LO.set(w, addr - hi * TWO_32, o);
  VA.VA_HI.set(w, hi, o);
  VA.Tag.set(w, tag === NO_TAG ? extension(addr) : tag, o);
}

/** The [signed address, tag or NO_TAG] of the 64 bits at words `o`, `o + 1` of `w` (as {@link writeVa} wrote them). */
export function readVa(w: Uint32Array, o = 0): [number, number] {
  const hi = VA.VA_HI.get(w, o);
  const addr = (hi >= HI_TOP ? hi - HI_ALL : hi) * TWO_32 + VA.VA_LO.get(w, o);
  const tag = VA.Tag.get(w, o);
  return [addr, tag === extension(addr) ? NO_TAG : tag];
}
