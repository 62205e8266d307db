/**
 * Typed errors for the host (the VMM embedding the emulator). Guest mistakes never throw: they get the architected
 * response (an event record, a GERROR bit, a CMDQ error code, an abort).
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
