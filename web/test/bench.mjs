// The web UI's benchmark in a real headless Chromium against a running `tmux-audit web`.
//
//   BASE_URL=http://127.0.0.1:PORT AUDIT_USER=u AUDIT_PASSWORD=p [BENCH_RUNS=20] [BENCH_PANE=...] \
//   node web/test/bench.mjs
//
// BENCH_PANE empty: the sessions page — from navigating to `/#/sessions` (a full page load) until
// its rows are in the DOM (app.js sets body[data-sessions="drawn"]).
// BENCH_PANE="SERVER|PANE_ID|OFFSET_SECONDS[|AT]" (AT: a time in that recording): the player — from asking for the piece at OFFSET
// (app.js's `window.tmuxAuditPlayer.load`, what every seek calls) until the player's terminal has
// drawn its first frame (body[data-frame="drawn"], set when the terminal's text is non-empty);
// measured inside the page with performance.now().
// One warm-up run, then BENCH_RUNS timed ones. The LAST stdout line is one JSON object:
// {"sessions_page_ms": {"median", "p99", "min", "n"}} or {"player_seek_ms": {...}}.
import { env, launch, login } from "./browser.mjs";

const BASE = env("BASE_URL").replace(/\/$/, "");
const USER = env("AUDIT_USER");
const PASSWORD = env("AUDIT_PASSWORD");
const RUNS = Math.max(1, parseInt(process.env.BENCH_RUNS || "20", 10));
const PANE = process.env.BENCH_PANE || "";

function stats(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  const p99 = s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)];
  const r = (x) => Math.round(x * 100) / 100;
  return { median: r(median), p99: r(p99), min: r(s[0]), n: s.length };
}

const { page, close } = await launch(30000);
// What went wrong in the page, for a run that times out.
page.on("pageerror", (e) => console.error(`bench.mjs: page error: ${e.message}`));
page.on("response", (r) => {
  if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) console.error(`bench.mjs: HTTP ${r.status()} ${r.url()}`);
});

let result;
try {
  await login(page, BASE, USER, PASSWORD);
  await page.waitForURL((u) => u.pathname === "/");

  if (!PANE) {
    const once = async () => {
      await page.goto("about:blank");
      const t0 = performance.now();
      await page.goto(`${BASE}/#/sessions`, { waitUntil: "commit" });
      await page.waitForFunction(
        () => document.body && document.body.dataset.sessions === "drawn"
          && document.querySelector("table.sessions tbody tr"),
        null, { polling: "raf" });
      return performance.now() - t0;
    };
    await once();
    const xs = [];
    for (let i = 0; i < RUNS; i++) {
      const ms = await once();
      xs.push(ms);
      console.log(`# sessions page run ${i + 1}: ${ms.toFixed(1)} ms`);
    }
    result = { sessions_page_ms: stats(xs) };
  } else {
    // AT (optional): a time in the recording meant, when the pane id had later recordings.
    const [server, pane, offsetText, at] = PANE.split("|");
    const offset = parseFloat(offsetText);
    if (!server || !pane || Number.isNaN(offset)) {
      console.error("bench.mjs: BENCH_PANE is SERVER|PANE_ID|OFFSET_SECONDS[|AT]");
      process.exit(2);
    }
    const q = new URLSearchParams({ server, pane, t: at || "0" });
    await page.goto(`${BASE}/#/player?${q}`);
    await page.waitForFunction(() => document.body.dataset.frame === "drawn" && window.tmuxAuditPlayer)
      .catch(async (e) => {
        const shown = await page.evaluate(() => `frame=${document.body.dataset.frame} text=${document.body.innerText.slice(0, 1500)}`);
        console.error(`bench.mjs: the player drew no frame: ${shown}`);
        throw e;
      });
    const once = (off) => page.evaluate((o) => new Promise((resolve, reject) => {
      const t0 = performance.now();
      window.tmuxAuditPlayer.load(o, false).catch(reject);
      const poll = () => {
        if (document.body.dataset.frame === "drawn") resolve(performance.now() - t0);
        else if (performance.now() - t0 > 20000) reject(new Error("no frame in 20 s"));
        else requestAnimationFrame(poll);
      };
      requestAnimationFrame(poll);
    }), off);
    // between runs, go back to the start so each timed seek loads a new piece near the end
    await once(offset);
    const xs = [];
    for (let i = 0; i < RUNS; i++) {
      await once(0);
      const ms = await once(offset);
      xs.push(ms);
      console.log(`# seek run ${i + 1}: ${ms.toFixed(1)} ms`);
    }
    result = { player_seek_ms: stats(xs) };
  }
} finally {
  await close();
}
console.log(JSON.stringify(result));
