import assert from "node:assert/strict";
import {
  CMD_ATC_INV,
  CMD_CFGI_CD,
  CMD_CFGI_STE,
  CMD_CFGI_STE_RANGE,
  CMD_PREFETCH_CONFIG,
  CMD_PRI_RESP,
  CMD_RESUME,
  CMD_STALL_TERM,
  CMD_SYNC,
  CMD_SYNC_CS,
  CMD_TLBI_EL2_VA,
  CMD_TLBI_NH_ALL,
  CMD_TLBI_NH_ASID,
  CMD_TLBI_NH_VA,
  CMD_TLBI_S2_IPA,
  CMD_TLBI_TG,
  CMDQ_CONS_ERR,
  CR2,
  GERROR,
  IRQ_CTRL,
  OPCODE,
  REG,
} from "../gen/mod.ts";
import {
  type AtcInvalidation,
  type InterruptSinks,
  type Invalidation,
  Smmu,
  type SmmuFeatures,
  type SmmuOptions,
  SparseMemory,
} from "../mod.ts";
import { command, Driver } from "../src/guest/driver.ts";

const ALL: SmmuFeatures = { hyp: true, ats: true, pri: true, sev: true };

function setup(features: SmmuFeatures = ALL, extra: Partial<SmmuOptions> = {}, memory = new SparseMemory()) {
  const smmu = new Smmu({ memory, features, ...extra });
  const d = new Driver(smmu, memory);
  d.probe();
  d.reset();
  const scopes: Invalidation[] = [];
  let syncs = 0;
  smmu.observe({ invalidated: (s) => scopes.push(structuredClone(s)), synced: () => syncs++ });
  return { smmu, d, memory, scopes, syncs: () => syncs };
}
const bit = (f: { get(w: Uint32Array): number }) => {
  const w = new Uint32Array(1);
  (f as unknown as { set(w: Uint32Array, v: number): void }).set(w, 1);
  return w[0];
};

// Each command with the invalidation the architecture gives it (IHI 0070 4.3, 4.4).
const VA = 0x1234_5000;
const SCOPES: [string, Uint32Array, Invalidation][] = [
  ["CFGI_STE", command(OPCODE.CFGI_STE, (w) => (CMD_CFGI_STE.StreamID.set(w, 7), CMD_CFGI_STE.Leaf.set(w, 1))), {
    kind: "ste",
    sid: 7,
    leaf: true,
  }],
  [
    "CFGI_STE_RANGE",
    command(
      OPCODE.CFGI_STE_RANGE,
      (w) => (CMD_CFGI_STE_RANGE.StreamID.set(w, 0x40), CMD_CFGI_STE_RANGE.Range.set(w, 3)),
    ),
    { kind: "ste_range", sid: 0x40, range: 3 },
  ],
  ["CFGI_ALL", command(OPCODE.CFGI_STE_RANGE, (w) => CMD_CFGI_STE_RANGE.Range.set(w, 31)), { kind: "cfg_all" }],
  [
    "CFGI_CD",
    command(OPCODE.CFGI_CD, (w) => (CMD_CFGI_CD.StreamID.set(w, 3), CMD_CFGI_CD.SubstreamID.set(w, 9))),
    { kind: "cd", sid: 3, ssid: 9, leaf: false },
  ],
  ["CFGI_CD_ALL", command(OPCODE.CFGI_CD_ALL, (w) => CMD_CFGI_STE.StreamID.set(w, 5)), { kind: "cd_all", sid: 5 }],
  ["TLBI_NH_ALL", command(OPCODE.TLBI_NH_ALL, (w) => CMD_TLBI_NH_ALL.VMID.set(w, 4)), { kind: "nh_all", vmid: 4 }],
  [
    "TLBI_NH_ASID",
    command(OPCODE.TLBI_NH_ASID, (w) => (CMD_TLBI_NH_ASID.VMID.set(w, 4), CMD_TLBI_NH_ASID.ASID.set(w, 0x1234))),
    { kind: "nh_asid", vmid: 4, asid: 0x1234 },
  ],
  [
    "TLBI_NH_VA",
    command(OPCODE.TLBI_NH_VA, (w) => (CMD_TLBI_NH_VA.ASID.set(w, 2), CMD_TLBI_NH_VA.Address.setAddress(w, VA))),
    { kind: "nh_va", vmid: 0, asid: 2, addr: VA, leaf: false, range: null },
  ],
  [
    "TLBI_NH_VA (upper range, sign-extended)",
    command(OPCODE.TLBI_NH_VA, (w) => CMD_TLBI_NH_VA.Address.set(w, 2 ** 52 - 1)),
    { kind: "nh_va", vmid: 0, asid: 0, addr: -4096, leaf: false, range: null },
  ],
  [
    "TLBI_NH_VA (range, RIL)",
    command(OPCODE.TLBI_NH_VA, (w) => {
      CMD_TLBI_NH_VA.Address.setAddress(w, VA);
      CMD_TLBI_NH_VA.TG.set(w, CMD_TLBI_TG.GRAN_4K);
      CMD_TLBI_NH_VA.NUM.set(w, 3);
      CMD_TLBI_NH_VA.SCALE.set(w, 1);
      CMD_TLBI_NH_VA.TTL.set(w, 3);
      CMD_TLBI_NH_VA.Leaf.set(w, 1);
    }),
    { kind: "nh_va", vmid: 0, asid: 0, addr: VA, leaf: true, range: { num: 3, scale: 1, tg: 1, ttl: 3 } },
  ],
  [
    "TLBI_NH_VAA",
    command(OPCODE.TLBI_NH_VAA, (w) => CMD_TLBI_NH_VA.Address.setAddress(w, VA)),
    { kind: "nh_va", vmid: 0, asid: null, addr: VA, leaf: false, range: null },
  ],
  ["TLBI_EL2_ALL", command(OPCODE.TLBI_EL2_ALL), { kind: "el2_all" }],
  ["TLBI_EL2_ASID", command(OPCODE.TLBI_EL2_ASID, (w) => CMD_TLBI_NH_ASID.ASID.set(w, 6)), {
    kind: "el2_asid",
    asid: 6,
  }],
  [
    "TLBI_EL2_VA (E2H = 0: no ASID)",
    command(OPCODE.TLBI_EL2_VA, (w) => (CMD_TLBI_EL2_VA.ASID.set(w, 6), CMD_TLBI_EL2_VA.Address.setAddress(w, VA))),
    { kind: "el2_va", asid: null, addr: VA, leaf: false, range: null },
  ],
  ["TLBI_S12_VMALL", command(OPCODE.TLBI_S12_VMALL, (w) => CMD_TLBI_NH_ALL.VMID.set(w, 9)), {
    kind: "s12_vmall",
    vmid: 9,
  }],
  [
    "TLBI_S2_IPA",
    command(OPCODE.TLBI_S2_IPA, (w) => (CMD_TLBI_S2_IPA.VMID.set(w, 9), CMD_TLBI_S2_IPA.Address.setAddress(w, VA))),
    { kind: "s2_ipa", vmid: 9, addr: VA, leaf: false, range: null },
  ],
  ["TLBI_NSNH_ALL", command(OPCODE.TLBI_NSNH_ALL), { kind: "nsnh_all" }],
];
for (const [name, cmd, scope] of SCOPES) {
  Deno.test(`${name} invalidates ${JSON.stringify(scope)}`, () => {
    const { d, scopes } = setup();
    d.issue(cmd);
    assert.deepEqual(scopes, [scope]);
    assert.equal(d.activeErrors(), 0);
  });
}

Deno.test("TLBI_EL2_VA carries its ASID in the EL2-E2H regime (CR2.E2H = 1); TLBI_EL2_VAA never", () => {
  // IHI 0070 4.4.2.8: the ASID of CMD_TLBI_EL2_VA is used when SMMU_CR2.E2H == 1 (the EL2 regime then has ASIDs);
  // CMD_TLBI_EL2_VAA matches every ASID.
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory, features: ALL });
  const d = new Driver(smmu, memory);
  d.probe();
  const cr2 = new Uint32Array(1);
  CR2.E2H.set(cr2, 1);
  d.reset({ cr2: cr2[0] });
  const scopes: Invalidation[] = [];
  smmu.observe({ invalidated: (x) => scopes.push(structuredClone(x)) });
  const va = (op: number) =>
    command(op, (w) => (CMD_TLBI_EL2_VA.ASID.set(w, 6), CMD_TLBI_EL2_VA.Address.setAddress(w, VA)));
  d.issue(va(OPCODE.TLBI_EL2_VA));
  d.issue(va(OPCODE.TLBI_EL2_VAA));
  assert.deepEqual(scopes, [
    { kind: "el2_va", asid: 6, addr: VA, leaf: false, range: null },
    { kind: "el2_va", asid: null, addr: VA, leaf: false, range: null },
  ]);
  assert.equal(d.activeErrors(), 0);
});

Deno.test("CMD_SYNC CS = SIG_SEV sends a WFE wake-up event where IDR0.SEV is 1, and nothing else", () => {
  // IHI 0070 4.7.3 CMD_SYNC.CS: 0b10 SIG_SEV signals completion with an SEV (a wake-up event); 6.3.1 IDR0.SEV says
  // whether the SMMU can send one. SIG_NONE signals nothing.
  for (const sev of [true, false]) {
    let sevs = 0, syncIrqs = 0;
    const memory = new SparseMemory();
    const smmu = new Smmu({
      memory,
      features: { ...ALL, sev },
      interrupts: { sev: () => sevs++, cmdqSync: () => syncIrqs++ },
    });
    const d = new Driver(smmu, memory);
    d.probe();
    d.reset();
    d.issue(command(OPCODE.SYNC, (w) => CMD_SYNC.CS.set(w, CMD_SYNC_CS.SIG_SEV)));
    d.issue(command(OPCODE.SYNC, (w) => CMD_SYNC.CS.set(w, CMD_SYNC_CS.SIG_NONE)));
    assert.deepEqual([sevs, syncIrqs], [sev ? 1 : 0, 0], `IDR0.SEV ${sev}`);
    assert.equal(d.activeErrors(), 0);
  }
});

Deno.test("without RIL the range fields of a TLBI are ignored (RES0)", () => {
  const { d, scopes } = setup({ rangeInvalidation: false });
  d.issue(SCOPES[9][1]);
  assert.equal((scopes[0] as { range: unknown }).range, null);
});

Deno.test("commands without an invalidation complete: PREFETCH_*, SYNC, ATC_INV, PRI_RESP", () => {
  const atc: AtcInvalidation[] = [];
  const { d } = setup(ALL, { endpoints: { atcInvalidate: (i) => void atc.push(i) } });
  d.issue(command(OPCODE.PREFETCH_CONFIG, (w) => CMD_PREFETCH_CONFIG.StreamID.set(w, 1)));
  d.issue(command(OPCODE.PREFETCH_ADDR));
  d.issue(command(OPCODE.ATC_INV, (w) => (CMD_ATC_INV.StreamID.set(w, 2), CMD_ATC_INV.Size.set(w, 52))));
  d.issue(command(OPCODE.PRI_RESP, (w) => CMD_PRI_RESP.Resp.set(w, 2)));
  assert.ok(d.sync());
  assert.deepEqual(atc, [{ sid: 2, ssid: -1, addr: 0, size: 52, global: false }]);
  assert.equal(d.activeErrors(), 0);
});

// Commands the architecture makes CERROR_ILL (IHI 0070 4.1.3, and each command's section).
const SSEC = (op: number) => command(op, (w) => CMD_CFGI_STE.SSec.set(w, 1));
const ILLEGAL: [string, SmmuFeatures, Uint32Array][] = [
  ["opcode 0 (reserved)", ALL, command(0x00)],
  ["opcode 0x7f (undefined)", ALL, command(0x7f)],
  ["opcode 0xff (undefined)", ALL, command(0xff)],
  ["CFGI_STE with SSec = 1", ALL, SSEC(OPCODE.CFGI_STE)],
  ["CFGI_STE_RANGE with SSec = 1", ALL, SSEC(OPCODE.CFGI_STE_RANGE)],
  ["CFGI_CD with SSec = 1", ALL, SSEC(OPCODE.CFGI_CD)],
  ["CFGI_CD_ALL with SSec = 1", ALL, SSEC(OPCODE.CFGI_CD_ALL)],
  ["PREFETCH_CONFIG with SSec = 1", ALL, SSEC(OPCODE.PREFETCH_CONFIG)],
  ["PREFETCH_ADDR with SSec = 1", ALL, SSEC(OPCODE.PREFETCH_ADDR)],
  ["CFGI_VMS_PIDM without MPAM", ALL, command(OPCODE.CFGI_VMS_PIDM)],
  ["TLBI_EL3_ALL on the Non-secure queue", ALL, command(OPCODE.TLBI_EL3_ALL)],
  ["TLBI_EL3_VA on the Non-secure queue", ALL, command(OPCODE.TLBI_EL3_VA)],
  ["TLBI_EL2_ALL without Hyp", {}, command(OPCODE.TLBI_EL2_ALL)],
  ["TLBI_EL2_ASID without Hyp", {}, command(OPCODE.TLBI_EL2_ASID)],
  ["TLBI_EL2_VA without Hyp", {}, command(OPCODE.TLBI_EL2_VA)],
  ["TLBI_EL2_VAA without Hyp", {}, command(OPCODE.TLBI_EL2_VAA)],
  ["TLBI_S12_VMALL without stage 2", { stage2: false }, command(OPCODE.TLBI_S12_VMALL)],
  ["TLBI_S2_IPA without stage 2", { stage2: false }, command(OPCODE.TLBI_S2_IPA)],
  ["TLBI_NH_ALL without stage 1", { stage1: false }, command(OPCODE.TLBI_NH_ALL)],
  ["TLBI_NH_ASID without stage 1", { stage1: false }, command(OPCODE.TLBI_NH_ASID)],
  ["TLBI_NH_VA without stage 1", { stage1: false }, command(OPCODE.TLBI_NH_VA)],
  ["TLBI_NH_VAA without stage 1", { stage1: false }, command(OPCODE.TLBI_NH_VAA)],
  // IHI 0070 4.4: with RIL, TG != 0 and NUM = SCALE = TTL = 0 is a reserved range encoding.
  ["TLBI_NH_VA range with NUM = SCALE = TTL = 0", ALL, command(OPCODE.TLBI_NH_VA, (w) => CMD_TLBI_NH_VA.TG.set(w, 1))],
  [
    "TLBI_S2_IPA range with NUM = SCALE = TTL = 0",
    ALL,
    command(OPCODE.TLBI_S2_IPA, (w) => CMD_TLBI_NH_VA.TG.set(w, 1)),
  ],
  ["ATC_INV without ATS", { ats: false }, command(OPCODE.ATC_INV)],
  ["PRI_RESP without PRI", { pri: false }, command(OPCODE.PRI_RESP)],
  ["PRI_RESP with Resp = 0b11", ALL, command(OPCODE.PRI_RESP, (w) => CMD_PRI_RESP.Resp.set(w, 3))],
  ["RESUME without stalls", { ...ALL, stalls: "terminate-only" }, command(OPCODE.RESUME)],
  ["STALL_TERM without stalls", { ...ALL, stalls: "terminate-only" }, command(OPCODE.STALL_TERM)],
  ["RESUME with SSec", ALL, command(OPCODE.RESUME, (w) => CMD_RESUME.SSec.set(w, 1))],
  ["STALL_TERM with SSec", ALL, command(OPCODE.STALL_TERM, (w) => CMD_STALL_TERM.SSec.set(w, 1))],
  ["SYNC with CS = 0b11", ALL, command(OPCODE.SYNC, (w) => CMD_SYNC.CS.set(w, 3))],
];
for (const [name, features, cmd] of ILLEGAL) {
  Deno.test(`CERROR_ILL: ${name} stops the queue at the command`, () => {
    const { d, scopes } = setup(features);
    const before = d.consIndex();
    d.issue(cmd);
    d.issue(command(OPCODE.TLBI_NSNH_ALL));
    assert.equal(d.consIndex(), before, "CONS at the failed command");
    assert.equal(d.consError(), CMDQ_CONS_ERR.CERROR_ILL);
    assert.equal(d.activeErrors(), bit(GERROR.CMDQ_ERR));
    assert.deepEqual(scopes, [], "nothing after the failed command ran");
  });
}

Deno.test("after CMDQ_ERR the guest rewrites the command at CONS and acks GERRORN: the queue resumes at once", () => {
  const { d, memory, scopes } = setup();
  const cons = d.consIndex();
  d.issue(command(0x7f));
  d.issue(command(OPCODE.TLBI_NSNH_ALL));
  d.issue(command(OPCODE.TLBI_NSNH_ALL));
  assert.equal(d.consIndex(), cons);
  // As Linux's arm_smmu_cmdq_skip_err: replace the bad command with a CMD_SYNC, then acknowledge.
  const at = d.layout.cmdq + (cons % 2 ** d.cmdqLog2) * 16;
  command(OPCODE.SYNC).forEach((v, i) => memory.write32(at + 4 * i, v));
  d.ackErrors();
  assert.equal(d.activeErrors(), 0);
  assert.equal(d.consIndex(), cons + 3, "every command ran, without another PROD write");
  assert.equal(scopes.length, 2);
});

Deno.test("CERROR_ABT: a command fetch that aborts stops the queue", () => {
  const memory = new SparseMemory({ holes: [[0x4200_0000, 0x4200_1000]] });
  const smmu = new Smmu({ memory });
  const d = new Driver(smmu, memory);
  d.probe();
  d.reset({ smmuen: false });
  assert.equal(d.consIndex(), 0);
  assert.equal(d.consError(), CMDQ_CONS_ERR.CERROR_ABT);
  assert.equal(d.activeErrors(), bit(GERROR.CMDQ_ERR));
});

Deno.test("CERROR_ATC_INV_SYNC: a CMD_SYNC after an ATC invalidation the endpoint did not complete", () => {
  const { d } = setup(ALL, { endpoints: { atcInvalidate: () => false } });
  d.issue(command(OPCODE.ATC_INV));
  const cons = d.consIndex();
  assert.equal(d.sync(), false);
  assert.equal(d.consIndex(), cons, "CONS at the CMD_SYNC");
  assert.equal(d.consError(), CMDQ_CONS_ERR.CERROR_ATC_INV_SYNC);
  d.ackErrors();
  assert.equal(d.consIndex(), cons + 1, "the retried CMD_SYNC completes");
});

Deno.test("the global error interrupt: wired always, and an MSI when an address is configured (IHI 0070 3.18.2)", () => {
  const calls: string[] = [];
  const msis: [number, number][] = [];
  const interrupts: InterruptSinks = { gerror: () => calls.push("gerror") };
  const { d } = setup(ALL, { interrupts, onMsi: (a, v) => void msis.push([a, v]) });
  d.write(REG.IRQ_CTRL, bit(IRQ_CTRL.GERROR_IRQEN));
  d.issue(command(0x7f));
  assert.deepEqual(calls, ["gerror"]);
  d.write(REG.IRQ_CTRL, 0);
  d.write64(REG.GERROR_IRQ_CFG0, 0x5000_0000, 0);
  d.write(REG.GERROR_IRQ_CFG1, 0xabcd);
  d.write(REG.IRQ_CTRL, bit(IRQ_CTRL.GERROR_IRQEN));
  d.write(REG.CMDQ_CONS, d.read(REG.CMDQ_CONS) + 1); // skip the bad command
  d.ackErrors();
  d.issue(command(0x7e));
  assert.deepEqual(msis, [[0x5000_0000, 0xabcd]]);
  assert.equal(d.memory.read32(0x5000_0000), 0xabcd);
  // IHI 0070 3.18.2: "If enabled, a pulse is asserted on a unique wired interrupt output ... If enabled, an MSI is sent
  // if MSIs are supported and ... ADDR ... is not zero."
  assert.deepEqual(calls, ["gerror", "gerror"], "the wired pulse beside the MSI");
});

Deno.test("CMD_SYNC completion: observers synced, wired cmdqSync, MSI write, MSI abort → MSI_CMDQ_ABT_ERR", () => {
  let pulses = 0;
  const msis: number[] = [];
  const memory = new SparseMemory({ holes: [[0x6000_0000, 0x6000_1000]] });
  const { d, syncs } = setup(
    ALL,
    { interrupts: { cmdqSync: () => pulses++ }, onMsi: (_, v) => void msis.push(v) },
    memory,
  );
  const s0 = syncs();
  d.sync((w) => CMD_SYNC.CS.set(w, CMD_SYNC_CS.SIG_IRQ));
  assert.equal(pulses, 1);
  d.sync((
    w,
  ) => (CMD_SYNC.CS.set(w, CMD_SYNC_CS.SIG_IRQ),
    CMD_SYNC.MSIAddress.setAddress(w, 0x5000_0100),
    CMD_SYNC.MSIData.set(w, 77))
  );
  assert.deepEqual(msis, [77]);
  assert.equal(memory.read32(0x5000_0100), 77);
  d.sync((w) => (CMD_SYNC.CS.set(w, CMD_SYNC_CS.SIG_IRQ), CMD_SYNC.MSIAddress.setAddress(w, 0x6000_0000)));
  assert.equal(d.activeErrors(), bit(GERROR.MSI_CMDQ_ABT_ERR));
  d.sync((w) => CMD_SYNC.CS.set(w, CMD_SYNC_CS.SIG_NONE));
  assert.equal(syncs() - s0, 4);
  // IHI 0070 4.7.3 SIG_IRQ: the wired output is asserted "regardless of the value of MSIAddress".
  assert.equal(pulses, 3);
});

Deno.test("commands written while CMDQEN = 0 wait; enabling the queue runs them", () => {
  const { d, scopes } = setup();
  d.enable(0);
  d.issue(command(OPCODE.TLBI_NSNH_ALL));
  d.issue(command(OPCODE.TLBI_NSNH_ALL));
  assert.equal(scopes.length, 0);
  d.enable(0x8);
  assert.equal(scopes.length, 2);
});

Deno.test("a 4-entry queue wraps many times; CONS follows PROD with its wrap bit", () => {
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory });
  const d = new Driver(smmu, memory, { cmdqLog2: 2 });
  d.probe();
  d.reset();
  let n = 0;
  smmu.observe({ invalidated: () => n++ });
  for (let i = 0; i < 21; i++) {
    d.issue(command(OPCODE.TLBI_NH_ASID, (w) => CMD_TLBI_NH_ASID.ASID.set(w, i)));
    assert.equal(d.read(REG.CMDQ_CONS), d.read(REG.CMDQ_PROD), `command ${i}`);
  }
  assert.equal(n, 21);
});

Deno.test("work per access is bounded; a CONS read continues the batch", () => {
  const memory = new SparseMemory();
  const smmu = new Smmu({ memory, commandBudget: 4 });
  const d = new Driver(smmu, memory);
  d.probe();
  d.reset();
  const start = d.consIndex();
  for (let i = 0; i < 10; i++) {
    const at = d.layout.cmdq + ((start + i) % 256) * 16;
    command(OPCODE.TLBI_NSNH_ALL).forEach((v, k) => memory.write32(at + 4 * k, v));
  }
  const before = smmu.stats.commands;
  d.write(REG.CMDQ_PROD, start + 10);
  assert.equal(smmu.stats.commands, before + 4, "the PROD write ran 4");
  assert.equal(d.consIndex(), start + 8, "the CONS read ran 4 more");
  assert.equal(d.consIndex(), start + 10, "and the next the last 2");
});
