/**
 * The explorer page as a document: its script is whole (every client function sent, none missing), it stands alone
 * (no resource from elsewhere), and `trace --html` writes it with the model inside. Drawn in a browser:
 * tests/browser/explore_browser.ts.
 */
import assert from "node:assert/strict";
import { CLIENT_FUNCTIONS, clientScript } from "../src/explore/client/mod.ts";
import { buildModel } from "../src/explore/inputs.ts";
import type { ExploreModel } from "../src/explore/model.ts";
import { pageHtml } from "../src/explore/page.ts";
import { runMain } from "./helpers/cli.ts";

const CLIENT_DIR = new URL("../src/explore/client/", import.meta.url);

Deno.test("explore page: every function of client/ is in the script, once; client/ holds no module state", () => {
  const declared: string[] = [];
  for (const entry of Deno.readDirSync(CLIENT_DIR)) {
    if (entry.name === "mod.ts") continue;
    const source = Deno.readTextFileSync(new URL(entry.name, CLIENT_DIR));
    declared.push(...[...source.matchAll(/^(?:export )?(?:async )?function (\w+)/gm)].map((m) => m[1]));
    // The script holds functions only: a module-level value would be missing in the browser.
    assert.doesNotMatch(source, /^(?:export )?(?:const|let|var|class) /m, entry.name);
  }
  const sent = CLIENT_FUNCTIONS.map((f) => f.name);
  assert.equal(new Set(sent).size, sent.length, "no name twice");
  assert.deepEqual([...sent].sort(), [...declared].sort());
  new Function(clientScript()); // parses as one script
});

Deno.test("explore page: a static export carries its model and fetches nothing", () => {
  const text = Deno.readTextFileSync(new URL("./vectors/qemu-7.2/s1-invalid-descriptors.json", import.meta.url));
  const model = buildModel({ scenario: { name: "v.json", text } });
  model.description = "</script><!-- a hostile description <b>";
  const html = pageHtml(model);
  const data = /<script type="application\/json" id="model">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(data, "the model is embedded");
  assert.deepEqual(JSON.parse(data[1]) as ExploreModel, model);
  assert.equal(html.split("</script>").length - 1, 2, "the data ends no script early");
  assert.match(html, /Content-Security-Policy" content="default-src 'none';[^"]*connect-src 'none'/);
  // Nothing from elsewhere: no URL but the SVG namespace, no src or href but the skip link and the empty inline icon
  // (without which Firefox requests /favicon.ico).
  const urls = [...html.matchAll(/https?:\/\/[^\s"'`)]+/g)].map((m) => m[0]);
  assert.deepEqual([...new Set(urls)], ["http://www.w3.org/2000/svg"]);
  assert.doesNotMatch(html, /\ssrc=/);
  assert.deepEqual([...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]), ["data:,", "#detail"]);
});

Deno.test("explore page: trace --html writes the page of the scenario and still prints the trace", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const vector = new URL("./vectors/qemu-7.2/s1-4k-4level-basic.json", import.meta.url).pathname;
    const file = `${dir}/out.html`;
    const r = await runMain(["trace", "--html", file, vector]);
    // Exit status 1: QEMU 7.2's recording differs from this model (tests/vectors/qemu-7.2/deviations.json says where).
    assert.equal(r.code, 1, r.errors.join("\n"));
    assert.match(r.out, /step \d+ +dma sid/);
    const html = await Deno.readTextFile(file);
    assert.match(html, /<title>s1-4k-4level-basic · smmuv3 explorer<\/title>/);
    const bad = await runMain(["trace", "--html"]);
    assert.equal(bad.code, 2);
    assert.match(bad.errors[0], /--html needs a value/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
