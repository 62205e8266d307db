/**
 * README.md's examples run as written: the embedding code (with the package name pointed at this checkout's mod.ts),
 * and the trace of a recorded vector.
 */
import assert from "node:assert/strict";
import { runMain } from "./helpers/cli.ts";

Deno.test("the README's embedding code block runs", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Embedding it"));
  const block = section.match(/```ts\n([\s\S]*?)```/);
  assert.ok(block, "no ts block under ## Embedding it");
  const code = block[1].replace(`from "@iommu/smmuv3"`, `from "${new URL("../mod.ts", import.meta.url).href}"`);
  assert.notEqual(code, block[1], "the block imports @iommu/smmuv3");
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/readme_example.ts`;
    await Deno.writeTextFile(file, code);
    await import(new URL(`file://${file}`).href); // throws if any of its own checks fails
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the README's trace example names the deviation list and exits 0, naming what it applied", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const line = readme.split("\n").find((l) => /^deno task cli trace \S*vectors\S* .*--allow-deviations/.test(l));
  assert.ok(line, "the README has a trace example of a vector with its deviation list");
  const args = line.replace(/\s+#.*$/, "").split(/\s+/).slice(3);
  const root = new URL("../", import.meta.url);
  const r = await runMain(args.map((a) => a.startsWith("tests/") ? new URL(a, root).pathname : a));
  assert.equal(r.code, 0, r.errors.join("\n"));
  assert.match(r.out, /^deviations applied: listed at step 46, 48, .*; record rule PnU \(1 read\); record rule CLASS/m);
});
