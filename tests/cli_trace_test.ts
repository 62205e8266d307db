/** `smmuv3 trace` and `smmuv3 state` (src/cli/trace.ts, src/cli/state.ts) through the CLI's `main`. */
import assert from "node:assert/strict";
import { type CliIo, main } from "../cli.ts";
import { REGISTERS } from "../gen/mod.ts";

const VECTORS = new URL("./vectors/qemu-7.2/", import.meta.url);
const FIXTURES = new URL("./fixtures/", import.meta.url);

/** Runs the CLI with files from `files` (else the disk); returns exit code, output and error lines. */
async function run(args: string[], files: Record<string, string> = {}) {
  let out = "";
  const errors: string[] = [];
  const io: CliIo = {
    out: (t) => void (out += t),
    readStdin: () => Promise.resolve(""),
    readFile: (p) => p in files ? Promise.resolve(files[p]) : Deno.readTextFile(p),
  };
  const code = await main(args, io, (l) => errors.push(l), (p) => Deno.readFile(p));
  return { code, out, errors };
}

Deno.test("trace of a recorded vector: the 4-level walk of each miss, the PA, the recorded answer, the event", async () => {
  const { code, out, errors } = await run(["trace", new URL("s1-4k-4level-basic.json", VECTORS).pathname]);
  assert.equal(code, 0, errors.join("\n"));
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
  // The unmapped IOVA: the walk ends at an invalid level-3 descriptor and raises one event, decoded by name.
  const fault = block.findIndex((l) => l.startsWith("step 45 "));
  assert.match(block[fault + 4], /S1 L3 .* = 0x0000000000000000 +invalid$/);
  assert.equal(block[fault + 5].trim(), "→ fault F_TRANSLATION  (as recorded)");
  assert.equal(block[fault + 6].trim(), "event F_TRANSLATION StreamID=0x10 PnU=0x1 CLASS=IN InputAddr=0x3000");
  assert.match(out, /^step 0 +mmio_write STRTAB_BASE \(0x80\) = 0x4000000041000000$/m);
});

const YAML = `
name: yaml-bypass
steps:
  - op: comment
    text: SMMUEN stays 0, so every transaction bypasses
  - op: dma
    sid: 3
    iova: "0x12345000"
    dir: read
    observed: { pa: "0x12345000" }
  - op: mmio_read
    offset: 0x24
    size: 4
    observed: 0
`;

Deno.test("trace reads YAML scenarios and needs no recorded observations", async () => {
  const { code, out } = await run(["trace", "s.yaml"], { "s.yaml": YAML });
  assert.equal(code, 0);
  assert.match(out, /^scenario yaml-bypass$/m);
  assert.match(out, /^step 0 +# SMMUEN stays 0/m);
  assert.match(out, /→ pa 0x12345000 {2}\(as recorded\)/);
  assert.match(out, /^step 2 +mmio_read CR0ACK \(0x24\) = 0x0 {2}\(as recorded\)$/m);
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
    [["trace", "a.json"], { "a.json": '{"steps":[{"op":"poke"}]}' }, /at a\.json steps\[0\]\.op$/],
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
    [["trace", "/nonexistent/x.json"], {}, /^smmuv3 trace: cannot read .* at \/nonexistent\/x\.json$/],
    [["trace"], {}, /expected one scenario file .* at argument 2$/],
    [["state"], {}, /expected one saved-state blob file at argument 2$/],
    [["state", "/nonexistent/blob"], {}, /^smmuv3 state: cannot read .* at \/nonexistent\/blob$/],
    [["state", new URL("saved_state_v1.json", FIXTURES).pathname], {}, /^smmuv3 state: not a saved state: .* at /],
  ];
  for (const [args, files, want] of cases) {
    const { code, errors, out } = await run(args, files);
    assert.equal(code, 2, `${args.join(" ")}: ${errors.join("|")}`);
    assert.equal(errors.length, 1, args.join(" "));
    assert.match(errors[0], want);
    assert.doesNotMatch(errors[0], /\n| {4}at /);
    if (args[0] === "state") assert.equal(out, "");
  }
});

Deno.test("state decodes the v1 fixture blob to the JSON recorded beside it", async () => {
  const { code, out, errors } = await run(["state", new URL("saved_state_v1.bin", FIXTURES).pathname]);
  assert.equal(code, 0, errors.join("\n"));
  const want = JSON.parse(await Deno.readTextFile(new URL("saved_state_v1.json", FIXTURES)));
  // Registers saved since schema 1 are absent from the v1 blob, and the decoding says so.
  for (const r of REGISTERS) {
    if (r.state === "saved" && !(r.name in want)) {
      want[r.name] = "absent (in an older schema: restores as the reset value)";
    }
  }
  assert.deepEqual(JSON.parse(out), want);
});
