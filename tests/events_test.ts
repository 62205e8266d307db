import assert from "node:assert/strict";
import fc from "./helpers/fast_check.ts";
import {
  CR0ACK,
  decode,
  EVENT_TYPE,
  EVENTQ_BASE,
  EVENTQ_CONS,
  EVENTQ_IRQ_CFG0,
  EVENTQ_IRQ_CFG1,
  EVENTQ_PROD,
  EVENTS,
  EVT_CLASS,
  GERROR,
  IRQ_CTRLACK,
  REG,
} from "../gen/mod.ts";
import { RegisterFile, word } from "../src/registers/regfile.ts";
import { idRegistersFor } from "../src/registers/features.ts";
import { Interrupts } from "../src/device/irq.ts";
import { encodeEvent, EventQueue } from "../src/device/events.ts";
import { type Fault, newFault } from "../src/core/types.ts";
import { SparseMemory } from "../src/core/memory.ts";

const BASE = 0x4210_0000;

function harness(log2 = 2, memory = new SparseMemory()) {
  const regs = new RegisterFile();
  const w = regs.words;
  const ids = idRegistersFor();
  w[word(REG.IDR0)] = ids.IDR0;
  w[word(REG.IDR1)] = ids.IDR1;
  w[word(REG.IDR5)] = ids.IDR5;
  const pulses: string[] = [];
  const msis: number[] = [];
  const irq = new Interrupts(
    regs,
    memory,
    { eventq: () => pulses.push("eventq"), gerror: () => pulses.push("gerror") },
    (
      _a,
      d,
    ) => msis.push(d),
  );
  const q = new EventQueue(regs, memory, irq);
  EVENTQ_BASE.ADDR.setAddress(w, BASE, word(REG.EVENTQ_BASE));
  EVENTQ_BASE.LOG2SIZE.set(w, log2, word(REG.EVENTQ_BASE));
  CR0ACK.EVENTQEN.set(w, 1, word(REG.CR0ACK));
  const prod = () => EVENTQ_PROD.WR.get(w, word(REG.EVENTQ_PROD));
  const ovflg = () => EVENTQ_PROD.OVFLG.get(w, word(REG.EVENTQ_PROD));
  const consume = (n: number, ack = true) => {
    const c = word(REG.EVENTQ_CONS);
    EVENTQ_CONS.RD.set(w, (EVENTQ_CONS.RD.get(w, c) + n) & (2 ** (log2 + 1) - 1), c);
    if (ack) EVENTQ_CONS.OVACKFLG.set(w, ovflg(), c);
  };
  const record = (i: number) => {
    const r = new Uint32Array(8);
    for (let k = 0; k < 8; k++) r[k] = memory.read32(BASE + 32 * i + 4 * k);
    return r;
  };
  return { regs, w, q, memory, pulses, msis, prod, ovflg, consume, record };
}

function fault(type: number, f: Partial<Fault> = {}): Fault {
  return Object.assign(newFault(), { type, sid: 0x18, ...f });
}

// Each event type the engine raises, and the fields its record must carry (IHI 0070 7.3).
const RECORDS: [string, Fault, Record<string, number | string>][] = [
  ["F_TRANSLATION, stage 1, write", fault(EVENT_TYPE.F_TRANSLATION, { inputAddr: 0x2000 }), {
    Type: "F_TRANSLATION",
    StreamID: 0x18,
    SSV: 0,
    RnW: "WRITE",
    S2: "STAGE_1",
    InputAddr_LO: 0x2000,
    InputAddr_HI: 0,
  }],
  [
    "F_TRANSLATION, stage 2 of a table walk, read, priv, exec, with SSID",
    fault(EVENT_TYPE.F_TRANSLATION, {
      ssv: true,
      ssid: 5,
      inputAddr: 0x12_3456_7000,
      ipa: 0x8765_4000,
      rnw: true,
      pnu: true,
      ind: true,
      s2: true,
      class: EVT_CLASS.TT,
    }),
    {
      SSV: 1,
      SubstreamID: 5,
      RnW: "READ",
      PnU: "PRIVILEGED",
      InD: "INSTRUCTION",
      S2: "STAGE_2",
      CLASS: "TT",
      InputAddr_LO: 0x3456_7000,
      InputAddr_HI: 0x12,
      IPA: 0x8765_4000 / 4096,
    },
  ],
  ["F_PERMISSION, upper range", fault(EVENT_TYPE.F_PERMISSION, { inputAddr: -0x1000, rnw: false }), {
    Type: "F_PERMISSION",
    InputAddr_LO: 0xffff_f000,
    InputAddr_HI: 0xffff_ffff,
  }],
  ["F_ADDR_SIZE", fault(EVENT_TYPE.F_ADDR_SIZE, { inputAddr: 0x1000 }), { Type: "F_ADDR_SIZE", InputAddr_LO: 0x1000 }],
  ["F_ACCESS", fault(EVENT_TYPE.F_ACCESS, { inputAddr: 0x1000 }), { Type: "F_ACCESS", InputAddr_LO: 0x1000 }],
  ["F_WALK_EABT", fault(EVENT_TYPE.F_WALK_EABT, { inputAddr: 0x5000, fetchAddr: 0x4180_0018, class: EVT_CLASS.TT }), {
    Type: "F_WALK_EABT",
    CLASS: "TT",
    InputAddr_LO: 0x5000,
    FetchAddr: 0x4180_0018 / 8,
  }],
  ["F_STE_FETCH", fault(EVENT_TYPE.F_STE_FETCH, { fetchAddr: 0x4100_0400 }), { FetchAddr: 0x4100_0400 / 8 }],
  ["F_CD_FETCH", fault(EVENT_TYPE.F_CD_FETCH, { fetchAddr: 0x4300_0040 }), { FetchAddr: 0x4300_0040 / 8 }],
  ["C_BAD_STREAMID", fault(EVENT_TYPE.C_BAD_STREAMID, { sid: 0x1_0000 }), { StreamID: 0x1_0000, SSV: 0 }],
  ["C_BAD_STE", fault(EVENT_TYPE.C_BAD_STE), { Type: "C_BAD_STE", StreamID: 0x18 }],
  ["C_BAD_CD", fault(EVENT_TYPE.C_BAD_CD, { ssv: true, ssid: 3 }), { SSV: 1, SubstreamID: 3 }],
  ["C_BAD_SUBSTREAMID", fault(EVENT_TYPE.C_BAD_SUBSTREAMID, { ssid: 0x80 }), { SubstreamID: 0x80 }],
  ["F_STREAM_DISABLED", fault(EVENT_TYPE.F_STREAM_DISABLED), { Type: "F_STREAM_DISABLED", StreamID: 0x18 }],
  ["F_TRANSL_FORBIDDEN", fault(EVENT_TYPE.F_TRANSL_FORBIDDEN, { inputAddr: 0x7000, rnw: true }), {
    RnW: "READ",
    InputAddr_LO: 0x7000,
  }],
  ["F_UUT", fault(EVENT_TYPE.F_UUT, { inputAddr: 0x9000 }), { Type: "F_UUT", InputAddr_LO: 0x9000 }],
];
for (const [name, f, want] of RECORDS) {
  Deno.test(`event record: ${name}`, () => {
    const out = new Uint32Array(8);
    assert.ok(encodeEvent(f, out));
    const got = decode(EVENTS.get(f.type)!, out);
    for (const [k, v] of Object.entries(want)) assert.equal(got[k], v, k);
  });
}

Deno.test("event records round-trip StreamID, SubstreamID and any 64-bit input address", () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 0xffff_ffff }),
    fc.option(fc.integer({ min: 0, max: 0xf_ffff }), { nil: undefined }),
    fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
    (sid, ssid, addr) => {
      const out = new Uint32Array(8);
      encodeEvent(
        fault(EVENT_TYPE.F_TRANSLATION, { sid, ssv: ssid !== undefined, ssid: ssid ?? 0, inputAddr: addr }),
        out,
      );
      const got = decode(EVENTS.get(EVENT_TYPE.F_TRANSLATION)!, out);
      assert.equal(got.StreamID, sid);
      assert.equal(got.SSV, ssid === undefined ? 0 : 1);
      if (ssid !== undefined) assert.equal(got.SubstreamID, ssid);
      const back = BigInt.asIntN(64, (BigInt(got.InputAddr_HI as number) << 32n) | BigInt(got.InputAddr_LO as number));
      assert.equal(back, BigInt(addr));
    },
  ));
});

Deno.test("the queue writes each record at PROD and advances PROD through its wrap", () => {
  const h = harness(2);
  for (let i = 0; i < 11; i++) {
    h.q.report(fault(EVENT_TYPE.F_TRANSLATION, { inputAddr: 0x1000 * i }));
    assert.equal(h.prod(), (i + 1) & 7, `PROD after ${i + 1}`);
    assert.equal(h.record(i % 4)[4], 0x1000 * i, `record ${i} in slot ${i % 4}`);
    h.consume(1);
  }
  assert.equal(h.q.counts.written, 11);
  assert.equal(h.w[word(REG.EVENTQ_PROD_P0)], h.w[word(REG.EVENTQ_PROD)], "page-0 alias follows");
});

Deno.test("a disabled queue writes nothing and PROD stays", () => {
  const h = harness();
  CR0ACK.EVENTQEN.set(h.w, 0, word(REG.CR0ACK));
  h.q.report(fault(EVENT_TYPE.F_TRANSLATION));
  assert.equal(h.prod(), 0);
  assert.deepEqual([...h.record(0)], new Array(8).fill(0));
});

Deno.test("overflow: a full queue drops records and toggles OVFLG once per acknowledged overflow (IHI 0070 7.4)", () => {
  const h = harness(1); // 2 entries
  for (let i = 0; i < 5; i++) h.q.report(fault(EVENT_TYPE.F_TRANSLATION, { inputAddr: 0x1000 * i }));
  assert.equal(h.prod(), 2, "two records written");
  assert.equal(h.ovflg(), 1);
  assert.deepEqual(h.q.counts, { written: 2, lost: 3 });
  h.consume(2, false); // drained but overflow not acknowledged
  for (let i = 0; i < 3; i++) h.q.report(fault(EVENT_TYPE.F_TRANSLATION));
  assert.equal(h.ovflg(), 1, "no new toggle before OVACKFLG matches");
  h.consume(2, true);
  for (let i = 0; i < 3; i++) h.q.report(fault(EVENT_TYPE.F_TRANSLATION));
  assert.equal(h.ovflg(), 0, "toggled again after the acknowledgement");
});

Deno.test("a record write that aborts raises GERROR.EVENTQ_ABT_ERR and loses the record", () => {
  const h = harness(2, new SparseMemory({ holes: [[BASE, BASE + 0x1000]] }));
  h.q.report(fault(EVENT_TYPE.F_TRANSLATION));
  assert.equal(GERROR.EVENTQ_ABT_ERR.get(h.w, word(REG.GERROR)), 1);
  assert.equal(h.prod(), 0);
  assert.equal(h.q.counts.lost, 1);
});

Deno.test("the event queue interrupt: gated by IRQ_CTRL, wired, and an MSI too with an address (IHI 0070 3.18.2)", () => {
  const h = harness();
  h.q.report(fault(EVENT_TYPE.F_TRANSLATION));
  assert.deepEqual(h.pulses, [], "EVENTQ_IRQEN = 0");
  IRQ_CTRLACK.EVENTQ_IRQEN.set(h.w, 1, word(REG.IRQ_CTRLACK));
  h.q.report(fault(EVENT_TYPE.F_TRANSLATION));
  assert.deepEqual(h.pulses, ["eventq"]);
  EVENTQ_IRQ_CFG0.ADDR.setAddress(h.w, 0x5000_0000, word(REG.EVENTQ_IRQ_CFG0));
  EVENTQ_IRQ_CFG1.DATA.set(h.w, 0x1234, word(REG.EVENTQ_IRQ_CFG1));
  h.q.report(fault(EVENT_TYPE.F_TRANSLATION));
  assert.deepEqual(h.msis, [0x1234]);
  assert.equal(h.memory.read32(0x5000_0000), 0x1234);
  assert.deepEqual(h.pulses, ["eventq", "eventq"], "wired and MSI concurrently");
});

Deno.test("an event MSI that aborts raises GERROR.MSI_EVENTQ_ABT_ERR", () => {
  const h = harness(2, new SparseMemory({ holes: [[0x6000_0000, 0x6000_1000]] }));
  IRQ_CTRLACK.EVENTQ_IRQEN.set(h.w, 1, word(REG.IRQ_CTRLACK));
  EVENTQ_IRQ_CFG0.ADDR.setAddress(h.w, 0x6000_0000, word(REG.EVENTQ_IRQ_CFG0));
  h.q.report(fault(EVENT_TYPE.F_TRANSLATION));
  assert.equal(GERROR.MSI_EVENTQ_ABT_ERR.get(h.w, word(REG.GERROR)), 1);
  assert.equal(h.prod(), 1, "the record itself was written");
});
