/** `smmuv3 trace` and `smmuv3 state` (src/cli/trace*.ts, src/cli/state.ts) through the CLI's `main`. */
import assert from "node:assert/strict";
import { REGISTERS } from "../gen/mod.ts";
import { assertJsonRule, runMain, runProgram } from "./helpers/cli.ts";

const VECTORS = new URL("./vectors/qemu-7.2/", import.meta.url);
const FIXTURES = new URL("./fixtures/", import.meta.url);
const vector = (name: string) => new URL(`${name}.json`, VECTORS).pathname;
/** A recorded folder's deviation list (tests/vectors/<folder>/deviations.json). */
const listOf = (folder: string) => new URL(`./vectors/${folder}/deviations.json`, import.meta.url).pathname;

Deno.test("trace of a recorded vector: the 4-level walk of each miss, the PA, the recorded answer, the event", async () => {
  const { code, out, errors } = await runMain(["trace", vector("s1-4k-4level-basic")]);
  const block = out.split("\n");
  const at = block.findIndex((l) => l.startsWith("step 40 ") && l.includes("dma sid 16 write iova 0x1000"));
  assert.ok(at >= 0, out);
  const walk = block.slice(at + 1, at + 6);
  assert.deepEqual(walk.slice(0, 4).map((l) => l.trim().split(/\s+/).slice(0, 2).join(" ")), [
    "S1 L0",
    "S1 L1",
    "S1 L2",
    "S1 L3",
  ]);
  assert.match(walk[0], /table 0x43000000 +desc @0x43000000 = 0x0000000043001003 +table$/);
  assert.match(walk[3], / page$/);
  assert.equal(walk[4].trim(), "→ pa 0x48005000  (as recorded)");
  // The next DMA on the same page hits the TLB: no walk.
  assert.deepEqual(block.slice(at + 7, at + 9).map((l) => l.trim()), ["TLB hit", "→ pa 0x48005234  (as recorded)"]);
  // The unmapped IOVA: the walk ends at an invalid level-3 descriptor and raises one event, decoded by name
  // (IHI 0070 7.3: RnW 0 is a write, PnU 1 privileged).
  const fault = block.findIndex((l) => l.startsWith("step 45 "));
  assert.match(block[fault + 4], /S1 L3 .* = 0x0000000000000000 +invalid$/);
  assert.equal(block[fault + 5].trim(), "→ fault F_TRANSLATION  (as recorded)");
  assert.equal(
    block[fault + 6].trim(),
    "event F_TRANSLATION StreamID=0x10 PnU=PRIVILEGED RnW=WRITE CLASS=IN InputAddr=0x3000",
  );
  assert.match(out, /^step 0 +mmio_write STRTAB_BASE \(0x80\) = 0x4000000041000000$/m);
  // QEMU 7.2 records one event per 4-byte piece of a DMA (tests/vectors/qemu-7.2/deviations.json): this model writes
  // one, so EVENTQ_PROD differs from the recording, and trace says so and exits 1 (no deviation list given).
  assert.match(out, /^step 46 +mmio_read EVENTQ_PROD \(0x100a8\) = 0x1 {2}\(recorded: 0x8; differs\)$/m);
  assert.match(out, /; 21 recorded observations: 9 differ$/m);
  assert.equal(code, 1);
  assert.deepEqual(errors, [
    "smmuv3 trace: 9 recorded observations differ from this model, at step 46, 47, 48, 49, 50, 51, 52, 53, 54",
  ]);
});

Deno.test("trace of a QEMU 10 nested recording runs on its device: every DMA walks both stages, as recorded", async () => {
  const file = new URL("./vectors/qemu-10.0/nested-basic.json", import.meta.url).pathname;
  const { out } = await runMain(["trace", file]);
  // tests/vectors/qemu-10.0/README.md: stage 1 and 2 (IDR0.S1P, S2P), IDR3.XNX with stage 2.
  assert.match(
    out,
    /^device: IDR0 0xd44101b IDR1 0x2730010 IDR3 0x1414 IDR5 0x74 \(the recording's: QEMU 10\.0, nested\)/m,
  );
  // The first DMA of SID 16 (STE Config = S1+S2, IHI 0070 5.2): the CD's IPA, then each stage-1 table's IPA and the
  // output IPA, each translated at stage 2 (IHI 0070 3.3.1): S2 and S1 lines, the PA QEMU gave.
  const lines = out.split("\n");
  const at = lines.findIndex((l) => /^step 126 +dma sid 16 write iova 0x1010/.test(l));
  const end = lines.findIndex((l, i) => i > at && l.trim().startsWith("→"));
  const walk = lines.slice(at + 1, end).map((l) => l.trim().slice(0, 2));
  assert.deepEqual([...new Set(walk)].sort(), ["S1", "S2"]);
  assert.equal(walk.filter((s) => s === "S1").length, 3, "three stage-1 levels (4K, T0SZ 25)");
  assert.equal(lines[end].trim(), "→ pa 0x48001010  (as recorded)");
  // Not one configuration error: the STEs asking for stage 2 are legal on this device.
  assert.doesNotMatch(out, /C_BAD_STE/);
  assert.equal(lines.filter((l) => / {2}\(as recorded\)$/.test(l) && /→ pa/.test(l)).length >= 10, true);
});

Deno.test("--allow-deviations accepts exactly the documented differences, and says why", async () => {
  const name = "cmdq-illegal-command";
  const without = await runMain(["trace", vector(name)]);
  assert.equal(without.code, 1);
  assert.match(without.errors.at(-1)!, /3 recorded observations differ from this model, at step 61, 62, 65$/);

  const accepted = await runMain(["trace", vector(name), "--allow-deviations", listOf("qemu-7.2")]);
  assert.equal(accepted.code, 0, accepted.errors.join("\n"));
  assert.deepEqual(accepted.errors, []);
  assert.match(
    accepted.out,
    /^step 61 +mmio_read CMDQ_CONS .* = 0x1000008 {2}\(recorded: .*; differs: a documented deviation\)$/m,
  );
  assert.match(accepted.out, /^ {11}deviation: IHI 0070 4\.4\.2\.7: /m);
  assert.match(accepted.out, /: 3 differ \(3 of them documented deviations\)$/m);
  assert.match(accepted.out, /^deviations applied: listed at step 61, 62, 65$/m);

  // A deviation that no longer matches what this model does is not accepted, and is reported.
  const reason = "IHI 0070 4.4.2.7";
  const list = (ours: Record<string, string>) => JSON.stringify({ steps: [{ reason, ours: { [name]: ours } }] });
  const stale = list({ 61: "0x2000008", 62: "0x1", 65: "0x1000008" });
  const r = await runMain(["trace", vector(name), "--allow-deviations", "d.json"], { "d.json": stale });
  assert.equal(r.code, 1);
  assert.deepEqual(r.errors, [
    "smmuv3 trace: warning: the deviation listed for step 61 did not occur (the step is as recorded, or this model " +
    "now observes something else)",
    "smmuv3 trace: 1 recorded observation differs from this model, at step 61",
  ]);
  // A step listed twice is refused.
  const twice = JSON.stringify({
    steps: [{ reason, ours: { [name]: { 61: "0x1" } } }, { reason, ours: { [name]: { 61: "0x1" } } }],
  });
  const t = await runMain(["trace", vector(name), "--allow-deviations", "d.json"], { "d.json": twice });
  assert.equal(t.code, 2);
  assert.deepEqual(t.errors, [`smmuv3 trace: step 61 is listed twice at d.json steps[1].ours.${name}`]);
  // The list may be YAML, and lists deviations by scenario name.
  const yaml = `steps:\n  - reason: "IHI 0070 6.3.1"\n    ours: { other-scenario: { "3": "0x1" } }\n`;
  const none = await runMain(["trace", vector(name), "--allow-deviations", "d.yaml"], { "d.yaml": yaml });
  assert.equal(none.code, 1);
  assert.equal(none.errors[0], `smmuv3 trace: warning: d.yaml lists no deviation for scenario ${name}`);
});

Deno.test("every recorded vector traces with exit 0 given its folder's deviation list", async () => {
  for (const folder of ["qemu-7.2", "qemu-10.0"]) {
    const dir = new URL(`./vectors/${folder}/`, import.meta.url);
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".json"));
    const vectors = files.filter((n) => n !== "deviations.json").sort();
    assert.ok(vectors.length >= 8 && files.includes("deviations.json"), folder);
    for (const v of vectors) {
      const r = await runMain(["trace", new URL(v, dir).pathname, "--allow-deviations", listOf(folder)]);
      assert.equal(r.code, 0, `${folder}/${v}: ${r.errors.join("\n")}`);
      assert.deepEqual(r.errors, [], `${folder}/${v}`);
      // Without the list, a vector with a documented difference exits 1: the list is what accepts it.
      const applied = /^deviations applied: (.*)$/m.exec(r.out)?.[1];
      if (applied !== undefined) assert.equal((await runMain(["trace", new URL(v, dir).pathname])).code, 1, v);
    }
  }
});

Deno.test("trace --json: one object per step, every value a 0x… string, the same checks as the text", async () => {
  const { code, out } = await runMain(["trace", "--json", vector("s1-4k-4level-basic")]);
  assert.equal(code, 1);
  const doc = JSON.parse(out);
  assertJsonRule(doc);
  assert.equal(doc.scenario.name, "s1-4k-4level-basic");
  assert.equal(doc.device.idRegisters.IDR0, "0xd40101a");
  assert.deepEqual(doc.steps.map((s: { step: number }) => s.step), [...doc.steps.keys()]);
  const dma = doc.steps[40];
  assert.deepEqual(
    { op: dma.op, sid: dma.sid, dir: dma.dir, iova: dma.iova, len: dma.len, result: dma.result, matches: dma.matches },
    {
      op: "dma",
      sid: "0x10",
      dir: "write",
      iova: "0x1000",
      len: 64,
      result: { ok: true, pa: "0x48005000" },
      matches: true,
    },
  );
  assert.deepEqual(dma.walk[0], {
    stage: 1,
    level: 0,
    table: "0x43000000",
    descriptorAddress: "0x43000000",
    descriptor: "0x0000000043001003",
    decision: "table",
  });
  const fault = doc.steps[45];
  assert.deepEqual(fault.result, { ok: false, type: "F_TRANSLATION", event: true });
  assert.equal(fault.events[0].type, "F_TRANSLATION");
  assert.deepEqual(fault.events[0].fields.InputAddr, "0x3000");
  assert.deepEqual(fault.events[0].fields.RnW, "WRITE");
  assert.deepEqual(doc.steps[46].recorded, { value: "0x8" });
  assert.deepEqual(doc.steps[46].ours, { value: "0x1" });
  assert.equal(doc.steps[46].matches, false);
  assert.deepEqual(doc.totals.unexplained, [46, 47, 48, 49, 50, 51, 52, 53, 54]);
});

Deno.test("a scenario number wider than its field is an error naming the step, not a truncated value", async () => {
  const dma = (fields: string) => `{"steps":[{"op":"comment","text":"x"},{"op":"dma","dir":"read",${fields}}]}`;
  const cases: [string, RegExp][] = [
    [
      dma('"sid":1,"iova":"0x10000000000000000"'),
      /0x10000000000000000 does not fit in 64 bits at s\.json steps\[1\]\.iova$/,
    ],
    [dma('"sid":"0x100000000","iova":0'), /0x100000000 does not fit in 32 bits at s\.json steps\[1\]\.sid$/],
    [dma('"sid":1,"ssid":"0x100000","iova":0'), /0x100000 does not fit in 20 bits at s\.json steps\[1\]\.ssid$/],
    [
      '{"steps":[{"op":"mmio_write","offset":"0x20","size":4,"value":"0x100000000"}]}',
      /0x100000000 does not fit 4 bytes at s\.json steps\[0\]\.value$/,
    ],
    [
      '{"steps":[{"op":"mmio_read","offset":"0x20","size":4,"observed":"0x1ffffffff"}]}',
      /0x1ffffffff does not fit 4 bytes at s\.json steps\[0\]\.observed$/,
    ],
    [
      '{"id_registers":{"IDR0":"0x100000000","IDR1":0,"IDR3":0,"IDR5":0},"steps":[]}',
      /does not fit in 32 bits at s\.json id_registers\.IDR0$/,
    ],
    [dma('"sid":1,"iova":18446744073709551616'), /above 2\^53: quote it as hex at s\.json steps\[1\]\.iova$/],
  ];
  for (const [text, want] of cases) {
    const r = await runMain(["trace", "s.json"], { "s.json": text });
    assert.equal(r.code, 2, text);
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0], want);
    assert.equal(r.out, "");
  }
  // The widest values that fit are taken.
  const ok = await runMain(["trace", "s.json"], {
    "s.json": dma('"sid":"0xffffffff","ssid":"0xfffff","iova":"0xffffffffffffffff"'),
  });
  assert.equal(ok.code, 0, ok.errors.join("\n"));
  assert.match(ok.out, /dma sid 4294967295 ssid 1048575 read iova 0xffffffffffffffff/);
});

Deno.test("trace and state refuse bad input with one line naming what and where, exit 2", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["trace", "a.json"], { "a.json": "{ nope" }, /^smmuv3 trace: not valid JSON \(.*\) at a\.json$/],
    [["trace", "a.yaml"], { "a.yaml": "steps: [\n  - op: dma\n  bad" }, /^smmuv3 trace: not valid YAML .* at a\.yaml$/],
    [
      ["trace", "a.json"],
      { "a.json": '{"steps":[{"op":"dma","sid":1,"dir":"up","iova":"0x0"}]}' },
      /at a\.json steps\[0\]\.dir$/,
    ],
    [
      ["trace", "a.json"],
      { "a.json": '{"steps":[{"op":"poke"}]}' },
      /'comment' \| 'mem_write' .* at a\.json steps\[0\]\.op$/,
    ],
    [["trace", "a.json"], { "a.json": '{"steps":[{"op":"mem_write","addr":"0xzz","hex":""}]}' }, /steps\[0\]\.addr$/],
    [
      ["trace", "a.json"],
      { "a.json": '{"steps":[{"op":"mmio_write","offset":"0x20000","size":4,"value":"1"}]}' },
      /outside the 128 KiB register frame at a\.json steps\[0\]$/,
    ],
    [
      ["trace", "a.json"],
      { "a.json": '{"id_registers":{"IDR0":0,"IDR1":0,"IDR3":0,"IDR5":0},"steps":[]}' },
      /id_registers$/,
    ],
    [
      ["trace", "a.json", "--allow-deviations", "d.json"],
      { "a.json": '{"steps":[]}', "d.json": '{"steps":[{"ours":{"a":{"1":"0x1"}}}]}' },
      /^smmuv3 trace: .* at d\.json steps\[0\]\.reason$/,
    ],
    [
      ["trace", "a.json", "--allow-deviations", "d.json"],
      { "a.json": '{"steps":[]}', "d.json": '{"a":{"1":{"ours":"0x1","reason":"IHI 0070 6.3.1"}}}' },
      /^smmuv3 trace: Unrecognized key\(s\) in object: 'a' at d\.json top level$/,
    ],
    [["trace", "/nonexistent/x.json"], {}, /^smmuv3 trace: cannot read .* at \/nonexistent\/x\.json$/],
    [["trace"], {}, /expected one scenario file .* at argument 2$/],
    [["trace", "a.json", "b.json"], {}, /expected one scenario file .* at argument 3$/],
    [["state"], {}, /expected one saved-state blob file at argument 2$/],
    [["state", "/nonexistent/blob"], {}, /^smmuv3 state: cannot read .* at \/nonexistent\/blob$/],
    [["state", new URL("saved_state_v1.json", FIXTURES).pathname], {}, /^smmuv3 state: not a saved state: .* at /],
  ];
  for (const [args, files, want] of cases) {
    const { code, errors, out } = await runMain(args, files);
    assert.equal(code, 2, `${args.join(" ")}: ${errors.join("|")}`);
    assert.equal(errors.length, 1, args.join(" "));
    assert.match(errors[0], want);
    assert.doesNotMatch(errors[0], /\n| {4}at /);
    // A trace prints the steps before the one it stopped at; a refused file prints nothing.
    if (args[0] === "state" || !/steps\[\d+\]$/.test(errors[0])) assert.equal(out, "", args.join(" "));
  }
});

Deno.test("state decodes the v1 fixture blob to the JSON recorded beside it, values as 0x… strings", async () => {
  const { code, out, errors } = await runMain(["state", new URL("saved_state_v1.bin", FIXTURES).pathname]);
  assert.equal(code, 0, errors.join("\n"));
  const got = JSON.parse(out);
  assertJsonRule(got);
  // saved_state_v1.json is stateToJson's decoding (numbers for small fields): the same content.
  const want = JSON.parse(await Deno.readTextFile(new URL("saved_state_v1.json", FIXTURES)));
  // Registers saved since schema 1 are absent from the v1 blob, and the decoding says so.
  for (const r of REGISTERS) {
    if (r.state === "saved" && !(r.name in want)) {
      want[r.name] = "absent (in an older schema: restores as the reset value)";
    }
  }
  const same = (a: unknown, b: unknown, path: string): void => {
    if (typeof b === "number" && !path.endsWith(".schema_version")) {
      assert.equal(a, `0x${b.toString(16)}`, path);
    } else if (b !== null && typeof b === "object") {
      assert.deepEqual(Object.keys(a as object).sort(), Object.keys(b).sort(), path);
      for (const [k, v] of Object.entries(b)) same((a as Record<string, unknown>)[k], v, `${path}.${k}`);
    } else assert.equal(a, b, path);
  };
  same(got, want, "state");
  assert.equal(got.id_registers.IDR1.SIDSIZE, "0x10");
  assert.equal(got.schema_version, 1);
});

Deno.test("with only the cli task's permissions: a YAML trace, a log, a blob, --version; no prompt, no env", async () => {
  const yaml = await runProgram(["trace", "tests/fixtures/scenarios/bypass.yaml"]);
  assert.equal(yaml.code, 0, yaml.err);
  assert.equal(yaml.err, "");
  assert.match(yaml.out, /^scenario yaml-bypass: /);
  assert.match(yaml.out, /→ pa 0x12345000 {2}\(as recorded\)/);
  assert.match(yaml.out, /^step 2 +mmio_read CR0ACK \(0x24\) = 0x0 {2}\(as recorded\)$/m);

  const log = await runProgram(
    ["decode", "event", "-"],
    await Deno.readTextFile(new URL("linux-logs/linux-6.1-dmesg-T.txt", FIXTURES)),
  );
  assert.equal(log.code, 0, log.err);
  assert.match(log.out, /^EVT_F_TRANSLATION \(line 3\)/m);
  assert.equal(
    log.err,
    "smmuv3 decode: warning: event block cut short after 2 of 4 64-bit words (the log ends) at line 12\n",
  );

  const state = await runProgram(["state", "tests/fixtures/saved_state_v1.bin"]);
  assert.equal(state.code, 0, state.err);
  assert.equal(JSON.parse(state.out).schema_version, 1);

  const json = await runProgram(["trace", "--json", "tests/vectors/qemu-7.2/bypass-smmu-disabled.json"]);
  assert.equal(json.code, 1); // GBPA: a documented deviation, not accepted without the list
  assertJsonRule(JSON.parse(json.out));
  const listed = await runProgram([
    "trace",
    "--json",
    "tests/vectors/qemu-7.2/bypass-smmu-disabled.json",
    "--allow-deviations",
    "tests/vectors/qemu-7.2/deviations.json",
  ]);
  assert.equal(listed.code, 0, listed.err);
  assert.deepEqual(JSON.parse(listed.out).totals.applied, { listed: [1], records: [], stale: [] });

  const version = await runProgram(["--version"]);
  assert.match(version.out, /^smmuv3 \d+\.\d+\.\d+\n$/);

  const bad = await runProgram(["decode", "cd", "0xnope"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.out, "");
  assert.equal(bad.err, 'smmuv3 decode: not a hex number at token 1 "0xnope" (line 1)\n');
});

Deno.test("trace --json of every fuzz regression (copies, resets, save/restore, aborts) keeps the JSON rule", async () => {
  const dir = new URL("./fuzz/regressions/", import.meta.url);
  for (const e of Deno.readDirSync(dir)) {
    const r = await runMain(["trace", "--json", new URL(e.name, dir).pathname]);
    assert.equal(r.code, 0, `${e.name}: ${r.errors.join("\n")}`);
    assertJsonRule(JSON.parse(r.out));
  }
});
