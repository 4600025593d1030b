// Screenshots of a key's page (details, a chart with every outcome, the table view, the
// rate limit form) and of the keys page's usage panel, at three widths.
//   BASE=http://127.0.0.1:3000 OUT=/tmp/shots node end2end/shots-usage.mjs
// Counts reach the page with the server's usage flush (KEYGATE_USAGE_FLUSH_INTERVAL).
import { ownerWithOrg } from "./shots-setup.mjs";
const base = process.env.BASE;
const out = process.env.OUT || "/tmp/shots";
const { browser, ctx, page, settings, orgId, rpc } = await ownerWithOrg(base);
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
