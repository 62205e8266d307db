/**
 * What the CLI commands need from the outside world (replaced in tests), and how they report bad input.
 * @module
 */

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

/** Bad input: `what` is wrong `where` (a token, a line, an argument). Reported as one line, never a stack trace. */
export class InputError extends Error {
  /** `what` says what is wrong, `where` points at it. */
  constructor(readonly what: string, readonly where: string) {
    super(`${what} at ${where}`);
    this.name = "InputError";
  }
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

/** The names a value may take, for "unknown X" errors: `one of a, b, c`. */
export function oneOf(names: Iterable<string>): string {
  return `one of ${[...names].join(", ")}`;
}
