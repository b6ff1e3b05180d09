// The web UI in a real headless Chromium against a running `tmux-audit web` (issue 14's tests).
//
//   BASE_URL=http://127.0.0.1:PORT AUDIT_USER=u AUDIT_PASSWORD=p OUTSIDER_USER=o OUTSIDER_PASSWORD=q \
//   SHOTS=dir EXPECT_SESSION=name EXPECT_USERS=alice,bob HOSTILE_SESSION='<img src=x onerror=alert(1)>' \
//   SEARCH_WORD=word LIVE_MARK=mark node web/test/ui.mjs
//
// Prints `ok N - name` / `not ok N - name: reason` per step (TAP-like) and exits 1 if any failed.
// Step 9 prints `READY-LIVE <server>|<pane_id>` once the live view is open, then waits up to 20 s
// for LIVE_MARK to appear in it: the harness types it into that pane when it reads the line.
// One PNG per step goes to SHOTS. Any JavaScript dialog (alert, confirm…) fails the run: hostile
// names must render as text.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { env, launch, login as fillLogin } from "./browser.mjs";

const BASE = env("BASE_URL").replace(/\/$/, "");
const AUDIT_USER = env("AUDIT_USER");
const AUDIT_PASSWORD = env("AUDIT_PASSWORD");
const OUTSIDER_USER = env("OUTSIDER_USER");
const OUTSIDER_PASSWORD = env("OUTSIDER_PASSWORD");
const SHOTS = env("SHOTS");
const EXPECT_SESSION = env("EXPECT_SESSION");
const EXPECT_USERS = env("EXPECT_USERS").split(",").map((s) => s.trim()).filter(Boolean);
const HOSTILE_SESSION = env("HOSTILE_SESSION");
const SEARCH_WORD = env("SEARCH_WORD");
const LIVE_MARK = env("LIVE_MARK");
const TIMEOUT = 15000;

mkdirSync(SHOTS, { recursive: true });
const { page, close } = await launch(TIMEOUT);

const dialogs = [];
page.on("dialog", async (d) => {
  dialogs.push(`${d.type()}: ${d.message()}`);
  await d.dismiss().catch(() => {});
});
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(e.message));
page.on("console", (m) => {
  if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) pageErrors.push(m.text());
});

let failed = 0;
let n = 0;

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function step(name, fn) {
  n += 1;
  const shot = join(SHOTS, `${String(n).padStart(2, "0")}-${name.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "")}.png`);
  try {
    await fn();
    check(dialogs.length === 0, `a dialog fired: ${dialogs.join("; ")}`);
    console.log(`ok ${n} - ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok ${n} - ${name}: ${String(e.message).split("\n")[0]}`);
  }
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
}

const hashParams = () => {
  const h = new URL(page.url()).hash;
  const i = h.indexOf("?");
  return new URLSearchParams(i < 0 ? "" : h.slice(i + 1));
};
const apiStatus = (path) => page.evaluate(async (p) => (await fetch(p, { credentials: "same-origin" })).status, path);
const sessionNames = () => page.$$eval("table.sessions tbody td.session-name > a", (as) => as.map((a) => a.textContent));

const login = (user, password) => fillLogin(page, BASE, user, password);

try {
  await step("without a session: / lands on /login and the API answers 401", async () => {
    await page.goto(`${BASE}/`);
    await page.waitForURL((u) => u.pathname === "/login");
    await page.waitForSelector("#login-form");
    const status = await apiStatus("/api/sessions");
    check(status === 401, `GET /api/sessions gave ${status}`);
  });

  await step("a user outside the auditors' group is refused, with the reason shown", async () => {
    await login(OUTSIDER_USER, OUTSIDER_PASSWORD);
    const err = await page.waitForSelector("#login-error:not([hidden])");
    const text = await err.textContent();
    check(/group/i.test(text), `the error shown is ${JSON.stringify(text)}`);
    check(new URL(page.url()).pathname === "/login", `went to ${page.url()}`);
    const status = await apiStatus("/api/me");
    check(status === 401, `GET /api/me after the refusal gave ${status}`);
  });

  await step(`log in as ${AUDIT_USER}`, async () => {
    await login(AUDIT_USER, AUDIT_PASSWORD);
    await page.waitForURL((u) => u.pathname === "/");
    await page.waitForFunction((u) => document.getElementById("me-user")?.textContent.startsWith(u), AUDIT_USER);
    await page.waitForSelector("table.sessions");
  });

  await step("the sessions list shows the expected and the hostile session as text", async () => {
    await page.goto(`${BASE}/#/sessions`);
    await page.waitForFunction(() => document.body.dataset.sessions === "drawn");
    // page through the list (Next) until both are seen, at most 20 pages
    const names = [];
    for (let i = 0; i < 20; i++) {
      names.push(...(await sessionNames()));
      if (names.includes(EXPECT_SESSION) && names.includes(HOSTILE_SESSION)) break;
      const next = page.locator(".pager button", { hasText: "Next" }).first();
      if (await next.isDisabled()) break;
      const before = page.url();
      await next.click();
      await page.waitForFunction((b) => location.href !== b && document.body.dataset.sessions === "drawn", before);
    }
    check(names.includes(EXPECT_SESSION), `${EXPECT_SESSION} not among ${JSON.stringify(names)}`);
    check(names.includes(HOSTILE_SESSION), `the hostile name is not shown as text among ${JSON.stringify(names)}`);
    const imgs = await page.$$eval("#app img", (x) => x.length);
    check(imgs === 0, `${imgs} <img> elements in the page: markup from data was parsed`);
    check(pageErrors.length === 0, `page errors: ${pageErrors.join("; ")}`);
  });

  await step("filter by session name: only matching rows, the filter in the URL, kept on reload", async () => {
    await page.fill("form.filters input[name=session]", EXPECT_SESSION);
    await page.click("form.filters button[type=submit]");
    await page.waitForFunction((s) => {
      const h = location.hash;
      return h.includes("session=") && new URLSearchParams(h.slice(h.indexOf("?") + 1)).get("session") === s
        && document.body.dataset.sessions === "drawn";
    }, EXPECT_SESSION);
    const rowsOk = async () => {
      const names = await sessionNames();
      check(names.length > 0, "no row after filtering");
      check(names.every((x) => x.includes(EXPECT_SESSION)), `rows not matching: ${JSON.stringify(names)}`);
      check(!names.includes(HOSTILE_SESSION), "the hostile session is still listed");
    };
    await rowsOk();
    const before = page.url();
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.sessions === "drawn");
    check(page.url() === before, `the URL changed on reload: ${page.url()}`);
    await rowsOk();
    const v = await page.inputValue("form.filters input[name=session]");
    check(v === EXPECT_SESSION, `the filter box holds ${JSON.stringify(v)} after reload`);
  });

  await step("open the session: the timeline has a lane for each expected user", async () => {
    const row = page.locator("table.sessions tbody tr", { has: page.locator("td.session-name > a", { hasText: EXPECT_SESSION }) }).first();
    await row.locator("td").nth(2).click();
    await page.waitForFunction(() => location.hash.startsWith("#/session?"));
    await page.waitForSelector(".timeline");
    const users = await page.$$eval(".tl-lane", (ls) => ls.map((l) => l.dataset.user));
    for (const u of EXPECT_USERS) check(users.includes(u), `no lane for ${u}; lanes: ${JSON.stringify(users)}`);
    const spans = await page.$$eval(".tl-span", (s) => s.length);
    check(spans > 0, "no attach span drawn");
  });

  await step("the player seeks to a command marker from the list", async () => {
    const panes = await page.$$eval(".pane-list a", (as) => as.map((a) => a.getAttribute("href")));
    check(panes.length > 0, "the session lists no pane");
    let found = false;
    for (const href of panes) {
      await page.goto(`${BASE}/${href}`);
      await page.waitForFunction(() => document.body.dataset.frame === "drawn");
      if ((await page.$$("#marker-list li[data-kind=command]")).length) { found = true; break; }
    }
    check(found, "no pane of the session has a command marker");
    const li = page.locator("#marker-list li[data-kind=command]").last();
    const offset = parseFloat(await li.getAttribute("data-offset"));
    await li.locator("button").click();
    await page.waitForFunction(() => document.body.dataset.frame === "loading" || document.body.dataset.frame === "drawn");
    await page.waitForFunction(() => document.body.dataset.frame === "drawn");
    await page.waitForFunction((o) => {
      const x = parseFloat(document.getElementById("player-clock")?.dataset.offset);
      return !Number.isNaN(x) && Math.abs(x - Math.max(0, o - 1)) < 3;
    }, offset);
    const text = await page.$eval("#player .ap-term-text, #player .ap-term", (e) => e.textContent.trim());
    check(text.length > 0, "the player's terminal is empty");
  });

  await step(`search ${SEARCH_WORD}: a hit opens the player with t=`, async () => {
    await page.goto(`${BASE}/#/search`);
    await page.fill("form.filters input[name=q]", SEARCH_WORD);
    await page.click("form.filters button[type=submit]");
    await page.waitForSelector("#search-result tr.hit a.hit-link");
    const line = await page.$eval("#search-result tr.hit", (tr) => tr.textContent);
    check(line.toLowerCase().includes(SEARCH_WORD.toLowerCase()), `the first hit does not show the word: ${line}`);
    await page.click("#search-result tr.hit a.hit-link");
    await page.waitForFunction(() => location.hash.startsWith("#/player?"));
    check(hashParams().get("t"), `no t= in ${page.url()}`);
    await page.waitForFunction(() => document.body.dataset.frame === "drawn");
    await page.waitForSelector("#player .ap-player");
  });

  await step("Now lists a client; a live pane receives new output", async () => {
    await page.goto(`${BASE}/#/now`);
    await page.waitForSelector("#now-result tr.client-row");
    const link = await page.waitForSelector("#now-panes a.live-link");
    const server = await link.getAttribute("data-server");
    const pane = await link.getAttribute("data-pane");
    await link.click();
    await page.waitForFunction(() => location.hash.startsWith("#/live?"));
    await page.waitForFunction(() => (document.getElementById("live-screen")?.textContent || "").trim().length > 0);
    console.log(`READY-LIVE ${server}|${pane}`);
    await page.waitForFunction((m) => (document.getElementById("live-screen")?.textContent || "").includes(m), LIVE_MARK, { timeout: 20000 });
  });

  await step("logout: the API answers 401 again", async () => {
    await page.goto(`${BASE}/#/sessions`);
    await page.waitForSelector("#logout");
    await page.click("#logout");
    await page.waitForURL((u) => u.pathname === "/login");
    const status = await apiStatus("/api/me");
    check(status === 401, `GET /api/me after logout gave ${status}`);
  });
} finally {
  await close();
}

if (dialogs.length) console.log(`# dialogs: ${dialogs.join("; ")}`);
if (pageErrors.length) console.log(`# page errors: ${pageErrors.join("; ")}`);
console.log(`# ${n - failed} of ${n} passed`);
process.exit(failed ? 1 : 0);
