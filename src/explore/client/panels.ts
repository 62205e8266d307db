/**
 * The page's panels: decoded records, the selected box of a walk, event records, the register file and the caches.
 * @module
 */
import type { CacheView, ExploreModel, RecordView, RegisterValue, WalkNode } from "../model.ts";
import { h } from "./dom.ts";

/** A decoded record as a table: field, bits, value, meaning, and the spec's description. */
export function recordTable(record: RecordView, model: ExploreModel, caption?: string): HTMLElement {
  const layout = model.layouts[record.layout];
  const rows = record.fields.map((f) =>
    h(
      "tr",
      { class: f.value === "0x0" ? "zero" : null },
      h("th", { scope: "row" }, f.name),
      h("td", { class: "mono" }, f.bits),
      h("td", { class: "mono" }, f.value),
      h("td", null, f.meaning),
      h("td", { class: "desc" }, layout?.fields[f.name] ?? ""),
    )
  );
  return h(
    "div",
    { class: "record" },
    h(
      "p",
      { class: "record-head" },
      h("strong", null, caption ?? record.layout),
      caption ? ` (${record.layout})` : "",
      layout ? ` · ${layout.description}` : "",
    ),
    h("p", { class: "mono words" }, record.words.join(" ")),
    h(
      "table",
      { class: "fields" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ...["field", "bits", "value", "meaning", "description"].map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h("tbody", null, ...rows),
    ),
    record.reserved.length ? h("p", { class: "warn" }, `reserved bits set: ${record.reserved.join(", ")}`) : null,
    ...record.notes.map((n) => h("p", { class: "note" }, n)),
  );
}

/** The selected box of a walk: where, what was read, what was decided, and the value field by field. */
export function nodeDetail(n: WalkNode, model: ExploreModel): HTMLElement {
  const facts: [string, string][] = [
    ["address", n.address],
    ["IPA", n.ipa],
    ["value", n.raw],
    ["decision", n.decision],
  ];
  return h(
    "div",
    { class: `node-detail tone-${n.tone}`, id: "node-detail-body" },
    h("h4", null, n.title),
    h("dl", null, ...facts.filter(([, v]) => v).flatMap(([k, v]) => [h("dt", null, k), h("dd", { class: "mono" }, v)])),
    n.record ? recordTable(n.record, model) : null,
  );
}

/** The event records of a step, each with a link to where it arose. */
export function eventsPanel(model: ExploreModel, indices: number[], goto: (step: number) => void): HTMLElement {
  return h(
    "div",
    { class: "events" },
    ...indices.map((i) => {
      const e = model.events[i];
      return h(
        "details",
        { class: "event", open: true },
        h(
          "summary",
          null,
          h("span", { class: "badge fault" }, `event ${e.index + 1}`),
          " ",
          e.summary,
          " ",
          h("button", { type: "button", class: "link", onclick: () => goto(e.step) }, `arose at step #${e.step}`),
        ),
        recordTable(e.record, model),
      );
    }),
  );
}

/** Every register's value after step `index` (-1: before the first step). */
export function registersAt(model: ExploreModel, index: number): Record<string, RegisterValue> {
  const regs = { ...model.initial };
  for (let i = 0; i <= index && i < model.steps.length; i++) Object.assign(regs, model.steps[i].registers);
  return regs;
}

/** The register file after step `index`: registers changed by the step first marked, each expandable to fields. */
export function registersPanel(model: ExploreModel, index: number, all: boolean): HTMLElement {
  const regs = registersAt(model, index);
  const changed = model.steps[index]?.registers ?? {};
  const list = model.registers.filter((r) => all || r.name in changed || regs[r.name].value !== "0x0");
  return h(
    "div",
    { class: "registers" },
    ...list.map((r) => {
      const v = regs[r.name];
      return h(
        "details",
        { class: r.name in changed ? "reg changed" : "reg" },
        h(
          "summary",
          null,
          h("span", { class: "reg-name" }, r.name),
          h("span", { class: "mono reg-offset" }, r.offset),
          h("span", { class: "mono" }, v.value),
          r.name in changed ? h("span", { class: "badge changed" }, "changed here") : null,
        ),
        recordTable(v.record, model, r.name),
      );
    }),
  );
}

/** The caches at some point: decoded STEs held, and each context with its TLB entries. */
export function cachesPanel(c: CacheView): HTMLElement {
  const streams = c.streams.length
    ? h("p", null, "STEs cached: ", c.streams.map((s) => `StreamID ${s.sid} (STE at ${s.ste})`).join(", "))
    : h("p", null, "No STE cached.");
  const contexts = c.contexts.map((x) =>
    h(
      "div",
      { class: "context" },
      h(
        "p",
        { class: "context-head" },
        h("strong", null, `StreamID ${x.sid}, SubstreamID ${x.ssid}`),
        ` · ${x.kind} · ASID ${x.asid} · VMID ${x.vmid} · STE ${x.ste}${x.cd ? ` · CD ${x.cd}` : ""}`,
        x.walkEntries ? ` · ${x.walkEntries} last-level table chunks in the walk cache` : "",
      ),
      x.entries.length
        ? h(
          "table",
          { class: "tlb" },
          h(
            "thead",
            null,
            h("tr", null, ...["input", "size", "output", "IPA", "permissions", "global"].map((t) => h("th", null, t))),
          ),
          h(
            "tbody",
            null,
            ...x.entries.map((e) =>
              h(
                "tr",
                null,
                h("td", { class: "mono" }, e.iova),
                h("td", null, e.size),
                h("td", { class: "mono" }, e.pa),
                h("td", { class: "mono" }, e.ipa),
                h("td", { class: "mono" }, e.perms),
                h("td", null, e.global ? "yes" : "no"),
              )
            ),
          ),
        )
        : h("p", { class: "muted" }, "TLB empty for this context."),
    )
  );
  return h("div", { class: "caches" }, streams, ...(contexts.length ? contexts : [h("p", null, "No context cached.")]));
}

/** The caches after step `index`: the last ones recorded at or before it. */
export function cachesAt(model: ExploreModel, index: number): CacheView {
  for (let i = Math.min(index, model.steps.length - 1); i >= 0; i--) {
    const c = model.steps[i].caches;
    if (c) return c;
  }
  return model.caches;
}
