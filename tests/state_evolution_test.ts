/**
 * Schema evolution of the saved state: the first-schema fixture keeps restoring, newer schemas and unknown fields are
 * refused (the rule is stated in src/state/save_restore.ts), and a register added to the spec is saved and restored by
 * construction, while a SavedState key save/restore cannot handle fails `deno check`.
 */
import assert from "node:assert/strict";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { SavedState } from "../gen/proto/smmuv3/v1/saved_state.ts";
import { REG, REGISTERS, SCHEMA_VERSION } from "../gen/mod.ts";
import { Smmu } from "../src/device/smmu.ts";
import { SparseMemory } from "../src/core/memory.ts";
import { SavedStateError } from "../src/core/errors.ts";
import { registerAt, RegisterFile, word } from "../src/registers/regfile.ts";
import { restoreState } from "../src/state/save_restore.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);
const V1_BLOB = Deno.readFileSync(new URL("saved_state_v1.bin", FIXTURES));
type Decoded = Record<string, { value: string } & Record<string, unknown>>;
const V1_JSON = JSON.parse(Deno.readTextFileSync(new URL("saved_state_v1.json", FIXTURES))) as Decoded;
const SAVED = REGISTERS.filter((r) => r.state === "saved");

/** A register file with the fingerprint recorded in the fixture's decoding. */
function v1Device(): RegisterFile {
  const regs = new RegisterFile();
  for (const r of REGISTERS.filter((r) => r.state === "id" && r.proto !== undefined)) {
    const ids = V1_JSON.id_registers as unknown as Record<string, { value: string }>;
    regs.words[word(r.offset)] = Number(ids[r.name].value);
  }
  return regs;
}

Deno.test("the first-schema fixture restores: its registers as recorded, any later register at its reset value", () => {
  const next = restoreState(v1Device(), V1_BLOB);
  for (const r of SAVED) {
    const o = word(r.offset);
    const got = r.width === 64 ? (BigInt(next[o + 1]) << 32n) | BigInt(next[o]) : BigInt(next[o]);
    const recorded = V1_JSON[r.name];
    const want = recorded ? BigInt(recorded.value) : (BigInt(r.reset[1]) << 32n) | BigInt(r.reset[0]);
    assert.equal(got, want, r.name);
  }
});

Deno.test("the first-schema fixture restores into a device with the recorded ID registers, as the guest sees it", () => {
  const ids = V1_JSON.id_registers as unknown as Record<string, { value: string }>;
  const idRegisters = { IDR0: +ids.IDR0.value, IDR1: +ids.IDR1.value, IDR3: +ids.IDR3.value, IDR5: +ids.IDR5.value };
  const smmu = new Smmu({ memory: new SparseMemory(), idRegisters });
  smmu.restore(V1_BLOB);
  for (
    const name of ["CR0", "CR0ACK", "IRQ_CTRLACK", "CMDQ_CONS", "EVENTQ_PROD", "EVENTQ_PROD_P0", "GERROR"] as const
  ) {
    const source = V1_JSON[name.replace(/ACK$|_P0$/, "")];
    assert.equal(smmu.mmioRead(REG[name], 4), BigInt(source.value), name);
  }
  assert.throws(() => new Smmu({ memory: new SparseMemory() }).restore(V1_BLOB), SavedStateError, "another device");
});

Deno.test("evolution rule: a newer schema_version is refused, and so is an unknown field number", () => {
  const newer = SavedState.encode({ ...SavedState.decode(V1_BLOB), schemaVersion: SCHEMA_VERSION + 1 }).finish();
  assert.throws(
    () => restoreState(v1Device(), newer),
    (e) => e instanceof SavedStateError && e.field === "schema_version",
  );
  const unused = Math.max(...REGISTERS.map((r) => (r.state === "saved" ? r.proto! : 0))) + 1;
  const extra = new BinaryWriter().tag(unused, WireType.Varint).uint32(0).finish();
  const unknown = new Uint8Array([...V1_BLOB, ...extra]);
  assert.throws(
    () => restoreState(v1Device(), unknown),
    (e) => e instanceof SavedStateError && e.field === `field ${unused}`,
  );
});

// ---------------------------------------------------------------- a regenerated copy of the spec

const ROOT = new URL("../", import.meta.url);
const NEW_REGISTER = "EVOLUTION_PROBE";
const NEW_RESET = 0x5a;

async function run(args: string[], cwd: string): Promise<{ ok: boolean; out: string; stdout: string }> {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder();
  return { ok: out.success, out: text.decode(out.stdout) + text.decode(out.stderr), stdout: text.decode(out.stdout) };
}

/** The spec with schema_version + 1 and one more saved register (a free offset, the next proto number, reset ≠ 0). */
function evolvedSpec(spec: string): string {
  let offset = 0x20;
  while (registerAt(offset) !== undefined) offset += 4;
  const proto = Math.max(...REGISTERS.map((r) => r.proto ?? 0)) + 1;
  const register = `registers:
  ${NEW_REGISTER}:
    offset: 0x${offset.toString(16)}
    width: 32
    access: RW
    reset: 0x${NEW_RESET.toString(16)}
    state: saved
    proto: ${proto}
    description: A register added by the schema evolution test.
    fields:
      VALUE: { bits: "7:0", description: Any value. }
`;
  const evolved = spec.replace(/^registers:\n/m, register)
    .replace(/^(\s*schema_version:\s*)(\d+)/m, (_, head, v) => `${head}${Number(v) + 1}`);
  assert.notEqual(evolved, spec);
  return evolved;
}

/** Restores the v1 fixture with the evolved code, and checks the evolved schema's own rules. */
const PROBE = `
import { restoreState, saveState } from "./src/state/save_restore.ts";
import { RegisterFile, word } from "./src/registers/regfile.ts";
import { REG, REGISTERS, SCHEMA_VERSION } from "./gen/mod.ts";
import { SavedState } from "./gen/proto/smmuv3/v1/saved_state.ts";
const blob = Deno.readFileSync(Deno.args[0]);
const regs = new RegisterFile();
const ids = SavedState.decode(blob).idRegisters as unknown as Record<string, number>;
for (const r of REGISTERS) if (r.state === "id" && r.proto) regs.words[word(r.offset)] = ids[r.name.toLowerCase()];
const at = word(REG.${NEW_REGISTER});
const fromV1 = restoreState(regs, blob);
const refusal = (bytes: Uint8Array) => { try { restoreState(regs, bytes); return "accepted"; } catch (e) { return (e as { field: string }).field; } };
regs.words.set(fromV1);
regs.words[at] = 0x33;
const current = saveState(regs);
const lacking = SavedState.encode({ ...SavedState.decode(current), evolutionProbe: undefined }).finish();
const newer = SavedState.encode({ ...SavedState.decode(current), schemaVersion: SCHEMA_VERSION + 1 }).finish();
console.log(JSON.stringify({
  schema: SCHEMA_VERSION,
  fromV1: fromV1[at],
  cr0: fromV1[word(REG.CR0)],
  roundTrip: restoreState(regs, current)[at],
  lacking: refusal(lacking),
  newer: refusal(newer),
}));
`;

Deno.test("a saved register added to the spec is handled by construction; a non-register key fails deno check", async () => {
  const dir = await Deno.makeTempDir({ prefix: "smmuv3-evolution-" });
  try {
    await Deno.writeTextFile(
      `${dir}/registers.yaml`,
      evolvedSpec(await Deno.readTextFile(new URL("registers.yaml", ROOT))),
    );
    const codegen = await run(
      ["run", "-A", "codegen/main.ts", "--spec", `${dir}/registers.yaml`, "--out", dir],
      ROOT.pathname,
    );
    assert.ok(codegen.ok, codegen.out);
    for await (const d of Deno.readDir(new URL("src/", ROOT))) {
      if (!d.isDirectory) continue;
      await Deno.mkdir(`${dir}/src/${d.name}`, { recursive: true });
      for await (const f of Deno.readDir(new URL(`src/${d.name}/`, ROOT))) {
        if (f.isFile) await Deno.copyFile(new URL(`src/${d.name}/${f.name}`, ROOT), `${dir}/src/${d.name}/${f.name}`);
      }
    }
    await Deno.copyFile(new URL("deno.json", ROOT), `${dir}/deno.json`);
    await Deno.writeTextFile(`${dir}/probe.ts`, PROBE);

    const probe = await run([
      "run",
      "--check",
      "-A",
      "--no-lock",
      "probe.ts",
      new URL("saved_state_v1.bin", FIXTURES).pathname,
    ], dir);
    assert.ok(probe.ok, probe.out);
    const result = JSON.parse(probe.stdout);
    assert.equal(result.schema, SCHEMA_VERSION + 1);
    assert.equal(result.fromV1, NEW_RESET, "a field the older blob lacks takes its reset value, not zero");
    assert.equal(result.cr0, Number(V1_JSON.CR0.value), "the older blob's own fields restore as recorded");
    assert.equal(result.roundTrip, 0x33, "the new register is saved and restored");
    assert.equal(result.lacking, NEW_REGISTER, "a current-schema blob lacking a register is refused");
    assert.equal(result.newer, "schema_version");

    // Non-register state (a stalled transaction, say) would arrive as a nested message: save/restore cannot handle
    // that generically, and the compile-time check must say so.
    const generated = `${dir}/gen/proto/smmuv3/v1/saved_state.ts`;
    const text = await Deno.readTextFile(generated);
    const withMessage = text.replace(
      "export interface SavedState {\n",
      "export interface SavedState {\n  stalledTransaction?: { sid: number } | undefined;\n",
    );
    assert.notEqual(withMessage, text);
    await Deno.writeTextFile(generated, withMessage);
    const check = await run(["check", "--no-lock", "src/state/save_restore.ts"], dir);
    assert.ok(!check.ok, "deno check must fail");
    assert.match(check.out, /_everyKeyHandled/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
