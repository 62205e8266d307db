/**
 * The explorer in a real browser (`deno task test:browser`; not part of `deno task test`): Debian's Chromium, driven
 * by playwright-core, against `deno task explore` and against a `trace --html` export. It loads recorded vectors,
 * clicks a faulting DMA and checks the walk picture (the levels read, the descriptor that failed, the fault), the
 * event record linked to its step, the nested grid, and the keyboard; it saves screenshots in its temp folder
 * (EXPLORE_SCREENSHOT=path also saves the first one there, e.g. for the README).
 */
import assert from "node:assert/strict";
import { chromium, type Page } from "playwright-core";

const ROOT = new URL("../../", import.meta.url);
const CHROMIUM = "/usr/bin/chromium";
/** Without the background-networking flags Chromium's own connections are refused on a closed network. */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Starts `deno task explore --port 0` and reads the address it prints. */
async function startExplorer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "explore", "--port", "0"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stop = async () => {
    child.kill("SIGTERM");
    await reader.cancel().catch(() => {});
    await child.status;
  };
  let text = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(text);
    if (m) return { url: m[0], stop };
  }
  await stop();
  throw new Error(`deno task explore printed no address: ${text}`);
}

/** The walk picture's boxes, top to bottom and left to right: [title, tone class, kind class]. */
function boxes(page: Page, walk = "#walk") {
  return page.$$eval(`${walk} svg .node`, (nodes) =>
    nodes.map((n) => [
      n.getAttribute("data-title") ?? "",
      [...n.classList].find((c) => c.startsWith("tone-")) ?? "",
      [...n.classList].find((c) => c.startsWith("kind-")) ?? "",
    ]));
}

Deno.test({
  name: "explore in Chromium: a faulting DMA's walk, its event, the nested grid, the keyboard, the static export",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    try {
      Deno.statSync(CHROMIUM);
    } catch {
      throw new Error(`no ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium)`);
    }
    const temp = await Deno.makeTempDir({ prefix: "explore_browser_" });
    const server = await startExplorer();
    const context = await chromium.launchPersistentContext(`${temp}/profile`, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1400, height: 1000 },
    });
    const foreign: string[] = [];
    const errors: string[] = [];
    try {
      const page = context.pages()[0] ?? await context.newPage();
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("request", (r) => {
        if (!r.url().startsWith(server.url) && !r.url().startsWith("file:")) foreign.push(r.url());
      });

      // A recorded vector by URL; its DMA at 0x4000000000 after "clear the L1 entry covering 0x40_0000_0000".
      await page.goto(`${server.url}?vector=qemu-7.2/s1-invalid-descriptors.json`);
      await page.waitForSelector("#steps li[data-kind=dma]");
      const target = page.locator("#steps li[data-kind=dma][data-status=fault]", { hasText: "read 0x4000000000" });
      await target.first().click();
      await page.waitForSelector("#walk svg .node");
      // IHI 0070 3.3 and DDI 0487 D8: the STE, then the CD, then one descriptor per level from TTB0 until one is
      // invalid; here level 0 points to a table whose level-1 entry is invalid: F_TRANSLATION (IHI 0070 7.3.12).
      assert.deepEqual(await boxes(page), [
        ["STE", "tone-cached", "kind-config"],
        ["CD", "tone-cached", "kind-config"],
        ["S1 L0", "tone-ok", "kind-descriptor"],
        ["S1 L1", "tone-fault", "kind-descriptor"],
        ["F_TRANSLATION", "tone-fault", "kind-fault"],
      ]);
      const l1 = await page.getAttribute('#walk [data-title="S1 L1"]', "aria-label");
      assert.match(l1 ?? "", /invalid \(Valid = 0\)/);
      assert.match(await page.textContent("#node-detail") ?? "", /S1 L1[\s\S]*Valid/);
      // The event record it wrote, decoded, links back to this step.
      const event = page.locator("details.event").first();
      assert.match(await event.textContent() ?? "", /F_TRANSLATION[\s\S]*InputAddr[\s\S]*0x4000000000/);
      const selected = await page.getAttribute("#steps [aria-selected=true]", "id");
      await event.getByRole("button", { name: /arose at step/ }).click();
      assert.equal(await page.getAttribute("#steps [aria-selected=true]", "id"), selected);
      await page.screenshot({ path: `${temp}/explore-fault.png` });
      const readme = Deno.env.get("EXPLORE_SCREENSHOT");

      // Keyboard only: the list moves with the arrows, w reaches the walk, arrows and Enter pick a box.
      await page.focus("#steps");
      await page.keyboard.press("ArrowDown");
      assert.notEqual(await page.getAttribute("#steps [aria-selected=true]", "id"), selected);
      await page.keyboard.press("ArrowUp");
      assert.equal(await page.getAttribute("#steps [aria-selected=true]", "id"), selected);
      await page.keyboard.press("w");
      await page.keyboard.press("ArrowUp");
      await page.keyboard.press("Enter");
      assert.match(await page.textContent("#node-detail h4") ?? "", /^S1 L0$/);
      await page.keyboard.press("t");
      await page.keyboard.press("f");
      assert.notEqual(await page.getAttribute("#steps [aria-selected=true]", "id"), selected, "f: the next fault");

      // A nested vector through the form: each stage-1 access is a row behind its stage-2 walk.
      await page.click("#load > summary");
      await page.selectOption("#vector", "qemu-10.0/nested-basic.json");
      await page.click("#load-vector");
      await page.locator("#doc-title", { hasText: "nested-basic" }).waitFor();
      await page.locator("#steps li[data-kind=dma]").first().click();
      const cols = await page.$$eval("#walk svg .col-label", (t) => t.map((x) => x.textContent));
      assert.deepEqual(cols, ["stage 2 L1", "stage 2 L2", "stage 2 L3", "stage 1"]);
      const titles = (await boxes(page)).map(([t]) => t);
      assert.deepEqual(titles.filter((t) => t.startsWith("S1 ") || t === "CD" || t === "PA"), [
        "CD",
        "S1 L1",
        "S1 L2",
        "S1 L3",
        "PA",
      ]);
      assert.equal(titles.filter((t) => t === "S2 L3").length, 5, "a stage-2 walk for the CD, each level, the output");
      // The probe form: a transaction on the device as the scenario left it, added as the last step.
      await page.fill("#probe-sid", "16");
      await page.fill("#probe-iova", "0x1010");
      await page.selectOption("#probe-dir", "write");
      await page.click("#probe-add");
      await page.locator("#step-title", { hasText: "probe sid 16 write" }).waitFor();
      assert.match(await page.textContent(".dma-head") ?? "", /→ pa 0x48001010/);
      await page.locator("#steps li[data-kind=dma]").first().click();
      await page.click("#load > summary"); // folds the forms away
      await page.screenshot({ path: `${temp}/explore-nested.png` });
      if (readme) {
        await page.setViewportSize({ width: 1400, height: 1240 });
        await page.screenshot({ path: readme });
      }

      // The static export: the same view from a file, with no server.
      const html = `${temp}/export.html`;
      const vector = new URL("tests/vectors/qemu-7.2/s1-invalid-descriptors.json", ROOT).pathname;
      const cli = await new Deno.Command(Deno.execPath(), {
        args: ["task", "cli", "trace", "--html", html, vector],
        cwd: ROOT,
        stdout: "null",
      }).output();
      // trace's exit status is 1 where the recording differs from this model (its folder's deviations.json says where).
      assert.ok(cli.code === 0 || cli.code === 1, `trace --html exit status ${cli.code}`);
      await page.goto(`file://${html}`);
      await page.locator("#steps li[data-kind=dma][data-status=fault]", { hasText: "read 0x4000000000" }).click();
      assert.deepEqual((await boxes(page)).map(([t]) => t), ["STE", "CD", "S1 L0", "S1 L1", "F_TRANSLATION"]);
      assert.equal(await page.isHidden("#load"), true, "no load form without a server");
      await page.screenshot({ path: `${temp}/explore-export.png` });

      assert.deepEqual(errors, [], "no script error");
      assert.deepEqual(foreign, [], "nothing fetched from elsewhere");
      console.log(`screenshots: ${temp}/explore-fault.png, explore-nested.png, explore-export.png`);
    } finally {
      await context.close();
      await server.stop();
      await Deno.remove(`${temp}/profile`, { recursive: true }).catch(() => {});
    }
  },
});
