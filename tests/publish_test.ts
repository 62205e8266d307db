/**
 * What JSR gets: `deno publish --dry-run` lists the package's files. The package is the emulator, its generated code
 * and schema, and the command line; the spec compiler (codegen/), tests, fixtures, benchmarks, demo and CI stay out.
 * And the README's JSR command grants the command line exactly the permissions `deno task cli` does.
 */
import assert from "node:assert/strict";
import { cliTaskFlags } from "./helpers/cli.ts";

const ROOT = new URL("../", import.meta.url);

async function publishedFiles(): Promise<string[]> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty", "--no-check"], // type-checking is `deno task check`'s job
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, text);
  const root = ROOT.href;
  return [...text.matchAll(/^\s+(file:\/\/\S+) \(/gm)].map((m) => m[1].replace(root, "")).sort();
}

Deno.test("deno publish --dry-run: the emulator, gen/, proto/ and the CLI; no dev-only file", async () => {
  const files = await publishedFiles();
  const allowed = /^(LICENSE|README\.md|deno\.json|mod\.ts|cli\.ts|src\/.+\.ts|gen\/.+\.ts|proto\/.+\.proto)$/;
  assert.deepEqual(files.filter((f) => !allowed.test(f)), [], "published files outside the package's roots");
  for (const f of ["mod.ts", "cli.ts", "deno.json", "README.md", "LICENSE", "gen/mod.ts", "src/device.ts"]) {
    assert.ok(files.includes(f), `${f} is published`);
  }
  for (const dev of ["codegen/", "tests/", "bench/", ".ci/", "demo.ts", "registers.yaml"]) {
    assert.deepEqual(files.filter((f) => f.startsWith(dev)), [], `${dev} stays out of the package`);
  }
  // Every module the package imports by path is in it.
  for (const f of files.filter((f) => f.endsWith(".ts"))) {
    const source = await Deno.readTextFile(new URL(f, ROOT));
    for (const [, spec] of source.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
      const target = new URL(spec, new URL(f, ROOT)).href.replace(ROOT.href, "");
      assert.ok(files.includes(target), `${f} imports ${target}, which is not published`);
    }
  }
});

Deno.test("the README's JSR command grants exactly the cli task's permissions", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  assert.equal(config.exports["./cli"], "./cli.ts");
  const commands = [...readme.matchAll(/deno run ((?:--[\w-]+(?:=\S+)? )*)jsr:@iommu\/smmuv3\/cli\b/g)];
  assert.ok(commands.length > 0, "the README shows the JSR command");
  const flags = await cliTaskFlags();
  for (const [, given] of commands) assert.deepEqual(given.trim().split(/\s+/).filter((f) => f), flags);
});
