// Screenshots of the members page and its removal dialog at three widths.
import { chromium } from "@playwright/test";
const base = process.env.BASE;
const out = process.env.OUT || "/tmp/shots";
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
const devCtx = await browser.newContext();
let page = await devCtx.newPage();
const uniq = Date.now();
async function signUp(email, name) {
  await page.goto(base + "/signup");
  await page.waitForSelector("body[data-hydrated=true]");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Display name").fill(name);
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(/\/orgs$/);
}
await signUp(`dev${uniq}@example.com`, "Devon Developer-Longname");
const devPage = page;
const ctx = await browser.newContext();
page = await ctx.newPage();
await signUp(`owner${uniq}@example.com`, "Olga Owner");
await page.getByLabel("Organization name").fill("Acme Rockets");
await page.getByRole("button", { name: "Create organization" }).click();
await page.waitForURL(/settings$/);
const settings = new URL(page.url()).pathname;
const orgId = settings.split("/")[2];
await page.goto(base + settings + "/members");
await page.waitForSelector("body[data-hydrated=true]");
await page.getByLabel("Email").fill(`dev${uniq}@example.com`);
await page.getByLabel("Role", { exact: true }).selectOption("developer");
await page.getByRole("button", { name: "Add member" }).click();
await page.waitForSelector(`tr[data-email="dev${uniq}@example.com"]`);
for (const name of ["Billing service (production)", "Nightly export job"]) {
  const r = await devPage.request.post(base + "/rpc/create_api_key", {
    headers: { origin: base },
    form: { org_id: orgId, name, expiry: "30", scopes: "gateway" },
  });
  if (r.status() !== 200) throw new Error(await r.text());
}
for (const w of [1280, 1024, 390]) {
  await page.setViewportSize({ width: w, height: 900 });
  await page.screenshot({ path: `${out}/members-${w}.png`, fullPage: true });
}
// The keys page, with a revoked key and a long name.
const r = await page.request.post(base + "/rpc/create_api_key", {
  headers: { origin: base },
  form: { org_id: orgId, name: "Partner webhook relay (staging, us-east-2) with a long name", expiry: "7", scopes: "gateway" },
});
const revokedId = (await r.json()).key.id;
await page.request.post(base + "/rpc/revoke_api_key", { headers: { origin: base }, form: { org_id: orgId, key_id: revokedId } });
await page.goto(base + settings + "/keys");
await page.waitForSelector("body[data-hydrated=true]");
for (const w of [1280, 1024, 390]) {
  await page.setViewportSize({ width: w, height: 900 });
  await page.screenshot({ path: `${out}/keys-${w}.png`, fullPage: true });
}
await page.goto(base + settings + "/members");
await page.waitForSelector("body[data-hydrated=true]");
await page.locator(`tr[data-email="dev${uniq}@example.com"]`).getByRole("button", { name: /^Remove/ }).click();
await page.waitForSelector("[data-testid=member-keys-none], [data-testid=member-keys]");
for (const w of [1280, 1024, 390]) {
  await page.setViewportSize({ width: w, height: 900 });
  await page.screenshot({ path: `${out}/remove-${w}.png` });
}
await browser.close();
