/**
 * The explorer page's application: the timeline, the selected step's detail (walk picture, events, commands,
 * registers, caches), the keyboard, and in server mode the load and probe forms. State lives in one {@link App}.
 * @module
 */
import type { ExploreModel, StepView, WalkNode, WalkView } from "../model.ts";
import { h } from "./dom.ts";
import { cachesAt, cachesPanel, eventsPanel, nodeDetail, recordTable, registersPanel } from "./panels.ts";
import { serverInit } from "./load.ts";
import { drawWalk } from "./walk_svg.ts";

/** The page's state. */
export interface App {
  model: ExploreModel | null;
  /** Timeline index of the selected step. */
  selected: number;
  /** Selected box: a node id of the walk, or "now:" + id of the walk of the tables as they are now. */
  node: string | null;
  /** Which steps the timeline lists: "all", "dma", "fault" (faults, events, differences). */
  filter: string;
  /** Show every register, not only those that are non-zero or changed. */
  allRegisters: boolean;
  /** The last load request (server mode), to add probes to. */
  request: Record<string, unknown> | null;
}

/** Starts the page: the embedded model (a static export) or, served, the load form. */
export function explorerMain(): void {
  const app: App = { model: null, selected: 0, node: null, filter: "all", allRegisters: false, request: null };
  const filter = document.getElementById("filter") as HTMLSelectElement;
  filter.addEventListener("change", () => {
    app.filter = filter.value;
    renderTimeline(app);
  });
  document.getElementById("steps")!.addEventListener("keydown", (e) => timelineKey(app, e));
  document.addEventListener("keydown", (e) => globalKey(app, e));
  const embedded = document.getElementById("model");
  if (embedded?.textContent) show(app, JSON.parse(embedded.textContent) as ExploreModel);
  else serverInit(app);
}

/** Shows a model: title, timeline, and the step named in the URL (#step-N) or the first DMA. */
export function show(app: App, model: ExploreModel): void {
  if (model.format !== "smmuv3-explore/1") throw new Error(`unknown model format ${model.format}`);
  app.model = model;
  document.getElementById("doc-title")!.textContent = model.title;
  document.getElementById("doc-meta")!.textContent = [model.source, model.device].filter((t) => t).join(" · ");
  document.getElementById("doc-description")!.textContent = model.description;
  const warnings = document.getElementById("warnings")!;
  warnings.replaceChildren(...model.warnings.map((w) => h("li", null, w)));
  renderTimeline(app);
  const fromHash = /^#step-(\d+)$/.exec(location.hash);
  const first = model.steps.find((s) => s.dma)?.index ?? 0;
  const want = fromHash ? Number(fromHash[1]) : first;
  select(app, want < model.steps.length ? want : first, false);
}

/** The timeline indices the filter lets through. */
export function visibleSteps(app: App): StepView[] {
  const steps = app.model?.steps ?? [];
  if (app.filter === "dma") return steps.filter((s) => s.dma);
  if (app.filter === "fault") {
    return steps.filter((s) =>
      s.status === "fault" || s.status === "differs" || s.status === "error" || s.events.length
    );
  }
  return steps;
}

/** A step's label in the timeline: its kind, what it did, and badges for commands and events. */
export function stepLabel(s: StepView): (HTMLElement | string)[] {
  const kind = s.kind === "dma" ? "DMA" : s.kind.startsWith("mmio") ? "MMIO" : s.kind.startsWith("mem") ? "MEM" : "";
  const result = s.dma ? ` → ${s.dma.result}` : "";
  return [
    h("span", { class: "num" }, `#${s.index}`),
    h("span", { class: `kind kind-${s.kind}` }, kind || s.kind.replace("_", " ")),
    h("span", { class: "text" }, s.title + result),
    s.commands.length ? h("span", { class: "badge cmd" }, `${s.commands.length} cmd`) : "",
    s.events.length ? h("span", { class: "badge fault" }, `${s.events.length} event`) : "",
    s.status === "differs" ? h("span", { class: "badge differs" }, "differs") : "",
  ];
}

/** Lists the visible steps; the selected one is the listbox's active option. */
export function renderTimeline(app: App): void {
  const list = document.getElementById("steps")!;
  const items = visibleSteps(app).map((s) =>
    h(
      "li",
      {
        id: `step-${s.index}`,
        role: "option",
        class: `step status-${s.status}`,
        "aria-selected": s.index === app.selected ? "true" : "false",
        "data-kind": s.kind,
        "data-status": s.status,
        onclick: () => select(app, s.index, true),
      },
      ...stepLabel(s),
    )
  );
  list.replaceChildren(...items);
  document.getElementById("step-count")!.textContent = `${items.length} of ${app.model?.steps.length ?? 0} steps`;
  if (document.getElementById(`step-${app.selected}`)) {
    list.setAttribute("aria-activedescendant", `step-${app.selected}`);
  }
}

/** Selects step `index`: marks it in the timeline, draws its detail, and names it in the URL. */
export function select(app: App, index: number, focusList: boolean): void {
  const model = app.model;
  if (!model || index < 0 || index >= model.steps.length) return;
  const old = document.getElementById(`step-${app.selected}`);
  old?.setAttribute("aria-selected", "false");
  if (index !== app.selected) document.getElementById("detail")!.scrollTop = 0;
  app.selected = index;
  app.node = defaultNode(model.steps[index].dma?.walk);
  const list = document.getElementById("steps")!;
  const item = document.getElementById(`step-${index}`);
  if (item) {
    item.setAttribute("aria-selected", "true");
    list.setAttribute("aria-activedescendant", item.id);
    item.scrollIntoView({ block: "nearest" });
  }
  if (focusList) list.focus();
  history.replaceState(null, "", `${location.pathname}${location.search}#step-${index}`);
  renderDetail(app);
}

/** The box selected when a step is: the descriptor that decided (the one before a fault), else the last read. */
export function defaultNode(walk: WalkView | undefined): string | null {
  if (!walk || walk.nodes.length === 0) return null;
  const last = walk.nodes[walk.nodes.length - 1];
  if (last.kind === "fault" || last.kind === "output") {
    const before = walk.nodes.filter((n) => n.kind !== "fault" && n.kind !== "output").at(-1);
    return (last.kind === "fault" && before?.tone === "fault" ? before : before ?? last).id;
  }
  return last.id;
}

/** Draws the selected step's detail. */
export function renderDetail(app: App): void {
  const model = app.model!;
  const s = model.steps[app.selected];
  const goto = (i: number) => {
    if (app.filter !== "all" && !visibleSteps(app).some((x) => x.index === i)) {
      app.filter = "all";
      (document.getElementById("filter") as HTMLSelectElement).value = "all";
      renderTimeline(app);
    }
    select(app, i, true);
  };
  const sections: HTMLElement[] = [
    h("h2", { id: "step-title" }, `#${s.index} · ${s.source} · ${s.title}`),
    h("p", { class: `status status-${s.status}` }, h("span", { class: `badge ${s.status}` }, s.status)),
    ...s.lines.map((l) => h("p", { class: "mono line" }, l)),
  ];
  if (s.dma) sections.push(dmaSection(app));
  if (s.logged) sections.push(section("logged-h", "The event record from the log", recordTable(s.logged, model)));
  if (s.register) sections.push(section("reg-h", `Register ${s.register.name}`, recordTable(s.register.record, model)));
  if (s.commands.length) {
    const cmds = s.commands.map((c, i) =>
      h("details", { class: "command" }, h("summary", null, `${i + 1}. ${c.layout}`), recordTable(c, model))
    );
    sections.push(section("cmd-h", `Commands consumed (${s.commands.length})`, ...cmds));
  }
  if (s.events.length) {
    sections.push(section("evt-h", `Event records written (${s.events.length})`, eventsPanel(model, s.events, goto)));
  }
  const all = h("input", {
    type: "checkbox",
    id: "all-registers",
    checked: app.allRegisters,
    onchange: (e) => {
      app.allRegisters = (e.target as HTMLInputElement).checked;
      renderDetail(app);
    },
  });
  sections.push(section(
    "regs-h",
    "Registers after this step",
    h("label", null, all, " show every register (otherwise the non-zero and changed ones)"),
    registersPanel(model, app.selected, app.allRegisters),
  ));
  sections.push(section("caches-h", "Caches after this step", cachesPanel(cachesAt(model, app.selected))));
  document.getElementById("detail-body")!.replaceChildren(...sections);
}

/** A titled section of the detail. */
export function section(id: string, title: string, ...body: (HTMLElement | string)[]): HTMLElement {
  return h("section", { "aria-labelledby": id }, h("h3", { id }, title), ...body);
}

/** A DMA's walk picture with the selected box's detail, and on a TLB hit a walk of the tables as they are now. */
export function dmaSection(app: App): HTMLElement {
  const model = app.model!;
  const dma = model.steps[app.selected].dma!;
  const recorded = dma.recorded === undefined
    ? ""
    : ` · recorded: ${dma.recorded} (${dma.matches ? "agrees" : "differs"})`;
  const pick = (prefix: string) => (n: WalkNode) => {
    app.node = prefix + n.id;
    renderDetail(app);
    (document.querySelector(`#${prefix ? "walk-now" : "walk"} [data-id="${n.id}"]`) as SVGElement | null)?.focus();
  };
  const find = (walk: WalkView, id: string | null) => walk.nodes.find((n) => n.id === id);
  const nowId = app.node?.startsWith("now:") ? app.node.slice(4) : null;
  const chosen = nowId !== null && dma.tablesNow ? find(dma.tablesNow.walk, nowId) : find(dma.walk, app.node);
  const parts: (HTMLElement | string)[] = [
    h(
      "p",
      { class: "dma-head" },
      `StreamID ${dma.sid}${
        dma.ssid === null ? "" : `, SubstreamID ${dma.ssid}`
      } · ${dma.access} · input ${dma.iova} → `,
      h("strong", { class: dma.ok ? "ok" : "fault" }, dma.result),
      recorded,
    ),
  ];
  const detail = h(
    "div",
    { id: "node-detail", "aria-live": "polite" },
    chosen ? nodeDetail(chosen, model) : h("p", null, "Select a box of the walk."),
  );
  const picture = h(
    "div",
    { class: "svgwrap", id: "walk" },
    drawWalk(dma.walk, nowId === null ? app.node : null, pick("")),
  );
  // Beside a one-column walk, the selected box's detail has room; below a nested grid, it has the width.
  parts.push(h("div", { class: dma.walk.nested ? "walk-area stacked" : "walk-area" }, picture, detail));
  if (dma.tablesNow) {
    const same = dma.tablesNow.same ? "the same answer" : "a different answer: the TLB entry is stale";
    parts.push(
      h("h4", null, `The tables as they are now give ${dma.tablesNow.result} (${same})`),
      h("div", { class: "svgwrap", id: "walk-now" }, drawWalk(dma.tablesNow.walk, nowId, pick("now:"))),
    );
  }
  return section("walk-h", "Walk", ...parts);
}

/** Arrow keys, Home, End, PageUp and PageDown move through the listed steps. */
export function timelineKey(app: App, e: KeyboardEvent): void {
  const steps = visibleSteps(app);
  const at = steps.findIndex((s) => s.index === app.selected);
  const moves: Record<string, number> = {
    ArrowDown: at + 1,
    ArrowUp: at - 1,
    Home: 0,
    End: steps.length - 1,
    PageDown: at + 10,
    PageUp: at - 10,
  };
  if (!(e.key in moves)) return;
  e.preventDefault();
  const to = steps[Math.max(0, Math.min(steps.length - 1, moves[e.key]))];
  if (to) select(app, to.index, true);
}

/** Shortcuts anywhere but in a form field: j/k next/previous step, n next DMA, f next fault, w the walk, t the list. */
export function globalKey(app: App, e: KeyboardEvent): void {
  const target = e.target as HTMLElement;
  if (e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
  const steps = app.model?.steps ?? [];
  const after = (ok: (s: StepView) => boolean) => steps.find((s) => s.index > app.selected && ok(s));
  const before = (ok: (s: StepView) => boolean) => steps.slice(0, app.selected).reverse().find(ok);
  const visible = new Set(visibleSteps(app).map((s) => s.index));
  let to: StepView | undefined;
  if (e.key === "j") to = after((s) => visible.has(s.index));
  else if (e.key === "k") to = before((s) => visible.has(s.index));
  else if (e.key === "n") to = after((s) => s.dma !== undefined);
  else if (e.key === "f") to = after((s) => s.status === "fault" || s.events.length > 0);
  else if (e.key === "w") {
    const box = (document.querySelector("#walk .node.selected") ?? document.querySelector("#walk .node")) as
      | SVGElement
      | null;
    box?.focus();
    e.preventDefault();
    return;
  } else if (e.key === "t") {
    document.getElementById("steps")!.focus();
    e.preventDefault();
    return;
  } else return;
  e.preventDefault();
  if (to) {
    if (!visible.has(to.index)) {
      app.filter = "all";
      (document.getElementById("filter") as HTMLSelectElement).value = "all";
      renderTimeline(app);
    }
    select(app, to.index, true);
  }
}
