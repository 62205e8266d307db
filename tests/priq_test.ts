/**
 * The PRI queue producer (src/device/priq.ts) against IHI 0070 chapter 8 (records, 8.1 overflow, 8.2 disabled queue and
 * aborts, 8.3 response codes), 6.3.36 (PRIQ_IRQ_CFG2.LO) and 4.5.2 / 6.3.9.6 (CMD_PRI_RESP).
 */
import assert from "node:assert/strict";
import {
  CMD_PRI_RESP_RESP,
  GERROR,
  IRQ_CTRL,
  PRG_RESPONSE_CODE,
  PRI_RECORD,
  PRIQ_CONS,
  PRIQ_IRQ_CFG2,
  PRIQ_PROD,
  REG,
  STE,
  STE_CONFIG,
} from "../gen/mod.ts";
import { HostError, type PageRequest, type PriResponse, Smmu, type SmmuFeatures, SparseMemory } from "../mod.ts";
import { Driver } from "../src/guest/driver.ts";

const PRIQ_AT = 0x4220_0000;
const PRIQ_IRQEN = 1 << IRQ_CTRL.PRIQ_IRQEN.lsb;

function setup(
  opts: { features?: SmmuFeatures; memory?: SparseMemory; priqLog2?: number; irqs?: number } = {},
) {
  const memory = opts.memory ?? new SparseMemory();
  const responses: PriResponse[] = [];
  let priqIrqs = 0;
  const msis: [number, number][] = [];
  const smmu = new Smmu({
    memory,
    features: { ats: true, pri: true, ...opts.features },
    endpoints: { priResponse: (r) => void responses.push(r) },
    interrupts: { priq: () => void priqIrqs++ },
    onMsi: (a, d) => void msis.push([a, d]),
  });
  const d = new Driver(smmu, memory, { priqLog2: opts.priqLog2 ?? 2 });
  d.probe();
  d.reset({ irqs: opts.irqs ?? PRIQ_IRQEN, pri: true });
  return { smmu, d, memory, responses, irqs: () => priqIrqs, msis };
}

const field = (rec: Uint32Array, f: { get(w: Uint32Array): number }) => f.get(rec);
const prod = (d: Driver) => d.read(REG.PRIQ_PROD);

Deno.test("a page request becomes a PRI queue record with the fields of chapter 8", () => {
  const { smmu, d, irqs } = setup();
  assert.equal(
    smmu.pri.request({
      sid: 0x1234,
      ssid: 0x5a,
      address: 0x7f12_3456_7000,
      read: true,
      write: true,
      exec: true,
      priv: true,
      group: 0x1ab,
      last: true,
    }),
    "queued",
  );
  const [rec] = d.pageRequests();
  // "StreamID[31:0]", "SSV ... When 1, the Page Request was issued with a PASID TLP prefix", "Page address[63:12]",
  // "PRGIndex[8:0]", "Last, W, R, X, Priv" (IHI 0070 8).
  assert.equal(field(rec, PRI_RECORD.StreamID), 0x1234);
  assert.equal(field(rec, PRI_RECORD.SSV), 1);
  assert.equal(field(rec, PRI_RECORD.SubstreamID), 0x5a);
  assert.equal(PRI_RECORD.Address.getAddress(rec), 0x7f12_3456_7000);
  assert.equal(field(rec, PRI_RECORD.PRGIndex), 0x1ab);
  for (const f of [PRI_RECORD.Last, PRI_RECORD.W, PRI_RECORD.R, PRI_RECORD.X, PRI_RECORD.Priv]) {
    assert.equal(field(rec, f), 1, f.name);
  }
  assert.equal(irqs(), 1);
});

Deno.test("without a PASID: SSV, X and Priv are 0, and a bigint address keeps bits [63:12]", () => {
  const { smmu, d } = setup();
  smmu.pri.request({ sid: 3, address: 0xffff_ffff_ffff_f123n, read: true, group: 7 });
  const [rec] = d.pageRequests();
  // "When 0, the Page Request was not issued with a PASID ... When SSV == 0, the X and Priv bits are both 0."
  assert.equal(field(rec, PRI_RECORD.SSV), 0);
  assert.equal(field(rec, PRI_RECORD.X), 0);
  assert.equal(field(rec, PRI_RECORD.Priv), 0);
  assert.equal(PRI_RECORD.Address.get(rec), 2 ** 52 - 1); // address bits [63:12], all ones
  assert.equal(field(rec, PRI_RECORD.Last), 0);
});

Deno.test("PRIQ_IRQ_CFG2.LO: 0 interrupts on empty to non-empty, 1 on each request with Last set (6.3.36)", () => {
  // LO = 0: "Send PRI queue interrupt when PRI queue transitions from empty to non-empty."
  const a = setup();
  for (let i = 0; i < 3; i++) a.smmu.pri.request({ sid: 1, address: i * 4096, read: true, group: 1 });
  assert.equal(a.irqs(), 1);
  a.d.pageRequests();
  a.smmu.pri.request({ sid: 1, address: 0, read: true, group: 2 });
  assert.equal(a.irqs(), 2, "the queue was empty again");
  // LO = 1: "Send PRI queue interrupt when PRI message received with L bit set."
  const b = setup({ irqs: 0 });
  const cfg2 = new Uint32Array(1);
  PRIQ_IRQ_CFG2.LO.set(cfg2, 1);
  b.d.write(REG.PRIQ_IRQ_CFG2, cfg2[0]);
  b.d.write(REG.IRQ_CTRL, PRIQ_IRQEN);
  b.smmu.pri.request({ sid: 1, address: 0, read: true, group: 1 });
  assert.equal(b.irqs(), 0);
  b.smmu.pri.request({ sid: 1, address: 4096, read: true, group: 1, last: true });
  assert.equal(b.irqs(), 1);
});

Deno.test("the PRI queue MSI goes to PRIQ_IRQ_CFG0 with PRIQ_IRQ_CFG1's data", () => {
  const { smmu, d, msis } = setup({ irqs: 0 });
  d.write64(REG.PRIQ_IRQ_CFG0, 0x4300_0040, 0);
  d.write(REG.PRIQ_IRQ_CFG1, 0xfeed);
  d.write(REG.IRQ_CTRL, PRIQ_IRQEN);
  smmu.pri.request({ sid: 1, address: 0, read: true, group: 1 });
  assert.deepEqual(msis, [[0x4300_0040, 0xfeed]]);
});

// IHI 0070 8.2: "If an active GERROR.PRIQ_ABT_ERR error condition exists, or if the effective value of
// SMMU_CR0.PRIQEN == 0 (SMMU_CR0.SMMUEN == 0 implies PRIQEN == 0) ... No entries are written to the PRI queue. All
// incoming PPRs cause an automatic PRG Response having ResponseCode == 0b1111 ('Response Failure')"; "The SMMU does
// not generate responses to Stop Marker messages"; "No PASID prefix is used on responses that were auto-generated
// because the effective value of PRIQEN == 0 or PRIQ_ABT_ERR occurred."
const DISABLED: [string, (d: Driver) => void][] = [
  ["PRIQEN 0", (d) => d.enable(d.read(REG.CR0) & ~2)],
  ["SMMUEN 0 (PRIQEN 1)", (d) => d.enable(d.read(REG.CR0) & ~1)],
];
for (const [name, disable] of DISABLED) {
  Deno.test(`8.2: with ${name} every PPR gets a Response Failure without a PASID, a Stop marker nothing`, () => {
    const { smmu, d, responses } = setup();
    disable(d);
    const before = prod(d);
    assert.equal(smmu.pri.request({ sid: 9, ssid: 4, address: 0, read: true, group: 5 }), "responded");
    assert.equal(smmu.pri.request({ sid: 9, ssid: 4, address: 0, group: 6, last: true }), "discarded"); // stop
    assert.deepEqual(responses, [{
      sid: 9,
      ssid: -1,
      prgIndex: 5,
      resp: CMD_PRI_RESP_RESP.RESPONSE_FAILURE,
      code: PRG_RESPONSE_CODE.RESPONSE_FAILURE,
      auto: true,
    }]);
    assert.equal(prod(d), before, "no entry written");
  });
}

Deno.test("8.2: a write abort activates PRIQ_ABT_ERR, answers Response Failure, and later PPRs too", () => {
  const memory = new SparseMemory({ holes: [[PRIQ_AT, PRIQ_AT + 0x1000]] });
  const { smmu, d, responses } = setup({ memory });
  assert.equal(smmu.pri.request({ sid: 2, address: 0, read: true, group: 1 }), "responded");
  assert.ok(d.activeErrors() & (1 << GERROR.PRIQ_ABT_ERR.lsb));
  assert.equal(PRIQ_PROD.WR.get(new Uint32Array([prod(d)])), 0, "PROD is not incremented for the aborted entry");
  assert.equal(responses[0].code, PRG_RESPONSE_CODE.RESPONSE_FAILURE);
  assert.equal(smmu.pri.request({ sid: 2, address: 0, read: true, group: 2 }), "responded", "error still active");
});

Deno.test("8.1: overflow toggles OVFLG once, inhibits writes until acknowledged, and answers only Last requests", () => {
  const { smmu, d, responses, irqs } = setup({ priqLog2: 1 }); // two entries
  const req = (group: number, extra: Partial<PageRequest> = {}) =>
    smmu.pri.request({ sid: 4, address: group * 4096, read: true, group, ...extra });
  assert.equal(req(1), "queued");
  assert.equal(req(2), "queued");
  const ov = (v: number) => PRIQ_PROD.OVFLG.get(new Uint32Array([v]));
  assert.equal(ov(prod(d)), 0);
  // "PPRs having Last == 0 are silently ignored."
  assert.equal(req(3), "discarded");
  assert.equal(ov(prod(d)), 1, "OVFLG toggled");
  // "An automatic PRG Response is generated for Page Request messages having Last == 1 ... ResponseCode ... Success"
  // when "the associated Page Request message did not have a PASID".
  assert.equal(req(4, { last: true }), "responded");
  assert.deepEqual(responses.at(-1), {
    sid: 4,
    ssid: -1,
    prgIndex: 4,
    resp: CMD_PRI_RESP_RESP.SUCCESS,
    code: PRG_RESPONSE_CODE.SUCCESS,
    auto: true,
  });
  assert.equal(ov(prod(d)), 1, "toggled only when the condition was not already present");
  // Space freed but the overflow not acknowledged: "An active overflow condition inhibits new entries".
  const cons = new Uint32Array([d.read(REG.PRIQ_CONS)]);
  PRIQ_CONS.RD.set(cons, 2);
  d.write(REG.PRIQ_CONS, cons[0]);
  assert.equal(req(5, { last: true }), "responded");
  // Acknowledged (OVACKFLG = OVFLG): writes resume.
  PRIQ_CONS.OVACKFLG.set(cons, 1);
  d.write(REG.PRIQ_CONS, cons[0]);
  assert.equal(req(6), "queued");
  assert.equal(irqs(), 2, "empty to non-empty twice");
});

// IHI 0070 6.3.36 PRIQ_IRQ_CFG2.LO: "0b0 Send PRI queue interrupt when PRI queue transitions from empty to non-empty."
// "0b1 Send PRI queue interrupt when PRI message received with L bit set. ... When the message is discarded because of
// a PRI queue overflow, the interrupt is generated. When the message is discarded for any other reason, the interrupt
// is not generated." IHI 0070 8.1: "An active overflow condition inhibits new entries from being written to the PRI
// queue." IHI 0070 8.2: with PRIQEN 0 or PRIQ_ABT_ERR active "No entries are written to the PRI queue."
// [what, why the message is not written, LO, L, PRI queue interrupts for it]
const NOT_WRITTEN: [string, "overflow" | "PRIQEN 0" | "PRIQ_ABT_ERR", 0 | 1, boolean, number][] = [
  ["LO 1, L 1, discarded in overflow: an interrupt", "overflow", 1, true, 1],
  ["LO 1, L 0, discarded in overflow: none (not a Last message)", "overflow", 1, false, 0],
  ["LO 0, L 1, discarded in overflow: none (the queue did not go from empty to non-empty)", "overflow", 0, true, 0],
  ["LO 1, L 1, the queue disabled: none (discarded for another reason)", "PRIQEN 0", 1, true, 0],
  ["LO 1, L 1, PRIQ_ABT_ERR active: none (discarded for another reason)", "PRIQ_ABT_ERR", 1, true, 0],
];
for (const [what, why, lo, last, want] of NOT_WRITTEN) {
  Deno.test(`6.3.36 / 8.1 / 8.2: ${what}; nothing is written to the queue`, () => {
    const holes: [number, number][] = why === "PRIQ_ABT_ERR" ? [[PRIQ_AT, PRIQ_AT + 0x1000]] : [];
    const { smmu, d, memory, irqs } = setup({ priqLog2: 1, irqs: 0, memory: new SparseMemory({ holes }) });
    const cfg2 = new Uint32Array(1);
    PRIQ_IRQ_CFG2.LO.set(cfg2, lo);
    d.write(REG.PRIQ_IRQ_CFG2, cfg2[0]); // written while PRIQ_IRQEN is 0 (the register is Guarded by it)
    d.write(REG.IRQ_CTRL, PRIQ_IRQEN);
    const req = (group: number, l: boolean) =>
      smmu.pri.request({ sid: 4, address: group * 4096, read: true, group, last: l });
    if (why === "overflow") assert.deepEqual([req(1, false), req(2, false)], ["queued", "queued"]); // two entries: full
    if (why === "PRIQEN 0") d.enable(d.read(REG.CR0) & ~2);
    if (why === "PRIQ_ABT_ERR") {
      assert.equal(req(1, false), "responded", "the write aborts");
      assert.ok(d.activeErrors() & (1 << GERROR.PRIQ_ABT_ERR.lsb));
    }
    const queue = () => Array.from({ length: 16 }, (_, i) => memory.read32(PRIQ_AT + 4 * i));
    const [before, prodBefore, irqsBefore] = [queue(), PRIQ_PROD.WR.get(Uint32Array.of(prod(d))), irqs()];
    assert.notEqual(req(3, last), "queued");
    assert.equal(irqs() - irqsBefore, want, "PRI queue interrupts");
    assert.equal(PRIQ_PROD.WR.get(Uint32Array.of(prod(d))), prodBefore, "PRIQ_PROD.WR unchanged");
    assert.deepEqual(queue(), before, "the queue's memory unchanged");
  });
}

Deno.test("8.1: an overflow auto-response with a PASID follows STE.PPAR, or fails without a valid STE", () => {
  const { smmu, d, responses } = setup({ priqLog2: 0 });
  d.writeSte(6, STE_CONFIG.ABORT, (ste) => STE.PPAR.set(ste, 1));
  d.writeSte(7, STE_CONFIG.ABORT);
  d.invalidateAll();
  smmu.pri.request({ sid: 1, address: 0, read: true, group: 1 }); // fills the one-entry queue
  const last = (sid: number) => smmu.pri.request({ sid, ssid: 3, address: 0, read: true, group: 2, last: true });
  last(6);
  last(7);
  last(200); // beyond the stream table: no STE to check
  assert.deepEqual(responses.map((r) => [r.sid, r.ssid, r.code]), [
    [6, 3, PRG_RESPONSE_CODE.SUCCESS], // "the response has the same PASID if STE.PPAR == 1"
    [7, -1, PRG_RESPONSE_CODE.SUCCESS], // "and it has no PASID if STE.PPAR == 0"
    [200, -1, PRG_RESPONSE_CODE.RESPONSE_FAILURE], // "If the associated STE is inaccessible or invalid"
  ]);
  // "Stop PASID markers that arrive in an overflow condition are discarded and no auto-response is generated."
  assert.equal(smmu.pri.request({ sid: 6, ssid: 3, address: 0, group: 2, last: true }), "discarded");
  assert.equal(responses.length, 3);
});

Deno.test("8.1: with IDR3.PPS the overflow auto-response keeps the PASID without reading the STE", () => {
  const probe = setup();
  const ids = probe.smmu.idRegisters;
  const memory = new SparseMemory();
  const responses: PriResponse[] = [];
  const smmu = new Smmu({
    memory,
    idRegisters: { IDR0: ids.IDR0, IDR1: ids.IDR1, IDR3: ids.IDR3 | 1 << 5, IDR5: ids.IDR5 },
    endpoints: { priResponse: (r) => void responses.push(r) },
  });
  const d = new Driver(smmu, memory, { priqLog2: 0 });
  d.probe();
  d.reset({ pri: true });
  smmu.pri.request({ sid: 1, address: 0, read: true, group: 1 });
  smmu.pri.request({ sid: 200, ssid: 9, address: 0, read: true, group: 2, last: true });
  assert.deepEqual(responses.map((r) => [r.ssid, r.code]), [[9, PRG_RESPONSE_CODE.SUCCESS]]);
});

Deno.test("CMD_PRI_RESP reaches the endpoint with its ResponseCode (8.3), and is ignored with SMMUEN 0 (6.3.9.6)", () => {
  const { d, responses } = setup();
  for (const resp of Object.values(CMD_PRI_RESP_RESP)) d.priResponse(5, resp === 2 ? 8 : -1, 0x40 + resp, resp);
  assert.deepEqual(responses.map((r) => [r.ssid, r.prgIndex, r.resp, r.code, r.auto]), [
    [-1, 0x40, CMD_PRI_RESP_RESP.RESPONSE_FAILURE, 0b1111, false],
    [-1, 0x41, CMD_PRI_RESP_RESP.INVALID_REQUEST, 0b0001, false],
    [8, 0x42, CMD_PRI_RESP_RESP.SUCCESS, 0b0000, false],
  ]);
  d.enable(d.read(REG.CR0) & ~1);
  assert.ok(d.priResponse(5, -1, 1, CMD_PRI_RESP_RESP.SUCCESS), "consumed");
  assert.equal(responses.length, 3, "CMD_PRI_RESP commands are ignored when SMMUEN == 0");
});

const BAD: [string, unknown, RegExp][] = [
  ["sid", { sid: -1, address: 0, group: 0 }, /sid -1/],
  ["sid", { sid: 2 ** 32, address: 0, group: 0 }, /sid/],
  ["ssid", { sid: 0, ssid: 2 ** 20, address: 0, group: 0 }, /ssid/],
  ["address", { sid: 0, address: -4096, group: 0 }, /address/],
  ["address", { sid: 0, address: 1n << 64n, group: 0 }, /address/],
  ["address", { sid: 0, address: "0x1000", group: 0 }, /address/],
  ["group", { sid: 0, address: 0, group: 512 }, /group 512/],
  ["read", { sid: 0, address: 0, group: 0, read: 1 }, /read/],
  ["exec without a PASID", { sid: 0, address: 0, group: 0, exec: true }, /exec and priv/],
  ["not an object", null, /object/],
];
for (const [what, req, message] of BAD) {
  Deno.test(`pri.request refuses a bad ${what} with a HostError and changes nothing`, () => {
    const { smmu, d, responses } = setup();
    const before = prod(d);
    assert.throws(() => smmu.pri.request(req as PageRequest), (e) => e instanceof HostError && message.test(e.message));
    assert.equal(prod(d), before);
    assert.equal(responses.length, 0);
  });
}

Deno.test("pri.request on an SMMU without PRI is a HostError", () => {
  const smmu = new Smmu({ memory: new SparseMemory(), features: { pri: false } });
  assert.throws(() => smmu.pri.request({ sid: 0, address: 0, group: 0 }), /does not advertise PRI/);
});
