// Drives `cfcookie serve --dev` in headless Chromium (Debian's package, via playwright-core):
// the protected image loads only after sign-in, is refused after sign-out, and the cookies
// carry Secure, HttpOnly and the configured SameSite. Saves a screenshot.
//   node tests/node/browser.js URL SCREENSHOT.png [SameSite]
"use strict";
const { chromium } = require("playwright-core");

const [url, screenshot, sameSite = "Lax"] = process.argv.slice(2);
const fail = (msg) => { console.error("FAIL: " + msg); process.exit(1); };

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 1100 } });
    const page = await context.newPage();
    await page.goto(url);
    // Before sign-in the image is refused, as CloudFront would refuse it.
    await page.click("#load-btn");
    await page.waitForSelector("#photo-refused", { timeout: 10000 });
    const before = await page.textContent("#photo-refused");
    if (!before.includes("missing_cookie")) fail("before sign-in: " + before);
    // Sign in: the page gets a token, calls /cookie, and loads the image.
    await page.fill("#username", "alice");
    await page.click("#signin-btn");
    await page.waitForSelector("#photo-ok", { timeout: 10000 });
    await page.waitForFunction(() => { const i = document.getElementById("photo"); return i.complete && i.naturalWidth > 0; }, null, { timeout: 10000 });
    const cookies = (await context.cookies()).filter((c) => c.name.startsWith("CloudFront-"));
    const names = cookies.map((c) => c.name).sort();
    if (names.join() !== "CloudFront-Key-Pair-Id,CloudFront-Policy,CloudFront-Signature") fail("cookies: " + names);
    for (const c of cookies) {
      if (!c.secure || !c.httpOnly || c.sameSite !== sameSite) fail(`cookie ${c.name}: secure=${c.secure} httpOnly=${c.httpOnly} sameSite=${c.sameSite}`);
    }
    const readable = await page.evaluate(() => document.cookie);
    if (readable.includes("CloudFront-")) fail("HttpOnly cookies readable from script: " + readable);
    await page.screenshot({ path: screenshot, fullPage: true });
    const shot = (suffix) => screenshot.replace(/\.png$/, "-" + suffix + ".png");
    // What CloudFront sees: the decoded policy of the cookies just issued, and its decision.
    await page.waitForFunction(() => document.getElementById("policy-out").dataset.verdict === "allowed", null, { timeout: 10000 });
    const policy = await page.textContent("#policy-out");
    if (!policy.includes("AWS:EpochTime") || !policy.includes("/private/*")) fail("decoded policy: " + policy);
    // The key ring: one key signs; "rotate now" adds a pending key while the old one signs on.
    await page.waitForSelector('#timeline .key[data-state="signing"]', { timeout: 10000 });
    const before_key = await page.getAttribute("#timeline", "data-signing");
    await page.click("#rotate-btn");
    await page.waitForSelector('#timeline .key[data-role="current"][data-state="pending"]', { timeout: 10000 });
    if ((await page.getAttribute("#timeline", "data-signing")) !== before_key) fail("the new key signed before its activation");
    await page.waitForSelector("#photo-ok", { timeout: 10000 });
    await page.screenshot({ path: shot("rotation-pending"), fullPage: true });
    // Once the activation delay has passed the new key signs; fresh cookies use it, and the
    // protected image still loads.
    await page.waitForSelector('#timeline .key[data-role="current"][data-state="signing"]', { timeout: 30000 });
    const after_key = await page.getAttribute("#timeline", "data-signing");
    if (after_key === before_key) fail("the signing key did not change");
    await page.click("#cookie-btn");
    await page.waitForFunction((k) => document.getElementById("policy-out").textContent.includes(k), after_key, { timeout: 10000 });
    await page.waitForSelector("#photo-ok", { timeout: 10000 });
    await page.screenshot({ path: shot("rotated"), fullPage: true });
    // Sign out: the cookies go and the image is refused again.
    await page.click("#signout-btn");
    await page.waitForSelector("#photo-refused", { timeout: 10000 });
    const after = (await context.cookies()).filter((c) => c.name.startsWith("CloudFront-"));
    if (after.length) fail("cookies left after sign-out: " + after.map((c) => c.name));
    console.log(JSON.stringify({ ok: true, cookies: names, sameSite, screenshot, rotated: [before_key, after_key] }));
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e.stack || String(e)));
