// Screenshots of the pages whose forms are server forms (log in, sign up, organizations,
// General with rename, the key policy), with an error shown, at three widths.
//   BASE=http://127.0.0.1:3000 OUT=/tmp/shots node end2end/shots-forms.mjs
import { ownerWithOrg } from "./shots-setup.mjs";
const base = process.env.BASE;
const out = process.env.OUT || "/tmp/shots";
const { browser, page, settings } = await ownerWithOrg(base);
const anonymous = await (await browser.newContext()).newPage();
const hydrated = (p) => p.waitForSelector("body:not([inert])[data-hydrated=true]");
for (const width of [1280, 1024, 390]) {
  await anonymous.setViewportSize({ width, height: 800 });
  await anonymous.goto(base + "/login");
  await hydrated(anonymous);
  await anonymous.getByLabel("Email").fill("nobody@example.com");
  await anonymous.getByLabel("Password").fill("not the password");
  await anonymous.getByRole("button", { name: "Log in" }).click();
  await anonymous.getByRole("alert").waitFor();
  await anonymous.screenshot({ path: `${out}/login-${width}.png`, fullPage: true });
  await anonymous.goto(base + "/signup");
  await hydrated(anonymous);
  await anonymous.getByLabel("Email").fill("not an email");
  await anonymous.getByRole("button", { name: "Create account" }).click();
  await anonymous.locator(".field.has-error").first().waitFor();
  await anonymous.screenshot({ path: `${out}/signup-${width}.png`, fullPage: true });

  await page.setViewportSize({ width, height: 800 });
  await page.goto(base + "/orgs");
  await hydrated(page);
  await page.screenshot({ path: `${out}/orgs-${width}.png`, fullPage: true });
  await page.goto(base + settings);
  await hydrated(page);
  await page.getByLabel("Organization name").fill("");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator(".field.has-error").first().waitFor();
  await page.screenshot({ path: `${out}/general-${width}.png`, fullPage: true });
  await page.goto(base + settings + "/policy");
  await hydrated(page);
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByTestId("policy-saved").filter({ hasText: "Saved." }).waitFor();
  await hydrated(page);
  await page.screenshot({ path: `${out}/policy-saved-${width}.png`, fullPage: true });
}
await browser.close();
