/**
 * The explorer page: one HTML document with its style and script inline, nothing fetched from elsewhere (the
 * Content-Security-Policy forbids it). Served, it loads models from the explorer's server; exported (`trace --html`),
 * it carries its model in a JSON script element and needs no server.
 * @module
 */
import { clientScript } from "./client/mod.ts";
import type { ExploreModel } from "./model.ts";

const STYLE = `
:root { --ok: #1a7f37; --ok-bg: #e9f7ee; --fault: #b42318; --fault-bg: #fdecea; --cached: #5b3cc4; --cached-bg: #f1edfd;
  --info-bg: #f3f4f6; --line: #c9ced6; --text: #1f2328; --muted: #59636e; --accent: #0b5cad; --sel: #fff6d6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--text); background: #fff;
  display: flex; flex-direction: column; height: 100vh; }
.mono, code, .words { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
a.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: 6px; }
a.skip:focus { left: 6px; z-index: 10; }
header { padding: 10px 16px; border-bottom: 1px solid var(--line); background: #f8fafc; }
header h1 { font-size: 18px; margin: 0 12px 0 0; display: inline; }
#doc-title { font-weight: 600; }
#doc-meta, #doc-description { color: var(--muted); margin: 4px 0 0; }
#warnings { color: var(--fault); margin: 4px 0 0; }
#load { margin-top: 6px; }
#load[open] > summary { margin-bottom: 6px; }
#load summary { cursor: pointer; color: var(--accent); }
#load fieldset + fieldset { margin-top: 6px; }
#load fieldset { border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; display: flex; flex-wrap: wrap;
  gap: 8px; align-items: center; margin: 0; }
#load legend { font-weight: 600; }
#load textarea { width: 28em; height: 3.2em; }
#load-status { margin: 0; color: var(--muted); }
.layout { display: grid; grid-template-columns: minmax(280px, 27%) 1fr; flex: 1; min-height: 0; }
nav#timeline { border-right: 1px solid var(--line); display: flex; flex-direction: column; min-height: 0; }
.filters { padding: 6px 10px; border-bottom: 1px solid var(--line); display: flex; gap: 8px; align-items: center;
  flex-wrap: wrap; }
#step-count { color: var(--muted); }
#steps { list-style: none; margin: 0; padding: 0; overflow: auto; flex: 1; outline-offset: -3px; }
#steps li { padding: 3px 10px; border-bottom: 1px solid #eef0f3; cursor: pointer; display: flex; gap: 6px;
  align-items: baseline; }
#steps li[aria-selected="true"] { background: var(--sel); box-shadow: inset 4px 0 0 var(--accent); }
#steps:focus li[aria-selected="true"] { outline: 2px solid var(--accent); outline-offset: -2px; }
#steps .num { color: var(--muted); min-width: 3.2em; font-variant-numeric: tabular-nums; }
#steps .kind { font-size: 11px; border-radius: 4px; padding: 0 4px; background: var(--info-bg); min-width: 3.4em;
  text-align: center; }
#steps .kind-dma { background: #dbeafe; }
#steps .text { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#steps li.status-fault .text, #steps li.status-error .text { color: var(--fault); }
#steps li.status-differs .text { color: #9a6700; }
#steps li[data-kind="comment"] .text { color: var(--muted); font-style: italic; }
.badge { font-size: 11px; border-radius: 8px; padding: 0 6px; background: var(--info-bg); white-space: nowrap; }
.badge.fault, .badge.error { background: var(--fault-bg); color: var(--fault); }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.differs { background: #fff3c4; color: #7a5300; }
.badge.cmd { background: #e0f2fe; }
.badge.changed { background: #fff3c4; }
#detail { overflow: auto; padding: 8px 18px 40px; min-height: 0; }
#detail h2 { font-size: 17px; margin: 6px 0; }
#detail h3 { font-size: 15px; margin: 18px 0 6px; border-bottom: 1px solid var(--line); padding-bottom: 2px; }
#detail h4 { font-size: 14px; margin: 12px 0 4px; }
.line { margin: 2px 0; }
strong.ok { color: var(--ok); } strong.fault { color: var(--fault); }
.walk-area { display: flex; gap: 16px; align-items: flex-start; }
.walk-area.stacked { flex-direction: column; align-items: stretch; }
.walk-area #node-detail { flex: 1; min-width: 0; position: sticky; top: 0; }
.svgwrap { overflow: auto; flex: none; max-width: 100%; border: 1px solid var(--line); border-radius: 6px; background: #fcfcfd; padding: 4px; }
svg.walk { max-width: 100%; height: auto; display: block; }
svg.walk text { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px;
  fill: var(--text); }
svg.walk .col-label, svg.walk .row-label { fill: var(--muted); font-size: 11.5px; }
svg.walk .edge { stroke: #8a94a3; stroke-width: 1.5; fill: none; }
svg.walk .arrowhead { fill: #8a94a3; }
svg.walk .node { cursor: pointer; outline: none; }
svg.walk .box { fill: #fff; stroke: var(--line); stroke-width: 1.5; }
svg.walk .tone-ok .box { fill: var(--ok-bg); stroke: #7cc796; }
svg.walk .tone-fault .box { fill: var(--fault-bg); stroke: var(--fault); }
svg.walk .tone-cached .box { fill: var(--cached-bg); stroke: #a895e8; stroke-dasharray: 5 3; }
svg.walk .kind-output .box { stroke: var(--ok); stroke-width: 2.5; }
svg.walk .kind-fault .box { stroke-width: 2.5; }
svg.walk .node-title { font-weight: 700; font-size: 13px; }
svg.walk .tone-fault .node-title, svg.walk .tone-fault .node-decision { fill: var(--fault); }
svg.walk .node-ipa, svg.walk .node-value { fill: var(--muted); }
svg.walk .node.selected .box { stroke: var(--accent); stroke-width: 3.5; }
svg.walk .node:focus-visible .box, svg.walk .node:focus .box { stroke: #111; stroke-width: 3.5; }
.node-detail dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 4px 0; }
.node-detail dt { color: var(--muted); }
.node-detail dd { margin: 0; }
.record { margin: 6px 0 10px; }
.record-head { margin: 2px 0; }
.words { margin: 2px 0 4px; color: var(--muted); word-break: break-all; }
table { border-collapse: collapse; }
table.fields, table.tlb { font-size: 13px; }
table.fields th, table.fields td, table.tlb th, table.tlb td { border-bottom: 1px solid #eef0f3; padding: 2px 8px;
  text-align: left; vertical-align: top; }
table.fields tr.zero { color: var(--muted); }
table.fields td.desc { color: var(--muted); max-width: 42em; }
.warn { color: #9a6700; } .note { color: var(--muted); font-style: italic; } .muted { color: var(--muted); }
details.reg summary, details.event summary, details.command summary { cursor: pointer; padding: 2px 0; }
details.reg summary { display: flex; gap: 12px; }
.reg-name { min-width: 13em; font-weight: 600; } .reg-offset { min-width: 6em; color: var(--muted); }
details.reg.changed > summary { background: #fffbe6; }
.context { margin: 6px 0 12px; }
button.link { background: none; border: none; color: var(--accent); text-decoration: underline; cursor: pointer;
  font: inherit; padding: 0; }
button:focus-visible, select:focus-visible, input:focus-visible, summary:focus-visible, textarea:focus-visible {
  outline: 2px solid var(--accent); outline-offset: 1px; }
.keys { color: var(--muted); font-size: 12px; margin: 0; }
`;

const BODY = `
<a class="skip" href="#detail">Skip to the selected step</a>
<header>
  <h1>smmuv3 explorer</h1><span id="doc-title"></span>
  <p id="doc-meta"></p>
  <p id="doc-description"></p>
  <ul id="warnings"></ul>
  <details id="load" hidden>
    <summary>Load a recorded vector, files or a Linux log; probe a transaction</summary>
    <fieldset>
      <legend>Recorded vector</legend>
      <label for="vector">vector</label> <select id="vector"></select>
      <button type="button" id="load-vector">Load</button>
    </fieldset>
    <fieldset>
      <legend>Files</legend>
      <label>scenario (JSON/YAML) <input type="file" id="scenario-file" accept=".json,.yaml,.yml"></label>
      <label>saved state <input type="file" id="state-file"></label>
      <label>memory image <input type="file" id="memory-file"></label>
      <label>at <input id="memory-base" value="0x0" size="12"></label>
      <label>Linux log <textarea id="log-text" placeholder="arm-smmu-v3 …: event 0x10 received: …"></textarea></label>
      <button type="button" id="load-files">Load files</button>
    </fieldset>
    <fieldset>
      <legend>Probe a transaction after the last step</legend>
      <label>StreamID <input id="probe-sid" size="6" value="0"></label>
      <label>SubstreamID <input id="probe-ssid" size="6" placeholder="none"></label>
      <label>input address <input id="probe-iova" size="18" value="0x0"></label>
      <label>direction <select id="probe-dir"><option>read</option><option>write</option></select></label>
      <label><input type="checkbox" id="probe-priv" checked> privileged</label>
      <button type="button" id="probe-add">Probe</button>
    </fieldset>
  </details>
  <p id="load-status" role="status"></p>
</header>
<div class="layout">
  <nav id="timeline" aria-label="Timeline">
    <div class="filters">
      <label for="filter">show</label>
      <select id="filter">
        <option value="all">every step</option>
        <option value="dma">DMAs</option>
        <option value="fault">faults, events, differences</option>
      </select>
      <span id="step-count"></span>
      <p class="keys">Keys: ↑ ↓ Home End in the list; j/k next/previous, n next DMA, f next fault, w the walk
        (arrows move, Enter selects), t the list.</p>
    </div>
    <ol id="steps" role="listbox" tabindex="0" aria-label="Steps"></ol>
  </nav>
  <main id="detail" tabindex="-1"><div id="detail-body" aria-live="polite"></div></main>
</div>
`;

/** The page; with a model it stands alone (a static export), without one it loads from the server. */
export function pageHtml(model?: ExploreModel): string {
  // In a script element, "<" is escaped so that no "</script>" or "<!--" in the data can end it early.
  const data = model === undefined
    ? ""
    : `<script type="application/json" id="model">${JSON.stringify(model).replaceAll("<", "\\u003c")}</script>\n`;
  const connect = model === undefined ? "'self'" : "'none'";
  // The icon is inline and empty: otherwise Firefox asks for /favicon.ico, which img-src refuses with an error.
  const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; ` +
    `connect-src ${connect}; base-uri 'none'; form-action 'none'`;
  const title = model ? `${escapeHtml(model.title)} · smmuv3 explorer` : "smmuv3 explorer";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<link rel="icon" href="data:,">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>${BODY}
${data}<script>
${clientScript()}</script>
</body>
</html>
`;
}

function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}
