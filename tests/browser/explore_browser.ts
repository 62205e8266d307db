/**
 * The explorer in real browsers (`deno task test:browser`; not part of `deno task test`): Debian's Chromium (over the
 * DevTools protocol) and Debian's Firefox ESR (over WebDriver BiDi), both driven by puppeteer-core, against
 * `deno task explore` and against a `trace --html` export. Each browser runs the same body: it loads recorded vectors,
 * clicks a faulting DMA and checks the walk picture (the levels read, the descriptor that failed, the fault), the event
 * record linked to its step, the nested grid, and the keyboard; it saves screenshots named after the browser in its
 * temp folder (EXPLORE_SCREENSHOT=path also saves Chromium's nested grid there, e.g. for the README).
 */
import assert from "node:assert/strict";
import puppeteer, { type Browser, type ElementHandle, type JSHandle, type Page } from "puppeteer-core";

const ROOT = new URL("../../", import.meta.url);
/** Every wait on the page (a selector, a state) gives up after this long. */
const WAIT_MS = 20_000;

interface Target {
  name: string;
  /** The executable, and the Debian package that installs it. */
  path: string;
  apt: string;
  launch(path: string): Promise<Browser>;
}

const common = {
  headless: true,
  timeout: 60_000,
  protocolTimeout: 60_000,
  defaultViewport: { width: 1400, height: 1000 },
};
const TARGETS: Target[] = [
  {
    name: "Chromium",
    path: "/usr/bin/chromium",
    apt: "chromium",
    // puppeteer's defaults already turn off background networking, sync and component updates, which a closed
    // network refuses; QUIC and the GPU are off here as well.
    launch: (path) =>
      puppeteer.launch({
        ...common,
        browser: "chrome",
        executablePath: path,
        args: ["--no-sandbox", "--disable-gpu", "--disable-quic"],
      }),
  },
  {
    name: "Firefox",
    path: "/usr/bin/firefox-esr",
    apt: "firefox-esr",
    launch: (path) =>
      puppeteer.launch({ ...common, browser: "firefox", protocol: "webDriverBiDi", executablePath: path }),
  },
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

/**
 * Waits until `probe`, run in the page, returns something truthy, and returns that; probes once per animation frame
 * and fails naming `why` after WAIT_MS. (puppeteer's own waitForFunction, waitForSelector and locators build their
 * poller with `new Function`, which the page's Content-Security-Policy refuses in Firefox; page.evaluate is exempt.)
 */
async function until<Args extends unknown[]>(
  page: Page,
  why: string,
  probe: (...args: Args) => unknown,
  ...args: Args
): Promise<JSHandle> {
  const deadline = Date.now() + WAIT_MS;
  while (true) {
    const found = await page.evaluateHandle(probe as (...a: unknown[]) => unknown, ...args);
    if (await found.evaluate((v) => Boolean(v))) return found;
    await found.dispose();
    if (Date.now() > deadline) throw new Error(`waited ${WAIT_MS} ms for ${why}`);
    await page.evaluate(() => new Promise((next) => requestAnimationFrame(next)));
  }
}

/** The first element matching `selector` whose text contains `text`, once there is one. */
async function byText(page: Page, selector: string, text: string): Promise<ElementHandle<Element>> {
  const found = await until(
    page,
    `${selector} with the text "${text}"`,
    (sel: string, t: string) => [...document.querySelectorAll(sel)].find((e) => e.textContent?.includes(t)),
    selector,
    text,
  );
  return found.asElement() as ElementHandle<Element>;
}

function attr(page: Page, selector: string, name: string): Promise<string | null> {
  return page.$eval(selector, (e, n) => e.getAttribute(n), name);
}

function text(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (e) => e.textContent ?? "");
}

/** Empties an input and types `value` into it. */
async function fill(page: Page, selector: string, value: string): Promise<void> {
  await page.$eval(selector, (e) => (e as HTMLInputElement).value = "");
  await page.type(selector, value);
}

/** The id of the timeline's selected step. */
function selected(page: Page): Promise<string | null> {
  return attr(page, "#steps [aria-selected=true]", "id");
}

/** Waits until the selected step is `id` (or, with `not`, is anything else). */
async function untilSelected(page: Page, id: string | null, why: string, not = false): Promise<void> {
  await until(
    page,
    `${why}: a selected step ${not ? "other than " : ""}${id}`,
    (want: string | null, differ: boolean) => {
      const now = document.querySelector("#steps [aria-selected=true]")?.id ?? null;
      return differ ? now !== want : now === want;
    },
    id,
    not,
  );
}

/** Clicks a step of the timeline and waits until it is the selected one. */
async function clickStep(page: Page, step: ElementHandle<Element>): Promise<void> {
  const id = await step.evaluate((e) => e.id);
  await step.click();
  await untilSelected(page, id, `click on ${id}`);
}

/** The same checks in every browser; `shot` names the screenshots. */
async function exercise(page: Page, server: string, temp: string, shot: string): Promise<void> {
  // A recorded vector by URL; its DMA at 0x4000000000 after "clear the L1 entry covering 0x40_0000_0000".
  await page.goto(`${server}?vector=qemu-7.2/s1-invalid-descriptors.json`);
  await clickStep(page, await byText(page, "#steps li[data-kind=dma][data-status=fault]", "read 0x4000000000"));
  // IHI 0070 3.3 and DDI 0487 D8: the STE, then the CD, then one descriptor per level from TTB0 until one is
  // invalid; here level 0 points to a table whose level-1 entry is invalid: F_TRANSLATION (IHI 0070 7.3.12).
  assert.deepEqual(await boxes(page), [
    ["STE", "tone-cached", "kind-config"],
    ["CD", "tone-cached", "kind-config"],
    ["S1 L0", "tone-ok", "kind-descriptor"],
    ["S1 L1", "tone-fault", "kind-descriptor"],
    ["F_TRANSLATION", "tone-fault", "kind-fault"],
  ]);
  assert.match(await attr(page, '#walk [data-title="S1 L1"]', "aria-label") ?? "", /invalid \(Valid = 0\)/);
  assert.match(await text(page, "#node-detail"), /S1 L1[\s\S]*Valid/);
  // The event record it wrote, decoded, links back to this step.
  assert.match(await text(page, "details.event"), /F_TRANSLATION[\s\S]*InputAddr[\s\S]*0x4000000000/);
  const fault = await selected(page);
  await (await byText(page, "details.event button", "arose at step")).click();
  await untilSelected(page, fault, "the event's link to its step");
  await page.screenshot({ path: `${temp}/explore-fault-${shot}.png` });

  // Keyboard only: the list moves with the arrows, w reaches the walk, arrows and Enter pick a box.
  await page.focus("#steps");
  await page.keyboard.press("ArrowDown");
  await untilSelected(page, fault, "ArrowDown in the list", true);
  await page.keyboard.press("ArrowUp");
  await untilSelected(page, fault, "ArrowUp in the list");
  await page.keyboard.press("w");
  await until(
    page,
    "w: the walk's selected box focused",
    () => document.activeElement?.matches("#walk .node.selected"),
  );
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("Enter");
  await until(
    page,
    "ArrowUp, Enter: S1 L0 selected",
    () => document.querySelector("#node-detail h4")?.textContent === "S1 L0",
  );
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press(" ");
  await until(
    page,
    "ArrowUp, Space: CD selected",
    () => document.querySelector("#node-detail h4")?.textContent === "CD",
  );
  // Tab order: from the list, the next stop is the walk's first box (each box is a tab stop, in walk order).
  await page.keyboard.press("t");
  await until(page, "t: the list focused", () => document.activeElement?.id === "steps");
  await page.keyboard.press("Tab");
  await until(
    page,
    "Tab from the list: the walk's first box (STE) focused",
    () => document.activeElement?.matches('#walk .node[data-title="STE"]'),
  );
  await page.keyboard.press("Tab");
  await until(page, "Tab: the CD box next", () => document.activeElement?.matches('#walk .node[data-title="CD"]'));
  await page.keyboard.press("t");
  await page.keyboard.press("f");
  await untilSelected(page, fault, "f: the next fault", true);

  // A nested vector through the form: each stage-1 access is a row behind its stage-2 walk.
  await page.click("#load > summary");
  await page.select("#vector", "qemu-10.0/nested-basic.json");
  await page.click("#load-vector");
  await byText(page, "#doc-title", "nested-basic");
  await clickStep(page, await byText(page, "#steps li[data-kind=dma]", ""));
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
  await fill(page, "#probe-sid", "16");
  await fill(page, "#probe-iova", "0x1010");
  await page.select("#probe-dir", "write");
  await page.click("#probe-add");
  await byText(page, "#step-title", "probe sid 16 write");
  assert.match(await text(page, ".dma-head"), /→ pa 0x48001010/);
  await clickStep(page, await byText(page, "#steps li[data-kind=dma]", ""));
  await page.click("#load > summary"); // folds the forms away
  await until(page, "the forms folded", () => !document.querySelector("#load[open]"));
  await page.screenshot({ path: `${temp}/explore-nested-${shot}.png` });
  const readme = Deno.env.get("EXPLORE_SCREENSHOT");
  if (readme && shot === "chromium") {
    await page.setViewport({ width: 1400, height: 1240 });
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
  await clickStep(page, await byText(page, "#steps li[data-kind=dma][data-status=fault]", "read 0x4000000000"));
  assert.deepEqual((await boxes(page)).map(([t]) => t), ["STE", "CD", "S1 L0", "S1 L1", "F_TRANSLATION"]);
  assert.equal(await page.$eval("#load", (e) => e.checkVisibility()), false, "no load form without a server");
  await page.screenshot({ path: `${temp}/explore-export-${shot}.png` });
}

for (const target of TARGETS) {
  Deno.test({
    name: `explore in ${target.name}: a faulting DMA's walk, its event, the nested grid, the keyboard, the export`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      try {
        Deno.statSync(target.path);
      } catch {
        throw new Error(`no ${target.path}: install Debian's ${target.apt} (apt-get install -y ${target.apt})`);
      }
      const temp = await Deno.makeTempDir({ prefix: "explore_browser_" });
      const server = await startExplorer();
      let browser: Browser | undefined;
      try {
        browser = await target.launch(target.path);
        const page = await browser.newPage();
        page.setDefaultTimeout(WAIT_MS);
        const errors: string[] = [];
        const requests: string[] = [];
        page.on("pageerror", (e) => errors.push(String(e)));
        page.on("request", (r) => requests.push(r.url()));
        const shot = target.name.toLowerCase();
        await exercise(page, server.url, temp, shot);
        assert.deepEqual(errors, [], "no script error");
        assert.ok(requests.some((u) => u.startsWith(server.url)), "the browser reports the page's requests");
        // data: URLs come from the page or the browser itself (Firefox's list-marker font in its own style sheet).
        const foreign = requests.filter((u) => !/^(file|data):/.test(u) && !u.startsWith(server.url));
        assert.deepEqual(foreign, [], "nothing fetched from elsewhere");
        console.log(`screenshots: ${temp}/explore-{fault,nested,export}-${shot}.png`);
      } finally {
        await browser?.close();
        await server.stop();
      }
    },
  });
}
