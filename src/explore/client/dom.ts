/**
 * DOM helpers of the explorer page. Like every module under client/, its functions are sent to the browser as their
 * source text (see client/mod.ts): they use only their parameters, browser globals and other client functions.
 * @module
 */

/** A child for {@link h}: a node, text, or nothing. */
export type Child = Node | string | null | undefined | false;
/** Attributes for {@link h}: `on…` keys add listeners, `true` sets an empty attribute, null/false/undefined skip. */
export type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

export function setAttrs(el: Element, attrs: Attrs | null): void {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
}

/** An HTML element with attributes and children (text is always text, never markup). */
export function h(tag: string, attrs: Attrs | null, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** An SVG element with attributes and children. */
export function svg(tag: string, attrs: Attrs | null, ...children: Child[]): SVGElement {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  setAttrs(el, attrs);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Splits `text` into at most `lines` lines of at most `width` characters, breaking at spaces; "…" if cut. */
export function wrapText(text: string, width: number, lines: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    const next = line ? `${line} ${word}` : word;
    if (next.length <= width) line = next;
    else {
      if (line) out.push(line);
      line = word.length > width ? word.slice(0, width - 1) + "…" : word;
    }
  }
  if (line) out.push(line);
  if (out.length > lines) {
    const kept = out.slice(0, lines);
    kept[lines - 1] = kept[lines - 1].slice(0, width - 1) + "…";
    return kept;
  }
  return out;
}
