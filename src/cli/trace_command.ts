/**
 * `smmuv3 trace <scenario.json|.yaml> [--json] [--allow-deviations FILE] [--html FILE]`: runs a scenario (trace.ts)
 * and writes the trace as text or JSON (trace_format.ts), and with --html the explorer's page of it (src/explore/).
 * Exit status 1 when a recorded observation differs from this model and no documented deviation accepts it.
 * @module
 */
import { flag, parseArgs, value } from "./args.ts";
import { deviationsFor, parseDeviations, type ScenarioDeviations, scenarioKey } from "./deviations.ts";
import { type CliIo, InputError, readInput, writeOutput } from "./io.ts";
import { parseScenario, type Scenario } from "./scenario.ts";
import { Tracer, type TraceTotals } from "./trace.ts";
import { appliedText, headerText, stepText, totalsText, traceJson } from "./trace_format.ts";

const OPTIONS = { "--json": "flag", "--allow-deviations": "value", "--html": "value" } as const;

/** Runs the command; returns the exit status. Bad input throws {@link InputError}. */
export async function traceCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, OPTIONS);
  if (args.positional.length !== 1) {
    throw new InputError("expected one scenario file (JSON or YAML)", args.positional[1]?.where ?? "argument 2");
  }
  const file = args.positional[0].value;
  const text = await readInput(file, () => io.readFile(file));
  const scenario = parseScenario(text, file);
  const listFile = value(args, "--allow-deviations");
  let deviations: ScenarioDeviations | undefined;
  if (listFile !== undefined) {
    const key = scenarioKey(scenario.name, file);
    deviations = deviationsFor(parseDeviations(await readInput(listFile, () => io.readFile(listFile)), listFile), key);
    if (deviations === undefined) io.err(`smmuv3 trace: warning: ${listFile} lists no deviation for scenario ${key}`);
  }
  const tracer = new Tracer(scenario, file, deviations);
  if (flag(args, "--json")) {
    const steps = [...tracer.steps()];
    io.out(
      traceJson(
        { name: scenario.name, description: scenario.description, file },
        tracer.device,
        steps,
        tracer.totals(),
      ),
    );
  } else {
    writeText(tracer, (line) => io.out(line + "\n"));
  }
  const html = value(args, "--html");
  if (html !== undefined) {
    // Loaded only here, so that plain traces (and the demo) do not load the explorer's page.
    const { scenarioHtml } = await import("../explore/export.ts");
    await writeOutput(`--html ${html}`, () => io.writeFile(html, scenarioHtml(text, file)));
    io.err(`smmuv3 trace: wrote ${html}: the explorer's view of every step (open it in a browser)`);
  }
  for (const step of Object.keys(deviations?.steps ?? {})) {
    if (!tracer.acceptedSteps.has(Number(step))) {
      io.err(
        `smmuv3 trace: warning: the deviation listed for step ${step} did not occur (the step is as recorded, or this model now observes something else)`,
      );
    }
  }
  const { unexplained } = tracer.totals();
  if (unexplained.length === 0) return 0;
  io.err(
    `smmuv3 trace: ${unexplained.length} recorded observation${
      unexplained.length > 1 ? "s differ" : " differs"
    } from this model, at step ${unexplained.join(", ")}`,
  );
  return 1;
}

/** Runs `scenario` and writes its trace as text, line by line as it runs; returns the totals. */
export function runTrace(scenario: Scenario, file: string, out: (line: string) => void): TraceTotals {
  return writeText(new Tracer(scenario, file), out);
}

function writeText(tracer: Tracer, out: (line: string) => void): TraceTotals {
  for (const line of headerText(tracer.scenario.name, tracer.scenario.description, tracer.device)) out(line);
  for (const step of tracer.steps()) for (const line of stepText(step)) out(line);
  const totals = tracer.totals();
  out(totalsText(totals));
  const applied = appliedText(totals);
  if (applied !== undefined) out(applied);
  return totals;
}
