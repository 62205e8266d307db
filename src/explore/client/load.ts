/**
 * Server mode: the forms that load a recorded vector, a scenario file, a saved state with a memory image, or a Linux
 * log, and that probe a transaction; each posts one request to the explorer's server and shows the model it returns.
 * @module
 */
import type { ExploreModel } from "../model.ts";
import { h } from "./dom.ts";
import { type App, show } from "./main.ts";

/** Shows the load form, lists the recorded vectors, and loads what the URL (?vector=…) or the server names. */
export async function serverInit(app: App): Promise<void> {
  const form = document.getElementById("load") as HTMLDetailsElement;
  form.hidden = false;
  const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  byId("load-vector").addEventListener("click", () => {
    const path = byId<HTMLSelectElement>("vector").value;
    if (path) void loadRequest(app, { vector: path });
  });
  byId("load-files").addEventListener("click", () => void loadFiles(app));
  byId("probe-add").addEventListener("click", () => {
    const probe = {
      sid: Number(byId<HTMLInputElement>("probe-sid").value),
      iova: byId<HTMLInputElement>("probe-iova").value.trim(),
      dir: byId<HTMLSelectElement>("probe-dir").value,
      priv: byId<HTMLInputElement>("probe-priv").checked,
      ssid: byId<HTMLInputElement>("probe-ssid").value.trim() === ""
        ? undefined
        : Number(byId<HTMLInputElement>("probe-ssid").value),
    };
    const request = { ...(app.request ?? {}) };
    request.probes = [...((request.probes as unknown[]) ?? []), probe];
    void loadRequest(app, request, true);
  });
  try {
    const vectors = await (await fetch("api/vectors")).json() as { path: string; name: string }[];
    byId("vector").replaceChildren(...vectors.map((v) => h("option", { value: v.path }, `${v.path} — ${v.name}`)));
  } catch {
    setStatus("could not list the recorded vectors");
  }
  const wanted = new URLSearchParams(location.search).get("vector");
  if (wanted) {
    byId<HTMLSelectElement>("vector").value = wanted;
    await loadRequest(app, { vector: wanted });
    return;
  }
  const initial = await (await fetch("api/initial")).json() as
    | { request: Record<string, unknown>; model: ExploreModel }
    | null;
  if (initial) {
    app.request = initial.request;
    show(app, initial.model);
  } else {
    form.open = true;
    setStatus("Choose a recorded vector, or load files.");
  }
}

/** Reports progress or a problem in the form's status line. */
export function setStatus(text: string): void {
  document.getElementById("load-status")!.textContent = text;
}

/** Posts a load request; shows the model, or the server's error. `toEnd` selects the last step (a new probe). */
export async function loadRequest(app: App, request: Record<string, unknown>, toEnd = false): Promise<void> {
  setStatus("loading…");
  try {
    const response = await fetch("api/load", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    const body = await response.json() as { model?: ExploreModel; error?: string };
    if (!body.model) {
      setStatus(body.error ?? `the server answered ${response.status}`);
      return;
    }
    app.request = request;
    if (toEnd) {
      history.replaceState(null, "", `${location.pathname}${location.search}#step-${body.model.steps.length - 1}`);
    } else if (typeof request.vector === "string") {
      history.replaceState(null, "", `?vector=${encodeURIComponent(request.vector)}`);
    }
    show(app, body.model);
    setStatus(`loaded ${body.model.title}: ${body.model.steps.length} steps, ${body.model.events.length} events`);
  } catch (e) {
    setStatus(`could not load: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Bytes as base64, for the JSON request. */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Loads the files and text the form holds: a scenario, a saved state, a memory image at its base, a Linux log. */
export async function loadFiles(app: App): Promise<void> {
  const file = (id: string) => (document.getElementById(id) as HTMLInputElement).files?.[0];
  const request: Record<string, unknown> = {};
  const scenario = file("scenario-file");
  if (scenario) request.scenario = { name: scenario.name, text: await scenario.text() };
  const state = file("state-file");
  if (state) request.state = toBase64(new Uint8Array(await state.arrayBuffer()));
  const memory = file("memory-file");
  if (memory) {
    const base = (document.getElementById("memory-base") as HTMLInputElement).value.trim() || "0";
    request.memory = [{ base, data: toBase64(new Uint8Array(await memory.arrayBuffer())) }];
  }
  const log = (document.getElementById("log-text") as HTMLTextAreaElement).value;
  if (log.trim()) request.log = log;
  if (!request.scenario && !request.state) {
    setStatus("Give a scenario file or a saved state (with its memory image).");
    return;
  }
  await loadRequest(app, request);
}
