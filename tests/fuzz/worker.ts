/**
 * A worker of `deno task fuzz --jobs N`: runs the batches it is given (tests/fuzz/run.ts), posting its coverage
 * about once a second, then its result.
 * @module
 */
/// <reference lib="deno.worker" />
import { toData, type WorkerMessage } from "./coverage.ts";
import { runFuzz, type RunOptions } from "./run.ts";

self.onmessage = (e: MessageEvent<RunOptions>) => {
  let last = 0;
  const result = runFuzz({
    ...e.data,
    progress: (c) => {
      if (performance.now() - last < 1000) return;
      last = performance.now();
      self.postMessage({ done: false, coverage: toData(c) } satisfies WorkerMessage);
    },
  });
  const message: WorkerMessage = { done: true, result: { coverage: toData(result.coverage), failure: result.failure } };
  self.postMessage(message);
};
