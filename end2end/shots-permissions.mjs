// Screenshots of Settings → Permissions (empty, then with a catalog, roles, rules and a
// refused rules edit), a key's page with its permissions, what it used and the restrict
// confirmation, and the create dialog with the permission fields, at three widths.
//   BASE=http://127.0.0.1:3000 OUT=/tmp/shots node end2end/shots-permissions.mjs
import { ownerWithOrg } from "./shots-setup.mjs";
const base = process.env.BASE;
const out = process.env.OUT || "/tmp/shots";
const { browser, page, settings, rpc } = await ownerWithOrg(base);
const permissions = base + settings + "/permissions";
const widths = [1280, 1024, 390];
async function shoot(name, url) {
  for (const width of widths) {
    await page.setViewportSize({ width, height: 900 });
    if (url) {
      await page.goto(url);
      await page.waitForSelector("body[data-hydrated=true]");
    }
    await page.screenshot({ path: `${out}/${name}-${width}.png`, fullPage: true });
  }
}
await shoot("permissions-empty", permissions);
for (const [name, description] of [
  ["invoices:read", "Read invoices and their line items"],
  ["invoices:write", "Create, change and void invoices"],
  ["refunds:read", "See refunds"],
  ["refunds:write", "Issue refunds </textarea><h1>never markup</h1>"],
  ["customers.billing-addresses:read", "Read the billing addresses of customers, including historical ones"],
  ["admin", "Everything an operator of the API may do"],
]) {
  await rpc("put_permission", { name, description });
}
await rpc("put_role", { name: "billing-readonly", description: "Finance dashboards", permissions: "invoices:read refunds:read" });
await rpc("put_role", { name: "support", description: "Support agents: read everything, refund", permissions: "invoices:* refunds:* customers.billing-addresses:read" });
await rpc("set_route_rules", {
  rules: "GET,HEAD /invoices/* invoices:read\n* /invoices/* invoices:write\nreport POST /refunds/{id} refunds:write\nGET /customers/{id}/billing-addresses customers.billing-addresses:read",
  unmatched: "deny",
});
const key = await rpc("create_api_key", { name: "Finance dashboard (production)", expiry: "90", scopes: "gateway", permissions: "invoices:read", roles: "billing-readonly" });
await shoot("permissions", permissions);
// A refused edit: the line and the unknown permission are named beside the field.
for (const width of widths) {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(permissions);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.getByTestId("rules-form").getByLabel("Rules, in order").fill("GET /orders orders:read");
  await page.getByTestId("rules-form").getByRole("button", { name: "Save rules" }).click();
  await page.waitForSelector("#rules-error:not(:empty)");
  await page.screenshot({ path: `${out}/permissions-refused-${width}.png`, fullPage: true });
}
// Requests through the gateway (no upstream: the rules decide, then 503), counted per
// rule and written by the usage flush within 5 s.
for (const [method, path] of [["GET", "/invoices/1"], ["GET", "/invoices/2"], ["POST", "/refunds/3"], ["POST", "/invoices/4"]]) {
  await fetch(base + "/gw" + path, { method, headers: { "x-api-key": key.secret } });
}
await new Promise((r) => setTimeout(r, 6500));
await shoot("key-permissions", base + settings + "/keys/" + key.key.id);
// Upstreams (the server runs with KEYGATE_UPSTREAM_HOSTS=billing.internal,search.internal)
// and an OpenAPI import under review.
await rpc("set_upstreams", { upstreams: "/billing https://billing.internal/api\n/search/v2 http://search.internal:9200/very/long/path/to/the/search/service" });
await rpc("review_openapi", { document: JSON.stringify({
  openapi: "3.0.3",
  tags: [{ name: "Orders", description: "Orders </textarea><h1>never markup</h1>" }],
  paths: {
    "/orders": { get: { tags: ["Orders"] }, post: { tags: ["Orders"] } },
    "/orders/{id}": { get: { tags: ["Orders"] }, delete: { tags: ["Orders"] } },
    "/invoices/{id}": { get: { tags: ["invoices"] } },
  },
}) });
await shoot("permissions-review", permissions);
for (const width of widths) {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(base + settings + "/keys/" + key.key.id);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.getByText("Restrict to what it used…").click();
  await page.getByTestId("restrict-form").scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${out}/key-restrict-${width}.png`, fullPage: true });
}
for (const width of widths) {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(base + settings + "/keys");
  await page.waitForSelector("body[data-hydrated=true]");
  await page.getByRole("button", { name: "Create key", exact: true }).click();
  await page.getByRole("dialog").getByLabel("invoices", { exact: true }).selectOption("Read");
  await page.getByRole("dialog").getByLabel("Roles").fill("support");
  await page.screenshot({ path: `${out}/create-dialog-permissions-${width}.png`, fullPage: true });
}
await browser.close();
