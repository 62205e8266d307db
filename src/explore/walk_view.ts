/**
 * Walk model → view model: a transaction explained by the device (`Smmu.explain`) becomes the grid of boxes the page
 * draws. A single-stage walk is one column: STE → CD → each level → the page, block or fault. A nested walk is the
 * two-dimensional grid it is: one row per stage-1 access (the CD, each level's descriptor, the output), each row
 * holding the stage-2 walk of that access's IPA across the stage-2 columns, then the stage-1 read in the last column.
 * @module
 */
import type { Explanation } from "../device/smmu.ts";
import type { WalkStep } from "../translation/translate.ts";
import type { CachedTranslation, ConfigRead } from "../translation/explain.ts";
import type { WalkEdge, WalkNode, WalkView } from "./model.ts";
import { addressIn, hex, hex64, meaningOf, type Records } from "./records.ts";

/** What a box stands for before it is placed. */
type NodeSpec = Omit<WalkNode, "id" | "row" | "col">;

/** One row of the grid: the stage-2 walk of an IPA (nested only), then the read or outcome it leads to. */
interface Row {
  label: string;
  s2: { level: number; node: NodeSpec }[];
  main: NodeSpec | null;
}

const KIB = 1024;

/** A size in bytes as "4 KiB", "2 MiB"… */
export function sizeName(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (u < units.length - 1 && bytes >= KIB && bytes % KIB === 0) {
    bytes /= KIB;
    u++;
  }
  return `${bytes} ${units[u]}`;
}

/** Allowed accesses of a TLB entry in words: "priv rw-, user rw-" (allow bit n: ACCESS flags n allowed). */
export function permsText(allow: number): string {
  const at = (flags: number) => ((allow >> flags) & 1) === 1;
  const rwx = (priv: number) => `${at(priv) ? "r" : "-"}${at(priv | 1) ? "w" : "-"}${at(priv | 2) ? "x" : "-"}`;
  return `priv ${rwx(4)}, user ${rwx(0)}`;
}

/** The bytes a leaf maps at `level` with a 2^granuleShift granule. */
function leafSize(granuleShift: number, level: number): number {
  return 2 ** (granuleShift + (3 - level) * (granuleShift - 3));
}

const FAULT_WORDS: Record<string, string> = {
  invalid: "invalid (Valid = 0)",
  reserved: "reserved encoding (Type 0 at level 3)",
  "external abort": "the read aborted (external abort)",
  "access flag 0": "Access flag 0",
  permission: "permission refused for this access",
  "output too large": "output address beyond the output size",
  "block not allowed at this level": "a block is not allowed at this level",
};

function stepNode(s: WalkStep, records: Records, ipa: string): NodeSpec {
  const record = s.decision === "external abort"
    ? undefined
    : records.descriptor(s.stage, s.level, s.granuleShift, s.descLo, s.descHi);
  const to = record ? addressIn(record) : "";
  let decision: string;
  if (s.decision === "table") decision = `table → ${to}`;
  else if (s.decision === "page" || s.decision === "block") {
    decision = `${sizeName(leafSize(s.granuleShift, s.level))} ${s.decision} → ${to}`;
  } else decision = FAULT_WORDS[s.decision] ?? s.decision;
  const ok = s.decision === "table" || s.decision === "page" || s.decision === "block";
  return {
    kind: "descriptor",
    title: `S${s.stage} L${s.level}`,
    address: hex(s.descAddr),
    ipa,
    raw: s.decision === "external abort" ? "" : hex64(s.descLo, s.descHi),
    decision,
    tone: ok ? "ok" : "fault",
    record,
  };
}

function configNode(r: ConfigRead, records: Records, refused: string, ipa: string): NodeSpec {
  const fetchFault = r.structure === "STE" || r.structure === "L1STD" ? "F_STE_FETCH" : "F_CD_FETCH";
  if (r.words.length === 0) {
    return {
      kind: "config",
      title: r.structure,
      address: hex(r.addr),
      ipa,
      raw: "",
      decision: `the read aborted: ${fetchFault}`,
      tone: "fault",
    };
  }
  const record = records.structure(r.structure, r.words);
  const parts: string[] = [];
  if (r.structure === "STE") parts.push(`Config ${meaningOf(record, "Config")}`);
  if (r.structure === "CD") parts.push(`ASID ${record.fields.find((f) => f.name === "ASID")?.value ?? "?"}`);
  const to = addressIn(record);
  if (to) parts.push(`→ ${to}`);
  if (r.cached) parts.push("cached");
  if (refused) parts.push(`refused: ${refused}`);
  return {
    kind: "config",
    title: r.structure,
    address: hex(r.addr),
    ipa,
    raw: hex64(r.words[0], r.words[1]),
    decision: parts.join(" · "),
    tone: refused ? "fault" : r.cached ? "cached" : "ok",
    record,
  };
}

function tlbNode(t: CachedTranslation): NodeSpec {
  const ipa = t.ipa >= 0 ? ` (IPA ${hex(t.ipa)})` : "";
  return {
    kind: "tlb",
    title: "TLB hit",
    address: "",
    ipa: "",
    raw: `${hex(t.iova)} +${sizeName(t.size)}`,
    decision: `→ ${hex(t.pa)}${ipa} · ${permsText(t.allow)}${t.global ? " · global" : ""}`,
    tone: "cached",
  };
}

/** Why a transaction faulted, in words, from what the probe saw. */
function faultReason(e: Explanation, last: WalkStep | undefined): string {
  if (e.result.ok) return "";
  const recorded = e.result.event ? "event recorded" : "no event";
  if (e.result.fault === "ABORT") {
    return "aborted without an event (STE.Config abort, GBPA.ABORT with SMMUEN = 0, or bypass beyond the output size)";
  }
  if (e.refused) return `${e.refused} · ${recorded}`;
  if (last === undefined) {
    return `before any descriptor read (the address is outside the translated ranges) · ${recorded}`;
  }
  return `${FAULT_WORDS[last.decision] ?? `after ${last.decision}`} at S${last.stage} L${last.level} · ${recorded}`;
}

/** Lays out an explained transaction as a grid of boxes and arrows. */
export function walkView(e: Explanation, records: Records): WalkView {
  const rows: Row[] = [];
  const steps = e.steps;
  const s2Row = (s2: WalkStep[]) => s2.map((s) => ({ level: s.level, node: stepNode(s, records, "") }));
  let next = 0;
  e.config.forEach((r, i) => {
    const s2 = steps.slice(next, Math.max(next, r.after));
    next = Math.max(next, r.after);
    const ipa = s2.length ? hex(s2[0].inputAddr) : "";
    const refused = i === e.config.length - 1 ? e.refused : "";
    const main = configNode(r, records, refused, ipa);
    rows.push({ label: ipa ? `${r.structure} at IPA ${ipa}` : r.structure, s2: s2Row(s2), main });
  });
  const walk = steps.slice(next);
  const nested = rows.some((r) => r.s2.length > 0) ||
    (walk.some((s) => s.stage === 1) && walk.some((s) => s.stage === 2));
  let pending: WalkStep[] = [];
  let lastS1: WalkStep | undefined;
  for (const s of walk) {
    if (nested && s.stage === 2) {
      pending.push(s);
      continue;
    }
    const ipa = pending.length ? hex(pending[0].inputAddr) : "";
    const label = `S${s.stage} L${s.level}${ipa ? ` at IPA ${ipa}` : ""}`;
    rows.push({ label, s2: s2Row(pending), main: stepNode(s, records, ipa) });
    pending = [];
    lastS1 = s;
  }
  if (pending.length) {
    const what = lastS1 && lastS1.decision !== "table" ? "output" : "table";
    rows.push({ label: `${what} IPA ${hex(pending[0].inputAddr)}`, s2: s2Row(pending), main: null });
  }
  if (e.tlb) rows.push({ label: "TLB", s2: [], main: tlbNode(e.tlb) });
  const leaf = walk.findLast((s) => s.decision === "page" || s.decision === "block");
  const end: NodeSpec = e.result.ok
    ? {
      kind: "output",
      title: "PA",
      address: hex(e.result.pa),
      ipa: "",
      raw: "",
      decision: e.tlb
        ? "from the TLB entry"
        : leaf
        ? `in the ${
          sizeName(leafSize(leaf.granuleShift, leaf.level))
        } ${leaf.decision} at S${leaf.stage} L${leaf.level}`
        : "no translation: the address passes through (bypass)",
      tone: "ok",
    }
    : {
      kind: "fault",
      title: e.result.fault,
      address: "",
      ipa: "",
      raw: "",
      decision: faultReason(e, walk.at(-1)),
      tone: "fault",
    };
  const tail = rows.at(-1);
  if (tail && tail.main === null) tail.main = end;
  else rows.push({ label: e.result.ok ? "output" : "fault", s2: [], main: end });
  return place(rows, nested);
}

/** Gives every box its row and column, and draws the arrows. */
function place(rows: Row[], nested: boolean): WalkView {
  const s2Levels = [...new Set(rows.flatMap((r) => r.s2.map((s) => s.level)))].sort((a, b) => a - b);
  const mainCol = nested ? s2Levels.length : 0;
  const nodes: WalkNode[] = [];
  const edges: WalkEdge[] = [];
  let lastMain: string | null = null;
  rows.forEach((r, row) => {
    let prev: string | null = null;
    r.s2.forEach((s, k) => {
      const id = `r${row}s${k}`;
      nodes.push({ id, row, col: s2Levels.indexOf(s.level), ...s.node });
      if (prev) edges.push({ from: prev, to: id });
      prev = id;
    });
    if (r.main) {
      const id = `r${row}m`;
      nodes.push({ id, row, col: mainCol, ...r.main });
      if (prev) edges.push({ from: prev, to: id });
      if (lastMain) edges.push({ from: lastMain, to: id });
      lastMain = id;
    }
  });
  return {
    nested,
    rows: rows.map((r) => r.label),
    cols: nested ? [...s2Levels.map((l) => `stage 2 L${l}`), "stage 1"] : ["walk"],
    nodes,
    edges,
  };
}
