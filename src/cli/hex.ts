/**
 * Input parsing for `smmuv3 decode`: hex words in the forms people paste (Linux logs: linux_log.ts).
 *
 * Rules (also in `smmuv3 --help`):
 * - Tokens are separated by spaces, commas or semicolons; `0x` prefixes and `_` digit separators are optional.
 * - Width "auto": a token of up to 8 hex digits is one 32-bit word, 9 to 16 digits one 64-bit word; a longer token
 *   (a blob) is a run of 64-bit words of 16 digits each, dword 0 first, each written most significant digit first,
 *   which is what joining Linux's `0x%016llx` lines gives. Words go low word first, in the order they appear.
 * - A record of one 64-bit word (pte, l1std, l1cd) given as one token is that 64-bit number, however short.
 * - Width 32 or 64: every token is one word of that width.
 * - Byte mode: the input is bytes in memory order (little-endian), as `xxd -p` or `bytes.hex()` print them.
 * @module
 */
import { InputError } from "./io.ts";

/** How tokens map to words. */
export type WordWidth = "auto" | 32 | 64;

/** Options of the token parser. */
export interface ParseOptions {
  /** Width of each token; "auto" decides by digit count (the default). */
  width?: WordWidth;
  /** Read the input as bytes in memory order instead of numbers. */
  bytes?: boolean;
}

const TOKEN_SEPARATOR = /[\s,;]+/;
const DWORD_DIGITS = 16;
const WORD_DIGITS = 8;

// The same word line in token input: a prefix carrying text that is not hex, then a colon.
const PREFIXED_WORD = /^(.*[^0-9a-fx,;\s_].*):\s+(0x[0-9a-f_]+)\s*$/i;

/** Parses hex tokens into 32-bit words (low word first). */
export function parseWords(text: string, options: ParseOptions = {}): Uint32Array {
  const tokens = tokenize(text);
  if (tokens.length === 0) throw new InputError("no hex words given", "end of input");
  return options.bytes ? fromBytes(tokens) : fromNumbers(tokens, options.width ?? "auto");
}

/** How many tokens the input has (in token form, not a Linux log). */
export function countTokens(text: string): number {
  return text.split(TOKEN_SEPARATOR).filter((t) => t).length;
}

/** Parses exactly one hex number of up to 64 bits into [low word, high word]. */
export function parseNumber(text: string): [number, number] {
  const tokens = tokenize(text);
  if (tokens.length !== 1) {
    const where = tokens.length ? `token 2 (${tokens[1].where})` : "end of input";
    throw new InputError(`expected one hex number, got ${tokens.length}`, where);
  }
  const { digits, where } = tokens[0];
  const significant = digits.replace(/^0+/, "");
  if (significant.length > DWORD_DIGITS) throw new InputError(`0x${significant} does not fit in 64 bits`, where);
  const words = new Uint32Array(2);
  putDword(words, 0, digits.slice(-DWORD_DIGITS));
  return [words[0], words[1]];
}

interface Token {
  digits: string;
  where: string;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  text.split(/\r?\n/).forEach((raw, lineIndex) => {
    const prefixed = PREFIXED_WORD.exec(raw);
    const line = prefixed ? prefixed[2] : raw;
    let n = 0;
    for (const t of line.split(TOKEN_SEPARATOR)) {
      if (!t) continue;
      n++;
      const where = `token ${n} "${t}" (line ${lineIndex + 1})`;
      const digits = t.replace(/^0x/i, "").replaceAll("_", "");
      if (!/^[0-9a-f]+$/i.test(digits)) throw new InputError("not a hex number", where);
      tokens.push({ digits, where });
    }
  });
  return tokens;
}

function fromNumbers(tokens: Token[], width: WordWidth): Uint32Array {
  const out: number[] = [];
  for (const { digits, where } of tokens) {
    const significant = digits.replace(/^0+/, "") || "0";
    if (width === 32 || (width === "auto" && digits.length <= WORD_DIGITS)) {
      if (significant.length > WORD_DIGITS) throw new InputError(`0x${significant} does not fit in 32 bits`, where);
      out.push(parseInt(significant, 16));
    } else if (width === 64 || digits.length <= DWORD_DIGITS) {
      if (significant.length > DWORD_DIGITS) throw new InputError(`0x${significant} does not fit in 64 bits`, where);
      const pair = new Uint32Array(2);
      putDword(pair, 0, significant);
      out.push(pair[0], pair[1]);
    } else {
      if (digits.length % DWORD_DIGITS !== 0) {
        throw new InputError(`a blob of ${digits.length} hex digits is not a whole number of 64-bit words`, where);
      }
      for (let i = 0; i < digits.length; i += DWORD_DIGITS) {
        const pair = new Uint32Array(2);
        putDword(pair, 0, digits.slice(i, i + DWORD_DIGITS));
        out.push(pair[0], pair[1]);
      }
    }
  }
  return Uint32Array.from(out);
}

function fromBytes(tokens: Token[]): Uint32Array {
  const bytes: number[] = [];
  for (const { digits, where } of tokens) {
    if (digits.length % 2) throw new InputError(`odd number of hex digits (${digits.length}) in byte input`, where);
    for (let i = 0; i < digits.length; i += 2) bytes.push(parseInt(digits.slice(i, i + 2), 16));
  }
  if (bytes.length % 4) {
    throw new InputError(`${bytes.length} bytes is not a whole number of 32-bit words`, "end of input");
  }
  const view = new DataView(Uint8Array.from(bytes).buffer);
  const words = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < words.length; i++) words[i] = view.getUint32(i * 4, true);
  return words;
}

/** Writes a hex number of up to 16 digits as dword `d` of `words` (low word at 2d). */
export function putDword(words: Uint32Array, d: number, digits: string): void {
  const padded = digits.padStart(DWORD_DIGITS, "0");
  words[2 * d] = parseInt(padded.slice(WORD_DIGITS), 16);
  words[2 * d + 1] = parseInt(padded.slice(0, WORD_DIGITS), 16);
}
