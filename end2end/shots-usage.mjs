// Screenshots of a key's page (details, a chart with every outcome, the table view, the
// rate limit form) and of the keys page's usage panel, at three widths.
//   BASE=http://127.0.0.1:3000 OUT=/tmp/shots node end2end/shots-usage.mjs
// Counts reach the page with the server's usage flush (KEYGATE_USAGE_FLUSH_INTERVAL).
import { chromium } from "@playwright/test";
const base = process.env.BASE;
const out = process.env.OUT || "/tmp/shots";
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
const ctx = await browser.newContext();
const page = await ctx.newPage();
const uniq = Date.now();
await page.goto(base + "/signup");
await page.waitForSelector("body[data-hydrated=true]");
await page.getByLabel("Email").fill(`usage${uniq}@example.com`);
await page.getByLabel("Display name").fill("Olga Owner");
await page.getByLabel("Password").fill("correct horse battery staple");
await page.getByRole("button", { name: "Create account" }).click();
await page.waitForURL(/\/orgs$/);
await page.getByLabel("Organization name").fill("Acme Rockets");
await page.getByRole("button", { name: "Create organization" }).click();
await page.waitForURL(/settings$/);
const settings = new URL(page.url()).pathname;
const orgId = settings.split("/")[2];
async function rpc(name, form) {
  const r = await page.request.post(`${base}/rpc/${name}`, { headers: { origin: base }, form: { org_id: orgId, ...form } });
  if (r.status() !== 200) throw new Error(`${name}: ${await r.text()}`);
  return r.json();
}
const busy = await rpc("create_api_key", { name: "Billing service (production, eu-west-1)", expiry: "90", scopes: "gateway", rate_limit: "40", rate_limit_per: "minute" });
const quiet = await rpc("create_api_key", { name: "Reporting", expiry: "30", scopes: "gateway" });
const call = (key, path = "/api/v1/whoami") => page.request.get(base + path, { headers: { "x-api-key": key } });
for (let i = 0; i < 45; i++) await call(busy.secret);
for (let i = 0; i < 4; i++) await call(busy.secret, "/api/v1/keys");
for (let i = 0; i < 7; i++) await call(quiet.secret);
await rpc("pause_api_key", { key_id: quiet.key.id });
for (let i = 0; i < 3; i++) await call(quiet.secret);
await new Promise((r) => setTimeout(r, 7000));
const keyPage = `${settings}/keys/${busy.key.id}`;
for (const width of [1280, 1024, 390]) {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(base + keyPage);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/key-page-${width}.png`, fullPage: true });
  await page.getByRole("button", { name: "Show as table" }).click();
  await page.screenshot({ path: `${out}/key-table-${width}.png`, fullPage: true });
  await page.goto(base + keyPage + "?period=30d");
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/key-30d-${width}.png`, fullPage: true });
  await page.goto(base + settings + "/keys");
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/keys-usage-${width}.png`, fullPage: true });
}
await browser.close();
