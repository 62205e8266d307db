/**
 * src/cli/recorded.ts: the device each recording ran on, from the vector's metadata. The expected ID registers are
 * read from the recording folders' READMEs (what the recording advertised) and the recordings' own IDR reads.
 */
import assert from "node:assert/strict";
import { REG } from "../gen/mod.ts";
import { recordingDevice } from "../src/cli/recorded.ts";
import { parseScenario, ScenarioRunner } from "../src/cli/scenario.ts";
import { runMain } from "./helpers/cli.ts";

const VECTORS = new URL("./vectors/", import.meta.url);
const readme = (dir: string) => Deno.readTextFileSync(new URL(`${dir}/README.md`, VECTORS));
const numbers = (
  m: RegExpMatchArray | null,
) => (assert.ok(m, "the README states the ID registers"), m.slice(1).map(Number));

Deno.test("QEMU 7.2's recordings advertise the ID registers its README states", () => {
  const [IDR0, IDR1, IDR3, IDR5] = numbers(
    readme("qemu-7.2").match(/advertised `IDR0 = (0x\w+), IDR1 = (0x\w+), IDR3 = (0x\w+), IDR5 = (0x\w+)`/),
  );
  const dev = recordingDevice("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", undefined, "v.json");
  assert.deepEqual(dev, { qemu: "7.2", stage: "1", idRegisters: { IDR0, IDR1, IDR3, IDR5 } });
  assert.deepEqual(recordingDevice("QEMU 7.2.0", "1", "v.json"), dev);
});

Deno.test("QEMU 10.0's recordings advertise its README's ID registers for their smmu_stage, XNX with stage 2", () => {
  const [s1, s2, nested, IDR1, IDR3, IDR3_S2, IDR5] = numbers(
    readme("qemu-10.0").match(
      /IDR0 = (0x\w+) \(stage 1\), (0x\w+) \(stage 2\), (0x\w+) \(nested\); IDR1 = (0x\w+); IDR3 = (0x\w+) \(QEMU 10\s+also sets IDR3\.XNX = 1 with stage 2: (0x\w+)\); IDR5 = (0x\w+)/,
    ),
  );
  const version = "QEMU emulator version 10.0.13 (Debian 1:10.0.13+ds-0+deb13u1)";
  const want = { "1": [s1, IDR3], "2": [s2, IDR3_S2], nested: [nested, IDR3_S2] } as const;
  for (const [stage, [IDR0, idr3]] of Object.entries(want)) {
    const dev = recordingDevice(version, stage as keyof typeof want, "v.json");
    assert.deepEqual(dev, { qemu: "10.0", stage, idRegisters: { IDR0, IDR1, IDR3: idr3, IDR5 } });
  }
});

Deno.test("a recording's own IDR reads are what its replayed device advertises", () => {
  const file = new URL("qemu-10.0/nested-basic.json", VECTORS);
  const scenario = parseScenario(Deno.readTextFileSync(file), file.pathname);
  const runner = new ScenarioRunner(scenario, file.pathname);
  let reads = 0;
  for (const step of scenario.steps) {
    // The registers a recording's device is given (IHI 0070 6.3.1-6.3.6).
    if (
      step.op !== "mmio_read" || !([REG.IDR0, REG.IDR1, REG.IDR3, REG.IDR5] as number[]).includes(Number(step.offset))
    ) continue;
    const r = runner.run(step);
    assert.equal(r.op === "mmio_read" && r.value, step.observed, `register 0x${step.offset.toString(16)}`);
    reads++;
  }
  assert.equal(reads, 4, "IDR0, IDR1, IDR3 and IDR5");
});

Deno.test("a recording whose device is not known is refused, naming the field: it must give id_registers", async () => {
  const cases: [string, RegExp][] = [
    [
      '"qemu_version":"QEMU emulator version 9.1.0"',
      /^smmuv3 trace: the ID registers of QEMU 9\.1 are not known \(QEMU 7\.2, QEMU 10\.0 are\): give id_registers at s\.json qemu_version$/,
    ],
    ['"qemu_version":"a build"', /the ID registers of this QEMU are not known .* at s\.json qemu_version$/],
    [
      '"qemu_version":"QEMU 10.0.13"',
      /^smmuv3 trace: QEMU 10\.0 recordings have smmu_stage "1" or "2" or "nested": say which at s\.json smmu_stage$/,
    ],
    ['"qemu_version":"QEMU 7.2.22","smmu_stage":"2"', /QEMU 7\.2 recordings have smmu_stage "1", not "2" at/],
    ['"qemu_version":"QEMU 10.0.13","smmu_stage":"3"', /at s\.json smmu_stage$/],
  ];
  for (const [meta, want] of cases) {
    const r = await runMain(["trace", "s.json"], { "s.json": `{${meta},"steps":[]}` });
    assert.equal(r.code, 2, meta);
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0], want);
  }
  // With its own ID registers, any recording replays.
  const own = await runMain(["trace", "s.json"], {
    "s.json": '{"qemu_version":"QEMU 9.1","id_registers":{"IDR0":"0x0d40101a","IDR1":"0x02730010","IDR3":"0x1404",' +
      '"IDR5":"0x74"},"steps":[]}',
  });
  assert.equal(own.code, 0, own.errors.join("\n"));
  assert.match(own.out, /^device: IDR0 0xd40101a IDR1 0x2730010 IDR3 0x1404 IDR5 0x74 \(the recording's\), /m);
});
