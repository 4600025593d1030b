// Page-load benchmark: the API keys page with 100 keys, opened in Chromium with a cold
// cache, as served now (brotli) and as it was served before precompression (the same
// bundle, no Content-Encoding), on loopback and on an emulated 10 Mbit/s link. Reports
// bytes transferred, first contentful paint and the time until the page is interactive
// (hydrated).
//
// Usage (after `cargo leptos build --release --precompress` and `npm ci` in end2end/):
//   node bench/page-load.mjs            # starts target/release/keygate on a free port
//   RUNS=5 node bench/page-load.mjs     # median of 5 cold loads per mode (default 5)
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "../end2end/node_modules/@playwright/test/index.mjs";

const RUNS = Number(process.env.RUNS ?? 5);
const ROOT = new URL("..", import.meta.url).pathname;

const port = await new Promise((resolve) => {
  const s = createServer();
  s.listen(0, "127.0.0.1", () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});
const base = `http://127.0.0.1:${port}`;
const server = spawn(join(ROOT, "target/release/keygate"), [], {
  cwd: ROOT,
  env: {
    ...process.env,
    KEYGATE_ADDR: `127.0.0.1:${port}`,
    KEYGATE_DATA_DIR: mkdtempSync(join(tmpdir(), "keygate-page-load-")),
    KEYGATE_LOG: "warn",
  },
  stdio: "inherit",
});
try {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }

  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });

  // An owner with an organization of 100 keys, made through the server functions.
  const setup = await browser.newContext();
  const page = await setup.newPage();
  // A logged-in session's calls carry its CSRF token, as the page's script sends it.
  let csrf = "";
  const rpc = (name, form) =>
    page.request.post(`${base}/rpc/${name}`, { headers: { origin: base, "x-csrf-token": csrf }, form });
  const signUp = await rpc("sign_up", {
    email: `bench-${Date.now()}@example.com`,
    display_name: "Bench Owner",
    password: "correct horse battery staple",
  });
  if (!signUp.ok()) throw new Error(`sign up: ${signUp.status()}`);
  csrf = (await (await page.request.get(`${base}/api/v1/whoami`)).json()).csrf_token;
  const org = await (await rpc("create_org", { name: "Benchmark Org" })).json();
  for (let i = 0; i < 100; i++) {
    const r = await rpc("create_api_key", { org_id: org.id, name: `service ${i}`, expiry: "90", scopes: "gateway" });
    if (!r.ok()) throw new Error(`create key: ${r.status()}`);
  }
  const cookies = await setup.cookies();
  await setup.close();
  const url = `${base}/orgs/${org.id}/settings/keys`;

  async function coldLoad(compressed, slow) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addCookies(cookies);
    await context.addInitScript(() => {
      new MutationObserver((_, observer) => {
        if (document.body?.getAttribute("data-hydrated") === "true") {
          window.__hydratedAt = performance.now();
          observer.disconnect();
        }
      }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-hydrated"] });
    });
    const p = await context.newPage();
    const cdp = await context.newCDPSession(p);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    if (slow) {
      // A 10 Mbit/s link with 40 ms of latency.
      await cdp.send("Network.emulateNetworkConditions", {
        offline: false,
        latency: 40,
        downloadThroughput: (10 * 1024 * 1024) / 8,
        uploadThroughput: (5 * 1024 * 1024) / 8,
      });
    }
    if (!compressed) {
      // What a first visit downloaded before precompression: the same files, unencoded.
      await cdp.send("Network.setExtraHTTPHeaders", { headers: { "Accept-Encoding": "identity" } });
    }
    let bytes = 0;
    let wasm = 0;
    const urls = new Map();
    cdp.on("Network.responseReceived", (e) => urls.set(e.requestId, e.response.url));
    cdp.on("Network.loadingFinished", (e) => {
      bytes += e.encodedDataLength;
      if ((urls.get(e.requestId) ?? "").endsWith(".wasm")) wasm += e.encodedDataLength;
    });
    await p.goto(url);
    await p.waitForFunction(() => window.__hydratedAt !== undefined, null, { timeout: 30_000 });
    await p.waitForLoadState("networkidle");
    const timing = await p.evaluate(() => ({
      fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN,
      hydrated: window.__hydratedAt,
    }));
    const rows = await p.locator("tr[data-testid=key-row]").count();
    await context.close();
    return { bytes, wasm, rows, ...timing };
  }

  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const results = {};
  for (const mode of [
    "uncompressed (before), loopback",
    "brotli (now), loopback",
    "uncompressed (before), 10 Mbit/s",
    "brotli (now), 10 Mbit/s",
  ]) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await coldLoad(mode.startsWith("brotli"), mode.includes("Mbit")));
    results[mode] = {
      "bytes transferred": median(runs.map((r) => r.bytes)),
      "of which wasm": median(runs.map((r) => r.wasm)),
      "first contentful paint (ms)": Math.round(median(runs.map((r) => r.fcp))),
      "hydrated (ms)": Math.round(median(runs.map((r) => r.hydrated))),
      "key rows": runs[0].rows,
    };
  }
  console.log(`Keys page of an org with 100 keys (25 a page), cold cache, median of ${RUNS} loads:`);
  console.table(results);
  await browser.close();
} finally {
  server.kill("SIGTERM");
}
