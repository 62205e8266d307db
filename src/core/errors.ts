/**
 * Typed errors for the host (the VMM embedding the emulator), and for the tools' input. Guest mistakes never throw:
 * they get the architected response (an event record, a GERROR bit, a CMDQ error code, an abort).
 * @module
 */

/** Misuse of the API by the host: a bad argument, a bad option. The device is unchanged. */
export class HostError extends Error {
  /** An error with a message that names the problem. */
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Constructor options the emulator cannot honour (an ID register value it does not implement, say). */
export class OptionsError extends HostError {}

/** A saved-state blob that `save()` could not have produced; names the offending field. The device is unchanged. */
export class SavedStateError extends HostError {
  /** `field` names the offending field of the blob (or "blob" for the encoding itself). */
  constructor(readonly field: string, problem: string) {
    super(`saved state: ${field}: ${problem}`);
  }
}

/**
 * Bad input to a tool (a scenario, a log, a deviation list, an argument): `what` is wrong `where` (a token, a line,
 * an argument). Reported as one line, never a stack trace.
 */
export class InputError extends Error {
  /** `what` says what is wrong, `where` points at it. */
  constructor(readonly what: string, readonly where: string) {
    super(`${what} at ${where}`);
    this.name = "InputError";
  }
}

/** A short, safe rendering of a wrong value for a message. */
export function shown(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  switch (typeof v) {
    case "string":
      return JSON.stringify(v.length > 20 ? v.slice(0, 20) + "…" : v);
    case "bigint":
      return `${v}n`;
    case "object":
      return "an object";
    case "function":
      return "a function";
    default:
      return String(v);
  }
}

/** The names a value may take, for "unknown X" errors: `one of a, b, c`. */
export function oneOf(names: Iterable<string>): string {
  return `one of ${[...names].join(", ")}`;
}
