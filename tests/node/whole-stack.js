// Drives the example app of the whole local stack (tests/infra/whole_stack.py) in headless
// Chromium, from two pages at once, each in its own browser profile: the app's own site
// (cross-origin to the media site) and the media site's public path (same origin). Each page
// signs in, gets cookies through client.js, and reloads its protected images until the driver
// reads "rotated" on stdin (the test rotates the key meanwhile); then each signs out and loads
// the images once more. Prints one JSON line: every image response, with its status, the
// edge's refusal reason and the key id of the cookie it was sent with, and every request to
// /cookie/remove.
//   node tests/node/whole-stack.js SCREENSHOT_DIR CHROMIUM_FLAG... -- URL...
"use strict";
const { chromium } = require("playwright-core");
const readline = require("readline");

const args = process.argv.slice(2);
const split = args.indexOf("--");
const [shots, ...flags] = args.slice(0, split);
const urls = args.slice(split + 1);
const fail = (msg) => { console.error("FAIL: " + msg); process.exit(1); };
const stdin = readline.createInterface({ input: process.stdin });
const said = new Promise((resolve) => stdin.on("line", (l) => l.trim() === "rotated" && resolve()));

const keyId = (cookie) => (/CloudFront-Key-Pair-Id=([^;]+)/.exec(cookie || "") || [])[1] || null;

async function open(browser, url, name, record) {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 }, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && console.error(`[${name}] console: ${m.text()}`));
  page.on("pageerror", (e) => console.error(`[${name}] page error: ${e.message}`));
  page.on("response", async (r) => {
    const req = r.request();
    const u = new URL(r.url());
    if (u.pathname.startsWith("/img/")) {
      const headers = await req.allHeaders();
      record.images.push({ page: name, phase: record.phase[name], url: u.pathname + u.search, status: r.status(),
                           refusal: r.headers()["x-cfcookie-refusal"] || null, key: keyId(headers.cookie) });
    } else if (u.pathname === "/cookie/remove") {
      record.remove.push({ page: name, method: req.method(), status: r.status() });
    }
  });
  await page.goto(url);
  await page.waitForFunction(() => window.cfcookieApp, null, { timeout: 20000 });
  await page.click("#signin button");
  await page.waitForSelector("#signedin:not([hidden])", { timeout: 20000 });
  return { context, page, name };
}

const loaded = (page) => page.waitForFunction(
  () => [...document.querySelectorAll("#gallery img")].every((i) => i.complete), null, { timeout: 20000 });

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", ...flags],
  });
  const record = { images: [], remove: [], phase: {}, cookies: {}, signOut: {} };
  try {
    const names = urls.map((u, i) => (i === 0 ? "cross-origin" : "same-origin"));
    names.forEach((n) => (record.phase[n] = "signed-in"));
    const pages = [];
    for (let i = 0; i < urls.length; i++) pages.push(await open(browser, urls[i], names[i], record));
    await Promise.all(pages.map((p) => loaded(p.page)));
    console.log("ready");
    // Reload every image of both pages, round after round, until the rotation is done.
    let round = 1, done = false;
    said.then(() => (done = true));
    while (!done) {
      await Promise.all(pages.map(async (p) => { await p.page.evaluate((r) => window.cfcookieApp.images(r), round); await loaded(p.page); }));
      round++;
      await new Promise((r) => setTimeout(r, 250));
    }
    for (const p of pages) {
      await p.page.screenshot({ path: `${shots}/whole-stack-${p.name}-signed-in.png` });
      record.cookies[p.name] = (await p.context.cookies()).filter((c) => c.name.startsWith("CloudFront-"))
        .map(({ name, domain, secure, httpOnly, sameSite }) => ({ name, domain, secure, httpOnly, sameSite }));
      record.phase[p.name] = "signed-out";
      record.signOut[p.name] = await p.page.evaluate(() => window.cfcookieApp.signOut().then(() => "ok", (e) => e.message));
      record.cookiesAfter = { ...(record.cookiesAfter || {}), [p.name]: (await p.context.cookies()).filter((c) => c.name.startsWith("CloudFront-")).length };
      await p.page.evaluate((r) => window.cfcookieApp.images(r), round++);
      await loaded(p.page);
      await p.page.waitForTimeout(300);
      await p.page.screenshot({ path: `${shots}/whole-stack-${p.name}-signed-out.png` });
    }
    delete record.phase;
    console.log(JSON.stringify(record));
  } finally {
    stdin.close();
    await browser.close();
  }
})().catch((e) => fail(e.stack || String(e)));
