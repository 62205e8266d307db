/** The engine end to end: global bypass/abort, ranges, nested translation, fault records, probe, observers. */
import assert from "node:assert/strict";
import { EVENT_TYPE, EVT_CLASS, STE_CONFIG, STE_INSTCFG, STE_PRIVCFG } from "../gen/mod.ts";
import { ACCESS, NO_TAG } from "../src/core/types.ts";
import type { Invalidation } from "../src/core/types.ts";
import { Allocator, cdAt, PageTable, steAt } from "../src/guest/tables.ts";
import { enable, linearStreamTable, makeEnv, s1Stream, setGbpaAbort } from "./helpers/engine_env.ts";

Deno.test("SMMUEN = 0: global bypass, or abort without an event when GBPA.ABORT", () => {
  const env = makeEnv();
  enable(env.regs, false);
  env.t.flushAll();
  assert.equal(env.t.translate(99, -1, 0x4800_1234, ACCESS.WRITE), 0x4800_1234);
  setGbpaAbort(env.regs, true);
  env.t.flushAll();
  assert.equal(env.t.translate(99, -1, 0x4800_1234, 0), -1);
  assert.equal(env.t.fault.type, 0);
  assert.equal(env.events.length, 0);
});

Deno.test("fault records: each translation fault type with the fields its event carries", () => {
  const env = makeEnv();
  const ste = linearStreamTable(env.regs, env.alloc, 4);
  const pt = s1Stream(env, ste(3), { cd: { IPS: 2 }, ste: { S1CDMax: 2, S1DSS: 2 } });
  pt.map(0x1000, 0x5000, 3, { AF: 0 });
  pt.map(0x2000, 0x5000, 3, { AP: 3 });
  pt.map(0x3000, 2 ** 41, 3);
  const cases: [number, number, number][] = [
    [0x9000_0000, ACCESS.WRITE, EVENT_TYPE.F_TRANSLATION],
    [0x1008, ACCESS.PRIV, EVENT_TYPE.F_ACCESS],
    [0x2010, ACCESS.WRITE, EVENT_TYPE.F_PERMISSION],
    [0x3000, ACCESS.EXEC, EVENT_TYPE.F_ADDR_SIZE],
  ];
  for (const [iova, flags, type] of cases) {
    assert.equal(env.t.translate(3, -1, iova, flags), -1);
    const e = env.events.at(-1)!;
    assert.deepEqual(
      { type: e.type, sid: e.sid, ssv: e.ssv, inputAddr: e.inputAddr, rnw: e.rnw, ind: e.ind, pnu: e.pnu, s2: e.s2 },
      {
        type,
        sid: 3,
        ssv: false,
        inputAddr: iova,
        rnw: (flags & ACCESS.WRITE) === 0,
        ind: flags === ACCESS.EXEC,
        pnu: flags === ACCESS.PRIV,
        s2: false,
      },
    );
    assert.equal(e.class, EVT_CLASS.IN, "IHI 0070 7.3.13: a stage-1 fault has S2 = 0 and CLASS = IN");
    assert.equal(e.fetchAddr, 0);
  }
  assert.equal(env.t.translate(3, 2, 0x1000, 0), -1, "CD 2 is empty");
  assert.deepEqual([env.events.at(-1)!.type, env.events.at(-1)!.ssv, env.events.at(-1)!.ssid], [
    EVENT_TYPE.C_BAD_CD,
    true,
    2,
  ]);
});

Deno.test("CD.R = 0 suppresses translation-related events but not F_WALK_EABT", () => {
  const env = makeEnv();
  const ste = linearStreamTable(env.regs, env.alloc, 4);
  s1Stream(env, ste(1), { cd: { R: 0 } });
  assert.equal(env.t.translate(1, -1, 0x7000, 0), -1);
  assert.equal(env.t.fault.type, EVENT_TYPE.F_TRANSLATION);
  assert.equal(env.events.length, 0);
  s1Stream(env, ste(2), { cd: { R: 0, TTB0: 0x1_0000_0000 } });
  assert.equal(env.t.translate(2, -1, 0x7000, ACCESS.WRITE), -1);
  const e = env.events[0];
  assert.deepEqual([e.type, e.class, e.s2, e.fetchAddr, e.rnw], [
    EVENT_TYPE.F_WALK_EABT,
    EVT_CLASS.TT,
    false,
    0x1_0000_0000,
    false,
  ]);
});

Deno.test("TTB0/TTB1 ranges, EPD1, and E0PD", () => {
  const env = makeEnv();
  const ste = linearStreamTable(env.regs, env.alloc, 4);
  const hi = new PageTable(env.mem, env.alloc, 12, 39, 1);
  const pt = s1Stream(env, ste(1), { cd: { EPD1: 0, T1SZ: 25, TG1: 2, TTB1: hi.root, E0PD1: 1 } });
  pt.map(0x1000, 0xa000);
  hi.map(2 ** 39 - 0x1000, 0xb000);
  assert.equal(env.t.translate(1, -1, -0x1000 + 0x10, ACCESS.PRIV), 0xb010);
  assert.equal(env.t.translate(1, -1, -0x1000, 0), -1, "E0PD1: unprivileged access to TTB1");
  assert.equal(env.events.at(-1)!.type, EVENT_TYPE.F_TRANSLATION);
  assert.equal(env.events.at(-1)!.inputAddr, -0x1000);
  assert.equal(env.t.translate(1, -1, -(2 ** 39) - 0x1000, ACCESS.PRIV), -1, "below the TTB1 range");
  assert.equal(env.t.translate(1, -1, 2 ** 48, 0), -1, "above the TTB0 range");
  s1Stream(env, ste(2)).map(0x1000, 0xa000);
  assert.equal(env.t.translate(2, -1, -0x1000, ACCESS.PRIV), -1, "EPD1");
  assert.equal(env.t.translate(2, -1, 0x1000, 0), 0xa000);
});

Deno.test("STE.PRIVCFG and INSTCFG override the incoming attributes", () => {
  const env = makeEnv();
  const ste = linearStreamTable(env.regs, env.alloc, 4);
  s1Stream(env, ste(1), { ste: { PRIVCFG: STE_PRIVCFG.PRIV } }).map(0x1000, 0xa000, 3, { AP: 0 });
  assert.equal(env.t.translate(1, -1, 0x1000, 0), 0xa000, "treated as privileged");
  assert.equal(env.t.translate(1, -1, 0x1000, 0), 0xa000);
  s1Stream(env, ste(2), { ste: { INSTCFG: 3 } }).map(0x1000, 0xa000, 3, { UXN: 1 });
  assert.equal(env.t.translate(2, -1, 0x1000, 0), -1, "reads become instruction fetches");
  assert.equal(env.events.at(-1)!.ind, true);
  assert.equal(env.t.translate(2, -1, 0x1000, ACCESS.WRITE), 0xa000, "writes are data");
});

// IHI 0070 5.2 PRIVCFG (0b10 unprivileged, 0b11 privileged) and INSTCFG (0b10 data, 0b11 instruction; reads only:
// writes are always data); 6.3.2 IDR1.ATTR_PERMS_OVR 0: both are ignored and the incoming attributes used.
// [what, ATTR_PERMS_OVR, STE fields, the page's leaf fields, the incoming access, translated]
const { PRIV, EXEC, WRITE } = ACCESS;
const OVERRIDES: [string, number, Record<string, number>, Record<string, number>, number, boolean][] = [
  [
    "PRIVCFG unprivileged: a privileged access to an EL1-only page",
    1,
    { PRIVCFG: STE_PRIVCFG.UNPRIV },
    { AP: 0 },
    PRIV,
    false,
  ],
  [
    "PRIVCFG privileged: an unprivileged access to an EL1-only page",
    1,
    { PRIVCFG: STE_PRIVCFG.PRIV },
    { AP: 0 },
    0,
    true,
  ],
  [
    "INSTCFG data: an unprivileged fetch from a UXN page reads data",
    1,
    { INSTCFG: STE_INSTCFG.DATA },
    { UXN: 1 },
    EXEC,
    true,
  ],
  ["INSTCFG data: the fetch without it faults", 1, {}, { UXN: 1 }, EXEC, false],
  ["INSTCFG instruction: a read of a UXN page is a fetch", 1, { INSTCFG: STE_INSTCFG.INSTR }, { UXN: 1 }, 0, false],
  ["INSTCFG instruction: a write stays data", 1, { INSTCFG: STE_INSTCFG.INSTR }, { UXN: 1 }, WRITE, true],
  ["ATTR_PERMS_OVR 0: PRIVCFG privileged ignored", 0, { PRIVCFG: STE_PRIVCFG.PRIV }, { AP: 0 }, 0, false],
  ["ATTR_PERMS_OVR 0: INSTCFG instruction ignored", 0, { INSTCFG: STE_INSTCFG.INSTR }, { UXN: 1 }, 0, true],
  ["ATTR_PERMS_OVR 0: INSTCFG data ignored", 0, { INSTCFG: STE_INSTCFG.DATA }, { UXN: 1 }, EXEC, false],
];
for (const [what, permsOvr, steFields, leaf, access, ok] of OVERRIDES) {
  Deno.test(`5.2 STE attribute overrides: ${what}`, () => {
    const env = makeEnv({ permsOvr });
    const ste = linearStreamTable(env.regs, env.alloc, 4);
    s1Stream(env, ste(1), { ste: steFields }).map(0x1000, 0xa000, 3, leaf);
    assert.equal(env.t.translate(1, -1, 0x1008, access), ok ? 0xa008 : -1);
    assert.deepEqual(env.events.map((e) => e.type), ok ? [] : [EVENT_TYPE.F_PERMISSION]);
  });
}

/** A nested stream: stage-1 tables and CD at IPAs that stage 2 maps to PA = IPA + OFF. */
const OFF = 0x2_0000_0000;
function nested(s2r = 1) {
  const env = makeEnv();
  const ste = linearStreamTable(env.regs, env.alloc, 4);
  const s2 = new PageTable(env.mem, new Allocator(0x3_0000_0000), 12, 40, 1);
  for (let ipa = 0x4000_0000; ipa < 0x5000_0000; ipa += 0x20_0000) s2.map(ipa, ipa + OFF, 2, {}, 2);
  const ipas = new Allocator(0x4000_0000);
  const s1 = new PageTable(env.mem, ipas, 12, 48, 0, (a) => a + OFF);
  const cd = ipas.alloc(64, 64);
  cdAt(env.mem, cd + OFF, { V: 1, AA64: 1, A: 1, R: 1, T0SZ: 16, IPS: 5, EPD1: 1, TTB0: s1.root, ASID: 9 });
  steAt(env.mem, ste(1), {
    V: 1,
    Config: STE_CONFIG.NESTED,
    S1ContextPtr: cd,
    S2AA64: 1,
    S2TG: 0,
    S2T0SZ: 24,
    S2SL0: 1,
    S2PS: 5,
    S2TTB: s2.root,
    S2VMID: 7,
    S2R: s2r,
  });
  return { ...env, ste, s1, s2, cd };
}

Deno.test("nested: every stage-1 table address goes through stage 2; faults carry S2, CLASS and IPA", () => {
  const env = nested();
  env.s1.map(0x1000, 0x4800_0000);
  env.s1.map(0x2000, 0x6000_0000); // an IPA stage 2 does not map
  assert.equal(env.t.translate(1, -1, 0x1234, ACCESS.WRITE), OFF + 0x4800_0234);
  assert.equal(env.t.translate(1, -1, 0x2010, 0), -1);
  let e = env.events.at(-1)!;
  assert.deepEqual([e.type, e.s2, e.class, e.ipa, e.inputAddr], [
    EVENT_TYPE.F_TRANSLATION,
    true,
    EVT_CLASS.IN,
    0x6000_0010,
    0x2010,
  ]);
  // Stage-1 table fetch outside stage 2: CLASS TT, the IPA of the descriptor.
  env.s1.raw(0x4000_0000_00, 1, 0x6000_0003, 0); // a level-1 table descriptor at IPA 0x6000_0000
  assert.equal(env.t.translate(1, -1, 0x4000_0000_00, 0), -1);
  e = env.events.at(-1)!;
  assert.deepEqual([e.type, e.s2, e.class, e.ipa], [EVENT_TYPE.F_TRANSLATION, true, EVT_CLASS.TT, 0x6000_0000]);
  // The CD itself outside stage 2: CLASS CD.
  steAt(env.mem, env.ste(2), {
    ...Object.fromEntries([]),
    V: 1,
    Config: 7,
    S1ContextPtr: 0x7000_0000,
    S2AA64: 1,
    S2T0SZ: 24,
    S2SL0: 1,
    S2PS: 5,
    S2TTB: env.s2.root,
    S2R: 1,
  });
  assert.equal(env.t.translate(2, -1, 0x1000, 0), -1);
  e = env.events.at(-1)!;
  assert.deepEqual([e.type, e.s2, e.class, e.ipa], [EVENT_TYPE.F_TRANSLATION, true, EVT_CLASS.CD, 0x7000_0000]);
});

Deno.test("nested: stage-2 permissions combine with stage 1; S2R = 0 suppresses stage-2 events", () => {
  const env = nested(0);
  env.s2.map(0x5000_0000, 0x5000_0000, 3, { S2AP: 1 }, 2);
  env.s1.map(0x1000, 0x5000_0000);
  assert.equal(env.t.translate(1, -1, 0x1000, 0), 0x5000_0000);
  assert.equal(env.t.translate(1, -1, 0x1000, ACCESS.WRITE), -1);
  assert.deepEqual([env.t.fault.type, env.t.fault.s2], [EVENT_TYPE.F_PERMISSION, true]);
  assert.equal(env.events.length, 0);
});

Deno.test("probe has no side effects: no event, no cache fill, no AF update; it traces the walk", () => {
  const env = makeEnv({ httu: 2 });
  const ste = linearStreamTable(env.regs, env.alloc, 4);
  const pt = s1Stream(env, ste(1), { cd: { HA: 1 } });
  pt.map(0x1000, 0xa000, 3, { AF: 0 });
  const trace: { level: number; decision: string }[] = [];
  assert.equal(env.t.probe(1, -1, 0x1000, 0, NO_TAG, trace as never), 0xa000);
  assert.deepEqual(trace.map((s) => [s.level, s.decision]), [[0, "table"], [1, "table"], [2, "table"], [3, "page"]]);
  assert.equal(env.t.probe(1, -1, 0x9000, 0), -1);
  assert.equal(env.events.length, 0);
  assert.equal(env.t.caches.entryCount + env.t.caches.contextCount + env.t.caches.streamCount, 0);
  assert.equal(pt.leaf(0x1000)[0] & (1 << 10), 0, "AF still 0");
  assert.equal(env.t.translate(1, -1, 0x1000, 0), 0xa000);
  assert.notEqual(pt.leaf(0x1000)[0] & (1 << 10), 0, "translate sets AF (HA)");
});

Deno.test("observers: a fake host mirrors decoded configuration through CFGI/TLBI/SYNC", () => {
  const host = new Map<number, number>(); // sid -> mirrored S1ContextPtr
  const seen: Invalidation[] = [];
  const box: { t?: import("../src/translation/translate.ts").Translator } = {};
  const observer = {
    invalidated(scope: Invalidation) {
      seen.push(scope);
      if (scope.kind === "ste") {
        const c = box.t!.streamConfig(scope.sid);
        if ("config" in c && c.s1) host.set(scope.sid, c.s1.contextPtr);
        else host.delete(scope.sid);
      }
    },
  };
  const env = makeEnv({}, {}, [observer]);
  box.t = env.t;
  const ste = linearStreamTable(env.regs, env.alloc, 4);
  s1Stream(env, ste(1));
  env.t.invalidate({ kind: "ste", sid: 1, leaf: true });
  const first = host.get(1);
  assert.ok(first !== undefined);
  s1Stream(env, ste(1)); // the guest moves the CD
  assert.equal(host.get(1), first, "not yet invalidated");
  env.t.invalidate({ kind: "ste", sid: 1, leaf: true });
  assert.notEqual(host.get(1), first);
  steAt(env.mem, ste(1), { V: 0 });
  env.t.invalidate({ kind: "ste", sid: 1, leaf: true });
  assert.equal(host.has(1), false);
  env.t.invalidate({ kind: "nh_asid", vmid: 0, asid: 1 });
  assert.deepEqual(seen.map((s) => s.kind), ["ste", "ste", "ste", "nh_asid"]);
});
