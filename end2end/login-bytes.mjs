// The bytes a browser downloads to make a page interactive, on the wire
// (compressed bodies and headers, as Chromium counts them): from the request
// for the page until the wasm has hydrated it (body[data-hydrated]), plus
// anything still loading a moment later. Used by scripts/bench.sh:
//
//   node end2end/login-bytes.mjs http://127.0.0.1:3000/login
//   COOKIE='gatehouse.sid=...' node end2end/login-bytes.mjs http://127.0.0.1:3000/account
//
// Prints the total in KB (1000 bytes), and each response on stderr. With
// COOKIE (name=value), the browser is signed in first.
import { chromium } from "playwright";

const url = process.argv[2];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
});
try {
  const context = await browser.newContext();
  if (process.env.COOKIE) {
    const eq = process.env.COOKIE.indexOf("=");
    await context.addCookies([{
      name: process.env.COOKIE.slice(0, eq),
      value: process.env.COOKIE.slice(eq + 1),
      url: new URL(url).origin,
    }]);
  }
  const page = await context.newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  const urls = new Map();
  const sizes = [];
  cdp.on("Network.responseReceived", (e) => urls.set(e.requestId, e.response.url));
  cdp.on("Network.loadingFinished", (e) => sizes.push([urls.get(e.requestId) ?? "?", e.encodedDataLength]));
  await page.goto(url);
  await page.waitForSelector("body[data-hydrated=true]", { timeout: 30_000 });
  await page.waitForTimeout(500);
  let total = 0;
  for (const [u, n] of sizes.sort((a, b) => b[1] - a[1])) {
    total += n;
    console.error(`    ${new URL(u).pathname.padEnd(56)} ${(n / 1024).toFixed(1).padStart(8)} KiB`);
  }
  console.error(`    (${sizes.length} responses)`);
  console.log((total / 1000).toFixed(0));
} finally {
  await browser.close();
}
