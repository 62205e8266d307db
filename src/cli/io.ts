/**
 * What the CLI commands need from the outside world (replaced in tests); a file that cannot be read or written is
 * an {@link InputError} naming it.
 * @module
 */
import { InputError } from "../core/errors.ts";

/** The outside world of a command: output, diagnostics and input. */
export interface CliIo {
  /** Writes output text (decoded records, a trace, JSON). */
  out(text: string): void;
  /** Writes one diagnostic line (an error or a warning) to stderr. */
  err(line: string): void;
  /** Reads all of stdin. */
  readStdin(): Promise<string>;
  /** Reads a text file. */
  readFile(path: string): Promise<string>;
  /** Reads a whole file as bytes. */
  readBytes(path: string): Promise<Uint8Array>;
  /** Writes a text file (trace --html). */
  writeFile(path: string, text: string): Promise<void>;
}

/** A file's contents, or an {@link InputError} naming the file and why it cannot be read. */
export async function readInput<T>(where: string, reader: () => Promise<T>): Promise<T> {
  try {
    return await reader();
  } catch (e) {
    // Deno's message ends with the call and path ("…: readfile '/x'"), which `where` already gives.
    const why = (e instanceof Error ? e.message : String(e)).split("\n")[0].replace(/: \w+ '.*'$/, "");
    throw new InputError(`cannot read (${why})`, where);
  }
}

/** Writes with `writer`, or throws an {@link InputError} naming the file and why it cannot be written. */
export async function writeOutput(where: string, writer: () => Promise<void>): Promise<void> {
  try {
    await writer();
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).split("\n")[0].replace(/: \w+ '.*'$/, "");
    throw new InputError(`cannot write (${why})`, where);
  }
}
