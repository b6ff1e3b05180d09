// What both browser scripts (ui.mjs, bench.mjs) need: their settings from the environment,
// Debian's Chromium started headless with a fresh profile and the flags that keep it off the
// closed network, and the login form filled in.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

const script = basename(process.argv[1] || "browser.mjs");

/** The environment variable `name`, else `fallback`; exits 2 naming it when neither is set. */
export function env(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === "") {
    if (fallback !== undefined) return fallback;
    console.error(`${script}: set ${name}`);
    process.exit(2);
  }
  return v;
}

/** Chromium with a fresh profile: `{ context, page, close }`; `close` also removes the profile. */
export async function launch(timeoutMs) {
  const profile = mkdtempSync(join(tmpdir(), "tmux-audit-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  context.setDefaultTimeout(timeoutMs);
  const page = context.pages()[0] || (await context.newPage());
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, close };
}

/** Fills in and sends the login form at `base`/login (the caller waits for what follows). */
export async function login(page, base, user, password) {
  await page.goto(`${base}/login`);
  await page.fill("#login-user", user);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
}
