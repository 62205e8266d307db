/** README.md's embedding example runs as written (with the package name pointed at this checkout's mod.ts). */
import assert from "node:assert/strict";

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
