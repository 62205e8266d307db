/**
 * Deviation lists (src/scenario/deviations.ts) and their event-record rules (src/scenario/record_rules.ts): read against the
 * generated spec, exact about the bits they explain, and applied by `trace --allow-deviations` as by the vectors test.
 * Records are built with the generated accessors from the layouts of IHI 0070 7.3.13 (F_TRANSLATION) and 7.3.12.
 */
import assert from "node:assert/strict";
import { EVENT_TYPE, EVT_CLASS, EVT_F_TRANSLATION, EVT_F_WALK_EABT, EVT_PNU, EVT_STAGE } from "../gen/mod.ts";
import { accept, type Applied, deviationsFor, parseDeviations } from "../src/scenario/deviations.ts";
import { InputError } from "../src/core/errors.ts";
import { explainRecords, type RecordRule } from "../src/scenario/record_rules.ts";
import { assertJsonRule, runMain } from "./helpers/cli.ts";

const TRANSLATION_EVENTS = ["F_TRANSLATION", "F_ADDR_SIZE", "F_ACCESS", "F_PERMISSION"];
const rulesOf = (records: unknown[]): readonly RecordRule[] =>
  parseDeviations(JSON.stringify({ records }), "d.json").records;
const PNU = { field: "PnU", recorded: "UNPRIVILEGED", ours: "PRIVILEGED", reason: "IHI 0070 7.3" };
const CLASS = {
  field: "CLASS",
  events: TRANSLATION_EVENTS,
  when: { S2: "STAGE_1" },
  recorded: "CD",
  ours: "IN",
  reason: "IHI 0070 7.3.13",
};
const IPA_LOW = {
  field: "IPA[11:0]",
  events: TRANSLATION_EVENTS,
  when: { S2: "STAGE_2" },
  recorded: "any",
  ours: 0,
  reason: "IHI 0070 7.3.13",
};

/** A record as memory holds it (hex bytes, little-endian words). */
function hexOf(w: Uint32Array): string {
  return [...new Uint8Array(w.buffer, w.byteOffset, w.byteLength)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A stage-1 F_TRANSLATION of a privileged write at 0x3000, as the architecture records it (IHI 0070 7.3.13). */
function translationFault(edit: (w: Uint32Array) => void = () => {}): Uint32Array {
  const t = EVT_F_TRANSLATION, w = new Uint32Array(8);
  t.Type.set(w, EVENT_TYPE.F_TRANSLATION);
  t.StreamID.set(w, 0x10);
  t.PnU.set(w, EVT_PNU.PRIVILEGED);
  t.S2.set(w, EVT_STAGE.STAGE_1);
  t.CLASS.set(w, EVT_CLASS.IN);
  t.InputAddr_LO.set(w, 0x3000);
  edit(w);
  return w;
}

/** QEMU 7.2's record of the same fault: PnU and CLASS left 0. */
const qemu72 = (edit: (w: Uint32Array) => void = () => {}) =>
  translationFault((w) => {
    EVT_F_TRANSLATION.PnU.set(w, 0);
    EVT_F_TRANSLATION.CLASS.set(w, EVT_CLASS.CD);
    edit(w);
  });

const names = (r: RecordRule[] | null) => r?.map((x) => x.name) ?? null;

Deno.test("record rules explain exactly their fields, and only where ours holds the architecture's value", () => {
  const [pnu, cls] = rulesOf([PNU, CLASS]);
  const ours = hexOf(translationFault()), theirs = hexOf(qemu72());
  assert.deepEqual(names(explainRecords([pnu, cls], ours, theirs)), ["PnU", "CLASS"]);
  assert.equal(explainRecords([pnu], ours, theirs), null, "CLASS is left unexplained");
  assert.equal(explainRecords([pnu, cls], ours, ours), null, "nothing differs: nothing explained");
  // Another field differs (InputAddr): not a field the rules name.
  assert.equal(
    explainRecords([pnu, cls], ours, hexOf(qemu72((w) => EVT_F_TRANSLATION.InputAddr_LO.set(w, 0x4000)))),
    null,
  );
  // Reversed: ours would be the unprivileged one, not what the privileged DMA asks (IHI 0070 7.3: PnU).
  assert.equal(
    explainRecords([pnu], hexOf(qemu72()), hexOf(translationFault((w) => EVT_F_TRANSLATION.CLASS.set(w, 0)))),
    null,
  );
  // CLASS is explained for stage-1 faults only (`when`): a stage-2 fault's CLASS must match.
  const s2 = (w: Uint32Array) => EVT_F_TRANSLATION.S2.set(w, EVT_STAGE.STAGE_2);
  assert.equal(explainRecords([pnu, cls], hexOf(translationFault(s2)), hexOf(qemu72(s2))), null);
  // ... and for the listed event types only: F_WALK_EABT (IHI 0070 7.3.12) has CLASS too.
  const eabt = (w: Uint32Array) => EVT_F_WALK_EABT.Type.set(w, EVENT_TYPE.F_WALK_EABT);
  assert.equal(explainRecords([pnu, cls], hexOf(translationFault(eabt)), hexOf(qemu72(eabt))), null);
  // Two records read at once: both must be explained.
  const two = (a: Uint32Array, b: Uint32Array) => hexOf(a) + hexOf(b);
  assert.deepEqual(
    names(explainRecords([pnu, cls], two(translationFault(), translationFault()), two(qemu72(), qemu72()))),
    [
      "PnU",
      "CLASS",
    ],
  );
  const other = qemu72((w) => EVT_F_TRANSLATION.StreamID.set(w, 0x18));
  assert.equal(explainRecords([pnu, cls], two(translationFault(), translationFault()), two(qemu72(), other)), null);
});

Deno.test("IPA[11:0] names the RES0 bits below IPA[51:12] (IHI 0070 7.3.13), and nothing else", () => {
  const [low] = rulesOf([IPA_LOW]);
  const ipa = 0x20_0000_3000;
  const fault = (w: Uint32Array) => {
    EVT_F_TRANSLATION.S2.set(w, EVT_STAGE.STAGE_2);
    EVT_F_TRANSLATION.IPA.set(w, ipa / 2 ** 12);
  };
  const ours = translationFault(fault);
  // The bits just below the IPA field, where QEMU 10 puts IPA[11:0], found from the field's position and shift.
  const lsb = EVT_F_TRANSLATION.IPA.lsb - 12;
  const withLow = (w: Uint32Array, v: number) => {
    const c = w.slice();
    c[lsb >>> 5] |= v << (lsb & 31);
    return c;
  };
  assert.deepEqual(names(explainRecords([low], hexOf(ours), hexOf(withLow(ours, 0x123)))), ["IPA[11:0]"]);
  assert.equal(explainRecords([low], hexOf(withLow(ours, 0x123)), hexOf(ours)), null, "ours must be 0 there");
  const wrongIpa = translationFault((w) => (fault(w), EVT_F_TRANSLATION.IPA.set(w, ipa / 2 ** 12 + 1)));
  assert.equal(explainRecords([low], hexOf(ours), hexOf(withLow(wrongIpa, 0x123))), null, "IPA[51:12] must agree");
  const s1 = translationFault();
  assert.equal(explainRecords([low], hexOf(s1), hexOf(withLow(s1, 0x123))), null, "stage-2 faults only");
});

Deno.test("a rule the spec cannot resolve is refused, naming the entry", () => {
  const cases: [object, string][] = [
    [{ ...CLASS, events: ["F_NOPE"] }, "no event type F_NOPE (one of F_UUT, "],
    [{ ...IPA_LOW, events: ["C_BAD_STE"] }, "EVT_C_BAD_STE has no field IPA at d.json records[0].field"],
    [
      { ...CLASS, recorded: "XX" },
      '"XX" is not a value of CLASS (one of CD, TT, IN, or a number) at d.json records[0].recorded',
    ],
    [{ ...CLASS, ours: 4 }, "4 does not fit in 2 bits at d.json records[0].ours"],
    [{ ...CLASS, when: { S3: 1 } }, "EVT_F_TRANSLATION has no field S3 at d.json records[0].when.S3"],
    [{ ...IPA_LOW, field: "IPA[13:0]" }, "IPA holds address bits [55:12]: name bits below 12, or the field"],
    [{ ...IPA_LOW, ours: 1 }, "IPA[11:0] is RES0 in EVT_F_TRANSLATION: ours must be 0 at d.json records[0].ours"],
    [{ ...PNU, field: "Nope" }, "no event type has the fields Nope at d.json records[0]"],
    [{ ...PNU, reason: "" }, "a rule says why at d.json records[0].reason"],
    [{ ...PNU, ours: "any" }, '"any" is not a value of PnU'],
  ];
  for (const [rule, want] of cases) {
    assert.throws(() => rulesOf([rule]), (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.ok(e.message.includes(want), `${e.message}\nwants ${want}`);
      return true;
    });
  }
});

Deno.test("accept: a listed step only as listed, records only from the event queue, stale PAs only if up to date", () => {
  const list = parseDeviations(
    JSON.stringify({
      steps: [{ reason: "IHI 0070 6.3.14", ours: { s: { "3": "0x1000" } } }],
      records: [PNU],
      stale_translations: { reason: "IHI 0070 3.21" },
    }),
    "d.json",
  );
  const d = deviationsFor(list, "s")!;
  const kinds = (a: Applied[] | undefined) => a?.map((x) => x.kind) ?? null;
  assert.deepEqual(kinds(accept(d, 3, "0x1000", "0x0")), ["step"]);
  assert.equal(accept(d, 3, "0x1001", "0x0"), undefined, "a listed step is accepted only as listed");
  const ours = hexOf(translationFault()), rec = hexOf(translationFault((w) => EVT_F_TRANSLATION.PnU.set(w, 0)));
  assert.deepEqual(kinds(accept(d, 4, ours, rec, { eventRecords: true })), ["record"]);
  assert.equal(accept(d, 4, ours, rec), undefined, "bytes read elsewhere than the event queue");
  const pa = { pa: "0x48001000" }, stale = { pa: "0x48002000" };
  assert.deepEqual(kinds(accept(d, 5, pa, stale, { uncached: () => pa })), ["stale"]);
  assert.equal(accept(d, 5, stale, pa, { uncached: () => pa }), undefined, "ours is the stale one");
  assert.equal(accept(d, 5, { fault: true }, pa, { uncached: () => ({ fault: true }) }), undefined, "a PA only");
  // Every scenario gets the general rules; a list without them has nothing for an unlisted scenario.
  assert.deepEqual(deviationsFor(list, "other")?.steps, {});
  assert.equal(deviationsFor(parseDeviations('{"steps":[]}', "d.json"), "other"), undefined);
});

Deno.test("trace applies record rules to the event queue's slots only, and says which in its JSON", async () => {
  const file = new URL("./vectors/qemu-7.2/s1-4k-4level-basic.json", import.meta.url).pathname;
  const list = new URL("./vectors/qemu-7.2/deviations.json", import.meta.url).pathname;
  const scenario = JSON.parse(await Deno.readTextFile(file));
  // Step 47 reads the event queue's first slot: QEMU's record of step 45's fault, PnU and CLASS left 0.
  const read = scenario.steps[47];
  assert.equal(read.op, "mem_read");
  const json = await runMain(["trace", "--json", file, "--allow-deviations", list]);
  assert.equal(json.code, 0, json.errors.join("\n"));
  const doc = JSON.parse(json.out);
  assertJsonRule(doc);
  assert.deepEqual(doc.steps[47].acceptedBy.map((a: { kind: string; rule: string }) => `${a.kind} ${a.rule}`), [
    "record PnU",
    "record CLASS",
  ]);
  assert.deepEqual(doc.totals.applied, {
    listed: [46, 48, 49, 50, 51, 52, 53, 54],
    records: [{ rule: "PnU", reads: 1 }, { rule: "CLASS", reads: 1 }],
    stale: [],
  });
  // The same two records, ours and QEMU's, read from RAM outside the queue: no rule explains them.
  const ours = doc.steps[47].hex;
  scenario.steps.push(
    { op: "mem_write", addr: "0x40000000", hex: ours },
    { op: "mem_read", addr: "0x40000000", len: 32, observed_hex: read.observed_hex },
  );
  const r = await runMain(["trace", "s.json", "--allow-deviations", list], { "s.json": JSON.stringify(scenario) });
  assert.equal(r.code, 1);
  assert.equal(
    r.errors.at(-1),
    `smmuv3 trace: 1 recorded observation differs from this model, at step ${scenario.steps.length - 1}`,
  );
});

Deno.test("a stale PA is accepted only where ours is what a device with nothing cached answers (IHI 0070 3.21)", async () => {
  const file = new URL("./vectors/qemu-7.2/s1-4k-4level-basic.json", import.meta.url).pathname;
  const list = new URL("./vectors/qemu-7.2/deviations.json", import.meta.url).pathname;
  const vector = JSON.parse(await Deno.readTextFile(file));
  const dma = vector.steps[40]; // sid 16 writes IOVA 0x1000: the L3 descriptor at 0x43003008 maps it to 0x48005000
  assert.deepEqual([dma.iova, dma.observed], ["0x1000", { pa: "0x48005000" }]);
  // The guest maps the page to 0x48009000 instead, with no invalidation (IHI 0070 3.21: a cached entry may be used).
  const remap = { op: "mem_write", addr: "0x43003008", hex: "0397004800000000" };
  const trace = async (steps: object[]) => {
    const s = JSON.stringify({ ...vector, steps: [...vector.steps.slice(0, 40), ...steps] });
    return await runMain(["trace", "s.json", "--allow-deviations", list], { "s.json": s });
  };
  // Remapped before the first access: ours is the new PA, and the recording's old one is accepted as stale.
  const fresh = await trace([remap, dma]);
  assert.equal(fresh.code, 0, fresh.errors.join("\n"));
  assert.match(fresh.out, /→ pa 0x48009000 {2}\(recorded: pa 0x48005000; differs: a documented deviation\)/);
  assert.match(fresh.out, /^ {11}deviation \(stale translation\): .*IHI 0070 3\.21/m);
  assert.match(fresh.out, /^deviations applied: stale translation at step 41$/m);
  // Remapped after the TLB holds the old entry: ours is the cached one, not the up-to-date answer, so a recording of
  // the new PA is not explained by this rule.
  const cached = await trace([dma, remap, { ...dma, observed: { pa: "0x48009000" } }]);
  assert.equal(cached.code, 1);
  assert.match(cached.out, /TLB hit\n {11}→ pa 0x48005000 {2}\(recorded: pa 0x48009000; differs\)/);
});
