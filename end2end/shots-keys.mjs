// Screenshots of the API keys page in every key state (rolling, paused, expiring soon,
// over policy, revoked), its dialogs, and the key policy page, at three widths.
//   BASE=http://127.0.0.1:3000 OUT=/tmp/shots node end2end/shots-keys.mjs
import { ownerWithOrg } from "./shots-setup.mjs";
const base = process.env.BASE;
const out = process.env.OUT || "/tmp/shots";
const { browser, ctx, page, settings, orgId, rpc } = await ownerWithOrg(base);
const soon = new Date(Date.now() + 3 * 86400000).toISOString().slice(0, 10);
const ids = {};
for (const [name, expiry, date] of [
  ["Billing service (production)", "90"],
  ["Nightly export job", "custom", soon],
  ["Legacy partner integration", "never"],
  ["Worker queue", "30"],
  ["Old mobile app", "30"],
]) {
  const created = await rpc("create_api_key", { name, expiry, custom_date: date ?? "", scopes: "gateway keys:read" });
  ids[name] = created.key.id;
}
await rpc("roll_api_key", { key_id: ids["Billing service (production)"], overlap_seconds: "86400" });
await rpc("pause_api_key", { key_id: ids["Worker queue"], until: new Date(Date.now() + 7200000).toISOString() });
await rpc("revoke_api_key", { key_id: ids["Old mobile app"] });
await rpc("set_key_policy", { max_days: "180", require_expiry: "true", idle_days: "90" });
for (const width of [1280, 1024, 390]) {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(base + settings + "/keys");
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/keys-${width}.png`, fullPage: true });
  await page.getByRole("button", { name: "Roll key Billing service (production)" }).click();
  await page.screenshot({ path: `${out}/roll-${width}.png` });
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("button", { name: "Pause key Nightly export job" }).click();
  await page.getByRole("dialog").getByLabel("Pause", { exact: true }).selectOption("until");
  await page.screenshot({ path: `${out}/pause-${width}.png` });
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("button", { name: "Create key", exact: true }).click();
  await page.screenshot({ path: `${out}/create-${width}.png` });
  await page.getByRole("dialog").getByLabel("Name").fill("Shot");
  await page.getByRole("dialog").getByRole("button", { name: "Create key" }).click();
  await page.getByTestId("secret").waitFor();
  await page.keyboard.press("Escape");
  await page.getByTestId("close-anyway").waitFor();
  await page.screenshot({ path: `${out}/close-anyway-${width}.png` });
  await page.getByRole("button", { name: "Close anyway" }).click();
  // Closing reloads the page: let that finish before going elsewhere.
  await page.waitForSelector("body:not([inert])[data-hydrated=true]");
  await page.goto(base + settings + "/policy");
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/policy-${width}.png`, fullPage: true });
}
await browser.close();
