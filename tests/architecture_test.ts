/**
 * The layout's rules (ARCHITECTURE.md): each folder of src/ has one job and imports only from the folders its rule
 * names. The import graph as Deno resolves it (`deno info`: static, dynamic and type-only imports alike) must have no
 * cycle and no edge a rule forbids; the library (mod.ts) and the demo pull in no tool code and no YAML or zod; and
 * ARCHITECTURE.md states the rules this test enforces.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** Each folder of src/ and the folders of src/ it may import; every folder may import gen/ and itself. */
const RULES: Readonly<Record<string, readonly string[]>> = {
  core: [],
  registers: ["core"],
  translation: ["registers", "core"],
  state: ["registers", "core"],
  device: ["translation", "state", "registers", "core"],
  endpoint: ["device", "translation", "registers", "core"],
  guest: ["device", "registers", "core"],
  decode: ["core"],
  scenario: ["device", "translation", "registers", "core"],
  explore: ["scenario", "decode", "device", "translation", "state", "registers", "core"],
  cli: ["explore", "scenario", "decode", "device", "translation", "state", "registers", "core"],
};
/** The explorer's page script runs in the browser, serialized from its functions: it shares only the view model. */
const CLIENT = { folder: "explore/client", may: ["src/explore/model.ts"] };
/** Packages outside the standard library, and who may use them (tests, bench and codegen may use any). */
const PACKAGES: Readonly<Record<string, readonly string[]>> = {
  "@bufbuild/protobuf": ["state", "gen"],
  "js-yaml": ["scenario"],
  "yaml": [],
  "zod": ["scenario"],
  "fast-check": [],
  "puppeteer-core": [],
};
/** The folders a library user gets through mod.ts (the rest are tools: their own entry points). */
const LIBRARY = ["core", "registers", "translation", "state", "device", "endpoint", "guest"];

interface Module {
  /** Path from the repository root ("src/device/smmu.ts"), or the npm package's name. */
  readonly path: string;
  /** Paths and package names it imports. */
  readonly imports: readonly string[];
}

/** The import graph of `entries` (paths from the root) and of everything they reach, as `deno info` resolves it. */
async function importGraph(entries: readonly string[]): Promise<Map<string, Module>> {
  const dir = await Deno.makeTempDir({ prefix: "smmuv3-graph-" });
  try {
    const all = `${dir}/all.ts`;
    await Deno.writeTextFile(all, entries.map((e) => `import "${new URL(e, ROOT).href}";\n`).join(""));
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", new URL("deno.json", ROOT).pathname, all],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const info = JSON.parse(new TextDecoder().decode(stdout));
    const name = (specifier: string): string | undefined => {
      if (specifier.startsWith(ROOT.href)) return specifier.slice(ROOT.href.length);
      const npm = specifier.match(/^npm:\/?(@[^/@]+\/[^/@]+|[^/@]+)/);
      return npm?.[1];
    };
    const redirects: Record<string, string> = info.redirects ?? {};
    const graph = new Map<string, Module>();
    for (const m of info.modules) {
      const path = name(m.specifier);
      if (path === undefined || !m.specifier.startsWith(ROOT.href)) continue;
      const imports: string[] = [];
      for (const d of m.dependencies ?? []) {
        for (const r of [d.code?.specifier, d.type?.specifier]) {
          const target = r && name(redirects[r] ?? r);
          if (target !== undefined && !imports.includes(target)) imports.push(target);
        }
      }
      graph.set(path, { path, imports });
    }
    return graph;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every .ts file under `dir` (a path from the root), recursively. */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(new URL(dir, ROOT))) {
    if (e.isDirectory) out.push(...await files(`${dir}${e.name}/`));
    else if (e.name.endsWith(".ts")) out.push(`${dir}${e.name}`);
  }
  return out.sort();
}

/** The folder of src/ a path belongs to ("device"), "explore/client", or undefined outside src/. */
function folderOf(path: string): string | undefined {
  if (path.startsWith(`src/${CLIENT.folder}/`)) return CLIENT.folder;
  return path.match(/^src\/([^/]+)\//)?.[1];
}

/** The cycles of the graph: its strongly connected components of more than one module, or one that imports itself. */
function cycles(graph: Map<string, Module>): string[][] {
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], on = new Set<string>(), found: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next), low.set(v, next++), stack.push(v), on.add(v);
    for (const w of graph.get(v)?.imports ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) visit(w), low.set(v, Math.min(low.get(v)!, low.get(w)!));
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w;
    do (w = stack.pop()!, on.delete(w), scc.push(w)); while (w !== v);
    if (scc.length > 1 || graph.get(v)!.imports.includes(v)) found.push(scc.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** Everything `entry` reaches. */
function closure(graph: Map<string, Module>, entry: string): Set<string> {
  const seen = new Set<string>([entry]);
  for (const v of seen) for (const w of graph.get(v)?.imports ?? []) seen.add(w);
  return seen;
}

const ENTRIES = ["mod.ts", "cli.ts", "demo.ts", ...await files("src/")];
const graph = await importGraph(ENTRIES);

Deno.test("src/ holds folders only, each with a rule", async () => {
  for await (const e of Deno.readDir(new URL("src/", ROOT))) {
    assert.ok(e.isDirectory, `src/${e.name}: a module belongs to a folder of src/`);
    assert.ok(e.name in RULES, `src/${e.name}/ has no rule here nor in ARCHITECTURE.md`);
  }
});

Deno.test("no import cycle, between folders or within one", () => {
  assert.ok(graph.size > 60, `the graph has ${graph.size} modules: deno info found too few`);
  assert.deepEqual(cycles(graph), []);
  // Nor between folders: the folders' own graph is a DAG (each rule names only folders listed before it).
  const order = Object.keys(RULES);
  for (const [folder, may] of Object.entries(RULES)) {
    for (const other of may) assert.ok(order.indexOf(other) < order.indexOf(folder), `${folder} → ${other}`);
  }
});

Deno.test("every import is one its folder's rule allows", () => {
  const forbidden: string[] = [];
  for (const m of graph.values()) {
    const folder = folderOf(m.path);
    if (folder === undefined) continue;
    for (const target of m.imports) {
      const to = folderOf(target);
      const ok = folder === CLIENT.folder
        ? to === CLIENT.folder || CLIENT.may.includes(target)
        : target.startsWith("gen/")
        ? true
        : to !== undefined
        ? to === folder || to.startsWith(`${folder}/`) || RULES[folder].includes(to)
        : target in PACKAGES
        ? PACKAGES[target].includes(folder)
        : false; // mod.ts, cli.ts, tests/, bench/: never imported from src/
      if (!ok) forbidden.push(`${m.path} → ${target}`);
    }
  }
  assert.deepEqual(forbidden, []);
});

Deno.test("the library (mod.ts) reaches only the library's folders, and no YAML or zod", () => {
  const reached = [...closure(graph, "mod.ts")];
  const tools = reached.filter((p) => p.startsWith("src/") && !LIBRARY.includes(folderOf(p)!));
  assert.deepEqual(tools, []);
  assert.deepEqual(reached.filter((p) => ["zod", "yaml", "js-yaml"].includes(p)), []);
});

Deno.test("the demo imports only what a library user would: mod.ts", () => {
  assert.deepEqual(graph.get("demo.ts")?.imports, ["mod.ts"]);
  const reached = [...closure(graph, "demo.ts")];
  assert.deepEqual(reached.filter((p) => /^(src\/(cli|scenario|decode|explore)\/|zod$|yaml$|js-yaml$)/.test(p)), []);
});

Deno.test("ARCHITECTURE.md states the rules this test enforces", async () => {
  const doc = await Deno.readTextFile(new URL("ARCHITECTURE.md", ROOT));
  // Its table: | `src/folder/` | job | `a`, `b` (or "nothing") |
  const stated: Record<string, string[]> = {};
  for (const [, folder, may] of doc.matchAll(/^\|\s*`src\/([a-z/]+)\/`\s*\|[^|]+\|([^|]+)\|$/gm)) {
    stated[folder] = [...may.matchAll(/`([a-z/.]+)\/?`/g)].map((m) => m[1]);
  }
  const enforced: Record<string, string[]> = {
    ...Object.fromEntries(Object.entries(RULES).map(([f, m]) => [f, [...m]])),
  };
  enforced[CLIENT.folder] = CLIENT.may.map((p) => p.replace(/^src\//, ""));
  assert.deepEqual(stated, enforced);
});
