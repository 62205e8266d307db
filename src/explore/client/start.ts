/**
 * The page's start: the model embedded in a static export, or, served, the load form (load.ts).
 * @module
 */
import type { ExploreModel } from "../model.ts";
import { serverInit } from "./load.ts";
import { type App, globalKey, renderTimeline, show, timelineKey } from "./main.ts";

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
