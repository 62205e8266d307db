/**
 * The page's script, assembled from the client functions' source text: Deno type-checks them as TypeScript (with the
 * DOM library), and the page gets them as JavaScript, without a bundler. Each function therefore uses only its
 * parameters, browser globals and the other functions listed here (by name, as one script's top-level functions).
 * @module
 */
import { h, setAttrs, svg, wrapText } from "./dom.ts";
import { loadFiles, loadRequest, serverInit, setStatus, toBase64 } from "./load.ts";
import {
  defaultNode,
  dmaSection,
  globalKey,
  renderDetail,
  renderTimeline,
  section,
  select,
  show,
  stepLabel,
  timelineKey,
  visibleSteps,
} from "./main.ts";
import { cachesAt, cachesPanel, eventsPanel, nodeDetail, recordTable, registersAt, registersPanel } from "./panels.ts";
import { explorerMain } from "./start.ts";
import { drawWalk, nodeKey } from "./walk_svg.ts";

/** Every function the page's script holds. */
export const CLIENT_FUNCTIONS: readonly ((...args: never[]) => unknown)[] = [
  setAttrs,
  h,
  svg,
  wrapText,
  drawWalk,
  nodeKey,
  recordTable,
  nodeDetail,
  eventsPanel,
  registersAt,
  registersPanel,
  cachesPanel,
  cachesAt,
  explorerMain,
  show,
  visibleSteps,
  stepLabel,
  renderTimeline,
  select,
  defaultNode,
  renderDetail,
  section,
  dmaSection,
  timelineKey,
  globalKey,
  serverInit,
  setStatus,
  loadRequest,
  toBase64,
  loadFiles,
];

/** The page's script: the client functions, then the call that starts the page. */
export function clientScript(): string {
  return `"use strict";\n${CLIENT_FUNCTIONS.map(String).join("\n\n")}\n\nexplorerMain();\n`;
}
