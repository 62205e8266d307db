import assert from "node:assert/strict";
import { CR0, GBPA, REG, REGISTERS } from "../gen/mod.ts";
import { registerAt, RegisterFile, word } from "../src/registers/regfile.ts";

Deno.test("reset puts every stored register at its reset value from the spec", () => {
  const regs = new RegisterFile();
  regs.words.fill(0xdeadbeef);
  regs.reset();
  for (const r of REGISTERS.filter((r) => r.state !== "none" && r.state !== "id")) {
    assert.equal(regs.words[word(r.offset)], r.reset[0], r.name);
    if (r.width === 64) assert.equal(regs.words[word(r.offset) + 1], r.reset[1], r.name);
  }
  assert.equal(CR0.SMMUEN.get(regs.words, word(REG.CR0)), 0, "SMMU disabled out of reset");
  assert.equal(GBPA.Update.get(regs.words, word(REG.GBPA)), 0, "no GBPA update pending out of reset");
});

Deno.test("registerAt finds both words of a 64-bit register and nothing between registers", () => {
  assert.equal(registerAt(REG.STRTAB_BASE)?.name, "STRTAB_BASE");
  assert.equal(registerAt(REG.STRTAB_BASE + 4)?.name, "STRTAB_BASE");
  assert.equal(registerAt(0x30), undefined);
  assert.equal(registerAt(0x20000), undefined);
  assert.equal(registerAt(-4), undefined);
});
