/**
 * Calls between the host and the device: which of the device's callbacks may call back into it, and when each runs.
 * This is the re-entrancy contract `SmmuOptions` and the README state for users:
 *
 * - **Interrupt sinks, `onMsi`, `schedule` and a stalled transaction's `onEnd` are deferred.** While the device works
 *   it only queues them (an MSI's write to guest memory happens at once; a CMD_RESUME only marks its transaction,
 *   which is retried or terminated when the call's work is done); they run in the order raised when the outermost
 *   device call has finished its work, just before it returns. The device is then between accesses, so they may call anything: register
 *   accesses, DMA, `save`, `restore`, `reset`. What they raise in turn runs after them, in order, in the same loop.
 * - **Observers and endpoint hooks are synchronous**: an invalidation, a CMD_SYNC or a global change is reported in
 *   order with the commands, and CMD_ATC_INV needs the endpoint's answer. They may access registers, translate,
 *   probe and DMA; the device stays consistent (a command queue write there is taken up by the running batch, within
 *   its bound). `save`, `restore` and `reset` throw {@link HostError} there: a command is half done.
 * - **GuestMemory methods** are the device's own bus accesses, in the middle of a walk or a queue access: they must
 *   not call the device. Such a call throws {@link HostError}, which the memory's guard turns into an abort of that
 *   access if the memory lets it escape.
 *
 * A callback that throws: the exception propagates out of the device call that made it, the device consistent (a
 * command whose observer threw counts as run); deferred callbacks not yet run stay queued for the next call's end.
 * @module
 */
import { HostError } from "./errors.ts";

// deno-lint-ignore no-explicit-any
type Callback = (this: any, a?: any, b?: any) => unknown;

/** The device calls in progress, and the host callbacks deferred until the outermost one ends. */
export class HostCalls {
  /** Whether a host GuestMemory method is running (set by the memory's guard). */
  inMemory = false;
  /** Device calls begun so far: a loop that sees it unchanged across a callback knows nothing re-entered. */
  entered = 0;
  #depth = 0;
  #draining = false;
  /** Deferred callbacks as (function, this, a, b) quadruples, run from #next on: no allocation per callback. */
  readonly #queue: unknown[] = [];
  #next = 0;

  /** Whether a device call is in progress (callbacks made now are synchronous ones). */
  get busy(): boolean {
    return this.#depth > 0;
  }

  /** A public call that does device work begins (`what` names it). Refused from inside a GuestMemory access. */
  enter(what: string): void {
    if (this.inMemory) refuseInMemory(what);
    this.#depth++;
    this.entered++;
  }

  /** That call ends: the outermost one runs the deferred callbacks. */
  leave(): void {
    if (--this.#depth === 0 && this.#next < this.#queue.length) this.#drain();
  }

  /** For calls that replace the whole state (save, restore, reset): refused in the middle of another call. */
  exclusive(what: string): void {
    if (this.inMemory || this.#depth > 0) {
      throw new HostError(
        `${what}: called from a callback made in the middle of a device access (an observer, an endpoint hook or ` +
          "a GuestMemory method); call it from an interrupt sink, or after the access returns",
      );
    }
  }

  /** Runs `fn` with `self` as this and (a, b) when the outermost call ends (at once when none is in progress). */
  defer(fn: Callback, self: unknown, a?: unknown, b?: unknown): void {
    this.#queue.push(fn, self, a, b);
    if (this.#depth === 0 && !this.inMemory) this.#drain();
  }

  /** Forgets callbacks not yet run (reset and restore: they belong to the state replaced). */
  discard(): void {
    if (this.#draining) this.#next = this.#queue.length;
    else this.#queue.length = this.#next = 0;
  }

  #drain(): void {
    if (this.#draining) return; // a callback's own call ended: the running loop takes what it queued
    this.#draining = true;
    try {
      const q = this.#queue;
      while (this.#next < q.length) {
        const at = this.#next;
        this.#next += 4;
        (q[at] as Callback).call(q[at + 1], q[at + 2], q[at + 3]);
      }
      q.length = this.#next = 0;
    } finally {
      this.#draining = false;
    }
  }
}

/** enter's refusal of a call from inside a GuestMemory access; apart, so enter stays small enough to inline. */
export function refuseInMemory(what: string): never {
  throw new HostError(`${what}: called from inside a GuestMemory access of the device`);
}
