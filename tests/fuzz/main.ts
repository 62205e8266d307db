/**
 * `deno task fuzz`: generates hostile guest programs, runs each on a fresh SMMU and checks the invariants of
 * tests/fuzz/check.ts around every step. Seeded and reproducible; bounded by time or by case count; parallel over
 * workers. A failure is shrunk and written as a scenario file that `deno task cli trace <file>` replays.
 *
 *   deno task fuzz [--seed N] [--time SECONDS] [--cases N] [--jobs N] [--actions N] [--out DIR]
 *   deno task fuzz --seed N --path P      run (and shrink) one case again
 * @module
 */
import { parseArgs } from "node:util";
import { scenarioJson } from "./guest_writes.ts";
import { Coverage, fromData, type ResultData, type WorkerMessage } from "./coverage.ts";
import { DEFAULT_ACTIONS, type Failure, replayCase, runFuzz, type RunOptions, type RunResult } from "./run.ts";

const HELP = `deno task fuzz [options]
  --seed N      seed of the first batch (default: from the clock, printed)
  --time S      stop after S seconds (default 60 unless --cases is given)
  --cases N     stop after N cases
  --jobs N      parallel workers (default 1)
  --actions N   most actions per case (default ${DEFAULT_ACTIONS})
  --out DIR     where a failing case's scenario goes (default fuzz-failures)
  --path P      with --seed: run only that case (fast-check's counterexample path)`;

async function main(args: string[]): Promise<number> {
  let opts;
  try {
    opts = parseArgs({
      args,
      options: {
        seed: { type: "string" },
        time: { type: "string" },
        cases: { type: "string" },
        jobs: { type: "string" },
        actions: { type: "string" },
        out: { type: "string" },
        path: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  if (opts.help) {
    console.log(HELP);
    return 0;
  }
  const int = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`--${name} must be an integer of at least ${min}`);
    return n;
  };
  let seed: number, time: number | undefined, cases: number | undefined, jobs: number, actions: number;
  try {
    seed = int("seed", opts.seed, -(2 ** 31)) ?? (Date.now() % 2 ** 31);
    time = int("time", opts.time, 1);
    cases = int("cases", opts.cases, 1);
    jobs = int("jobs", opts.jobs, 1) ?? 1;
    actions = int("actions", opts.actions, 1) ?? DEFAULT_ACTIONS;
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}`);
    return 2;
  }
  const out = opts.out ?? "fuzz-failures";

  if (opts.path !== undefined) {
    if (opts.seed === undefined) {
      console.error("fuzz: --path needs the --seed of its batch");
      return 2;
    }
    const r = replayCase(seed, opts.path, actions);
    if (r.failure === null) console.log(`seed ${seed} path ${opts.path}: passes`);
    return r.failure === null ? 0 : await report(r.failure, out);
  }

  const timeMs = time !== undefined ? time * 1000 : cases === undefined ? 60_000 : undefined;
  console.log(
    `fuzz: seed ${seed}, ${jobs} job${jobs > 1 ? "s" : ""}, ` +
      [cases !== undefined ? `${cases} cases` : "", timeMs !== undefined ? `${timeMs / 1000} s` : ""]
        .filter(Boolean).join(" or "),
  );
  const start = performance.now();
  const result = jobs === 1
    ? runFuzz({ seed, cases, timeMs, actions, progress: ticker(start, () => []) })
    : await runJobs(jobs, { seed, cases, timeMs, actions }, start);
  summary(result.coverage, performance.now() - start);
  return result.failure === null ? 0 : await report(result.failure, out);
}

/** A progress printer, at most every 10 seconds. */
function ticker(start: number, others: () => Coverage[]): (c: Coverage) => void {
  let last = start;
  return (c) => {
    const now = performance.now();
    if (now - last < 10_000) return;
    last = now;
    const all = new Coverage();
    for (const x of [c, ...others()]) all.merge(x);
    console.log(`  ${Math.round((now - start) / 1000)} s: ${all.cases} cases (${rate(all.cases, now - start)}/s)`);
  };
}

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000));

/** Runs `jobs` workers, batch seeds interleaved; the first failure stops the rest. */
function runJobs(jobs: number, o: RunOptions, start: number): Promise<RunResult> {
  const progress: Coverage[] = Array.from({ length: jobs }, () => new Coverage());
  const tick = ticker(start, () => progress.slice(1));
  return new Promise((resolve) => {
    const workers: Worker[] = [];
    const results: ResultData[] = [];
    for (let j = 0; j < jobs; j++) {
      const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
      workers.push(w);
      w.onmessage = (e: MessageEvent<WorkerMessage>) => {
        if (!e.data.done) {
          progress[j] = fromData(e.data.coverage);
          if (j === 0) tick(progress[0]);
          return;
        }
        results.push(e.data.result);
        const failed = e.data.result.failure !== null;
        if (failed || results.length === jobs) {
          for (const x of workers) x.terminate();
          const coverage = new Coverage();
          for (const r of results) coverage.merge(fromData(r.coverage));
          if (failed) { for (let k = 0; k < jobs; k++) if (k !== j) coverage.merge(progress[k]); }
          resolve({ coverage, failure: results.find((r) => r.failure !== null)?.failure ?? null });
        }
      };
      w.postMessage(
        {
          ...o,
          seed: o.seed + j,
          stride: jobs,
          cases: o.cases === undefined ? undefined : Math.ceil(o.cases / jobs),
        } satisfies RunOptions,
      );
    }
  });
}

function summary(c: Coverage, ms: number): void {
  console.log(
    `fuzz: ${c.cases} cases, ${c.steps} steps, ${c.commands} commands, ${c.events} events in ` +
      `${(ms / 1000).toFixed(1)} s (${rate(c.cases, ms)} cases/s)`,
  );
  const rows = [...c.counts].sort(([a], [b]) => a.localeCompare(b));
  for (const [what, n] of rows) console.log(`  ${what.padEnd(44)} ${n}`);
}

async function report(f: Failure, out: string): Promise<number> {
  await Deno.mkdir(out, { recursive: true });
  const file = `${out}/fuzz-${f.seed}.json`;
  f.scenario.description = `${f.message.split("\n")[0]} (deno task fuzz --seed ${f.seed} --path ${f.path})`;
  await Deno.writeTextFile(file, scenarioJson(f.scenario));
  console.error(`fuzz: FAILED (seed ${f.seed}, path ${f.path})\n${f.message}`);
  console.error(`shrunk to ${f.scenario.steps.length} steps: ${file}\nreplay: deno task cli trace ${file}`);
  return 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
