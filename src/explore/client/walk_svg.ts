/**
 * The walk picture: a {@link WalkView}'s grid as SVG. Every box is focusable; Enter or Space selects it, the arrow
 * keys move between boxes by row and column.
 * @module
 */
import type { WalkNode, WalkView } from "../model.ts";
import { svg, wrapText } from "./dom.ts";

/** Draws `walk`; `onSelect` is called with a box chosen by click or keyboard; `selected` is outlined. */
export function drawWalk(walk: WalkView, selected: string | null, onSelect: (n: WalkNode) => void): SVGSVGElement {
  // A single-stage walk is one column whose boxes name themselves; a nested grid labels its rows and columns.
  const nested = walk.nested;
  const cellW = nested ? 214 : 250, cellH = 96, gapX = nested ? 28 : 44, gapY = 30;
  const labelW = nested ? 172 : 8, top = nested ? 30 : 8, chars = nested ? 27 : 32;
  const x = (col: number) => labelW + col * (cellW + gapX);
  const y = (row: number) => top + row * (cellH + gapY);
  const width = x(walk.cols.length) - gapX + 10;
  const height = y(walk.rows.length) - gapY + 10;
  const root = svg("svg", {
    class: "walk",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "group",
    "aria-label": walk.nested ? "nested walk: a row per stage-1 access, stage 2 across" : "walk",
  }) as SVGSVGElement;
  root.append(svg(
    "defs",
    null,
    svg(
      "marker",
      { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }),
    ),
  ));
  if (walk.nested) {
    walk.cols.forEach((label, col) => {
      root.append(svg("text", { x: x(col) + cellW / 2, y: 18, class: "col-label", "text-anchor": "middle" }, label));
    });
    walk.rows.forEach((label, row) => {
      wrapText(label, 23, 2).forEach((line, i) => {
        root.append(svg("text", { x: 6, y: y(row) + 40 + 15 * i, class: "row-label" }, line));
      });
    });
  }
  const byId = new Map(walk.nodes.map((n) => [n.id, n]));
  for (const e of walk.edges) {
    const a = byId.get(e.from), b = byId.get(e.to);
    if (!a || !b) continue;
    let d: string;
    if (a.row === b.row) d = `M${x(a.col) + cellW},${y(a.row) + cellH / 2} H${x(b.col) - 2}`;
    else if (a.col === b.col) d = `M${x(a.col) + cellW / 2},${y(a.row) + cellH} V${y(b.row) - 2}`;
    else {
      const midY = y(b.row) - gapY / 2;
      d = `M${x(a.col) + cellW / 2},${y(a.row) + cellH} V${midY} H${x(b.col) + cellW / 2} V${y(b.row) - 2}`;
    }
    root.append(svg("path", { d, class: "edge", "marker-end": "url(#arrow)" }));
  }
  for (const n of walk.nodes) {
    const label = [n.title, n.address && `at ${n.address}`, n.raw && `value ${n.raw}`, n.decision].filter((t) => t);
    const g = svg("g", {
      class: `node tone-${n.tone} kind-${n.kind}${n.id === selected ? " selected" : ""}`,
      transform: `translate(${x(n.col)},${y(n.row)})`,
      tabindex: 0,
      role: "button",
      "data-id": n.id,
      "data-title": n.title,
      "aria-pressed": n.id === selected ? "true" : "false",
      "aria-label": label.join(", "),
      onclick: () => onSelect(n),
      onkeydown: (ev) => nodeKey(ev as KeyboardEvent, n, walk, root, onSelect),
    });
    g.append(svg("title", null, label.join("\n")));
    g.append(svg("rect", { width: cellW, height: cellH, rx: 7, class: "box" }));
    g.append(svg("text", { x: 10, y: 19, class: "node-title" }, n.title));
    if (n.ipa) g.append(svg("text", { x: cellW - 10, y: 19, class: "node-ipa", "text-anchor": "end" }, `IPA ${n.ipa}`));
    const lines = [n.address && `@ ${n.address}`, n.raw].filter((t) => t) as string[];
    lines.forEach((t, i) => g.append(svg("text", { x: 10, y: 38 + 16 * i, class: "node-value" }, t)));
    const at = 38 + 16 * lines.length;
    wrapText(n.decision, chars, lines.length >= 2 ? 2 : 3).forEach((t, i) => {
      g.append(svg("text", { x: 10, y: at + 15 * i, class: "node-decision" }, t));
    });
    root.append(g);
  }
  return root;
}

/** Keyboard on a box: Enter/Space select it; arrows move focus to the nearest box that way. */
export function nodeKey(
  ev: KeyboardEvent,
  n: WalkNode,
  walk: WalkView,
  root: SVGSVGElement,
  onSelect: (n: WalkNode) => void,
) {
  if (ev.key === "Enter" || ev.key === " ") {
    ev.preventDefault();
    onSelect(n);
    return;
  }
  const dirs: Record<string, [number, number]> = {
    ArrowUp: [-1, 0],
    ArrowDown: [1, 0],
    ArrowLeft: [0, -1],
    ArrowRight: [0, 1],
  };
  const dir = dirs[ev.key];
  if (!dir) return;
  ev.preventDefault();
  ev.stopPropagation();
  const [dr, dc] = dir;
  const candidates = walk.nodes.filter((m) =>
    dr !== 0 ? Math.sign(m.row - n.row) === dr : m.row === n.row && Math.sign(m.col - n.col) === dc
  );
  candidates.sort((a, b) =>
    Math.abs(a.row - n.row) + Math.abs(a.col - n.col) * 0.5 - (Math.abs(b.row - n.row) + Math.abs(b.col - n.col) * 0.5)
  );
  const next = candidates[0];
  if (next) (root.querySelector(`[data-id="${next.id}"]`) as SVGElement | null)?.focus();
}
