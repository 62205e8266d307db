/**
 * Addresses as JavaScript numbers: a 64-bit value is handled as a number (exact below 2^53) or as two 32-bit halves.
 * These are facts of the number representation, not of the architecture: every architectural width, position and
 * size comes from gen/.
 * @module
 */

/** Bits in one word of the memory and register interfaces (a Uint32Array element). */
export const WORD_BITS = 32;
/** Bytes in one such word. */
export const WORD_BYTES = 4;
/** Bytes in two words: a 64-bit register, a descriptor. */
export const DWORD_BYTES = 8;
/** log2 of {@link WORD_BYTES}: a byte address shifted right by it is a word index. */
export const WORD_SHIFT = Math.log2(WORD_BYTES);
/** 2^32: the weight of a high word. */
export const TWO_32 = 2 ** WORD_BITS;
/** 2^-32: multiplying by it is exact and, unlike dividing by 2^32, no slow float division. */
export const TWO_MINUS_32 = 2 ** -WORD_BITS;
/**
 * The initial value of a field that holds addresses: a double from the start, so V8 keeps the field unboxed and
 * storing an address there allocates nothing (a field that starts as a small integer would box every address).
 */
export const DOUBLE_FIELD = 0.5;

/**
 * 2^n for an integer 0 <= n <= 64, by table: `2 ** n` with a variable n is a float pow call. Hot paths index it
 * directly (`POW2[n]`): an element load, where a call may be left out of V8's inlining budget.
 */
export const POW2: readonly number[] = Array.from({ length: 2 * WORD_BITS + 1 }, (_, i) => 2 ** i);

/** 2^n for an integer 0 <= n <= 64 (see {@link POW2}). */
export function pow2(n: number): number {
  return POW2[n];
}

/** The address whose high 32 bits are `hi` and low 32 bits the bit pattern of `lo`. */
export function join(hi: number, lo: number): number {
  return hi * TWO_32 + (lo >>> 0);
}

/** `x` rounded down to a multiple of the power of two `p`, exact for numbers below 2^53 (no float `%`). */
export function alignDown(x: number, p: number): number {
  return Math.floor(x / p) * p;
}

/** `x mod p` for a power of two `p` and x >= 0 (no float `%`, which is slow for non-int32 values). */
export function modPow2(x: number, p: number): number {
  return x - Math.floor(x / p) * p;
}

/** `x mod 2^n` for x >= 0: an integer mask below 2^32 (pages and most blocks), no float division. */
export function lowBits(x: number, n: number): number {
  return n < WORD_BITS ? (x >>> 0) & (POW2[n] - 1) : x - Math.floor(x / POW2[n]) * POW2[n];
}
