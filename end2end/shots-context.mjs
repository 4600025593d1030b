// Screenshots of the keys list with tags, owners and its search and filters (plain,
// filtered, a refused filter, nothing matching), the create dialog, and a key's page with
// its tags, owner and metadata, at three widths.
//   BASE=http://127.0.0.1:3000 OUT=/tmp/shots node end2end/shots-context.mjs
import { ownerWithOrg } from "./shots-setup.mjs";
const base = process.env.BASE;
const out = process.env.OUT || "/tmp/shots";
const { browser, page, settings, rpc } = await ownerWithOrg(base);
const keys = [
  ["Billing service (production, eu-west-1)", "prod, billing, eu-west-1, team:payments", "cus_4QFJ8Kd2"],
  ["Billing service (production, us-east-1)", "prod, billing, us-east-1", "cus_4QFJ8Kd2"],
  ["Search indexer", "staging, search", "svc:indexer"],
  ["Nightly reports", "", ""],
];
let first;
for (const [name, tags, owner] of keys) {
  const created = await rpc("create_api_key", { name, expiry: "90", scopes: "gateway", tags, owner });
  first ??= created;
}
await rpc("set_key_context", {
  key_id: first.key.id, tags: "prod, billing, eu-west-1, team:payments", owner: "cus_4QFJ8Kd2",
  metadata: JSON.stringify({ plan: "enterprise", seats: 250, region: "eu-west-1", contact: { name: "Dana Ops", email: "ops@globex.example" } }),
});
const list = base + settings + "/keys";
for (const width of [1280, 1024, 390]) {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(list);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/keys-filters-${width}.png`, fullPage: true });
  await page.goto(list + "?q=billing&tag=prod&status=active");
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/keys-filtered-${width}.png`, fullPage: true });
  await page.goto(list + "?tag=Prod");
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/keys-bad-filter-${width}.png`, fullPage: true });
  await page.goto(list + "?q=nothing-like-this");
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/keys-no-match-${width}.png`, fullPage: true });
  await page.goto(list);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.getByRole("button", { name: "Create key", exact: true }).click();
  await page.getByRole("dialog").getByLabel("Tags").fill("prod, Billing");
  await page.getByRole("dialog").getByLabel("Name").fill("x");
  await page.getByRole("dialog").getByRole("button", { name: "Create key" }).click();
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${out}/create-dialog-tags-${width}.png`, fullPage: false });
  await page.goto(`${list}/${first.key.id}`);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/key-context-${width}.png`, fullPage: true });
}
await browser.close();
