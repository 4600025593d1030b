// What every screenshot script starts with: Chromium, a new owner signed up through the
// pages, an organization "Acme Rockets", and a way to call its server functions.
import { chromium } from "@playwright/test";

export async function ownerWithOrg(base, { clipboard = false } = {}) {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  const ctx = await browser.newContext();
  if (clipboard) await ctx.grantPermissions(["clipboard-read", "clipboard-write"]);
  const page = await ctx.newPage();
  await page.goto(base + "/signup");
  await page.waitForSelector("body[data-hydrated=true]");
  await page.getByLabel("Email").fill(`owner${Date.now()}${Math.floor(Math.random() * 1e6)}@example.com`);
  await page.getByLabel("Display name").fill("Olga Owner");
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(/\/orgs$/);
  await page.getByLabel("Organization name").fill("Acme Rockets");
  await page.getByRole("button", { name: "Create organization" }).click();
  await page.waitForURL(/settings$/);
  const settings = new URL(page.url()).pathname;
  const orgId = settings.split("/")[2];
  // A server function of the organization, as the hydrated page calls it: with the
  // session's CSRF token.
  const csrf = (await (await page.request.get(`${base}/api/v1/whoami`)).json()).csrf_token;
  async function rpc(name, form) {
    const r = await page.request.post(`${base}/rpc/${name}`, { headers: { origin: base, "x-csrf-token": csrf }, form: { org_id: orgId, ...form } });
    if (r.status() !== 200) throw new Error(`${name}: ${await r.text()}`);
    return r.json();
  }
  return { browser, ctx, page, settings, orgId, rpc };
}
