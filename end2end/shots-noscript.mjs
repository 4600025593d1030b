// Screenshots of the pages that work without script, refused and as they are, at 1280, 1024
// and 390 px, with JavaScript off and on:
// BASE=http://127.0.0.1:3000 OUT=/tmp/shots node end2end/shots-noscript.mjs
import { chromium } from "@playwright/test";
import { password, signUp as signUpAt } from "./shots-common.mjs";
const base = process.env.BASE, out = process.env.OUT;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox"] });
const stamp = Date.now();

const signUp = (page, email, name) => signUpAt(page, base, email, name);

// One owner with an org and a member who has a key, made with script on.
const setup = await browser.newContext();
const memberPage = await setup.newPage();
const memberEmail = `shot-member-${stamp}@example.com`;
await signUp(memberPage, memberEmail, "Mo </textarea><h1>Member");
const ownerEmail = `shot-owner-${stamp}@example.com`;
const ownerPage = await setup.browser().newContext().then((c) => c.newPage());
await signUp(ownerPage, ownerEmail, "Olu Owner");
await ownerPage.getByLabel("Organization name").fill("Acme Shots");
await ownerPage.getByRole("button", { name: "Create organization" }).click();
await ownerPage.waitForURL(/\/settings$/);
const orgPath = new URL(ownerPage.url()).pathname;
await ownerPage.goto(`${base}${orgPath}/members`);
await ownerPage.waitForSelector("body[data-hydrated=true]");
await ownerPage.getByLabel("Email").fill(memberEmail);
await ownerPage.getByLabel("Role", { exact: true }).selectOption("developer");
await ownerPage.getByRole("button", { name: "Add member" }).click();
await ownerPage.waitForSelector(`tr[data-email="${memberEmail}"]`);
const cookies = await ownerPage.context().cookies();
// A key, over the REST API with the session (and its CSRF token).
const orgId = orgPath.split("/")[2];
const csrf = (await (await ownerPage.request.get(`${base}/api/v1/whoami`)).json()).csrf_token;
const made = await ownerPage.request.post(`${base}/api/v1/keys?org_id=${orgId}`, {
  headers: { "x-csrf-token": csrf },
  data: { name: "Billing </textarea><h1> service", expires_in_days: 30 },
});
const madeBody = await made.json();
const keyId = madeBody.id ?? madeBody.key?.id;
if (!keyId) throw new Error(JSON.stringify(madeBody));

for (const script of [false, true]) {
  for (const width of [1280, 1024, 390]) {
    const tag = `${script ? "js" : "nojs"}-${width}`;
    const context = await browser.newContext({ javaScriptEnabled: script, viewport: { width, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${base}/signup`);
    await page.getByLabel("Email").fill("not-an-email");
    await page.getByLabel("Display name").fill("</textarea><h1>Ada");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${out}/signup-refused-${tag}.png`, fullPage: true });
    await page.goto(`${base}/login`);
    await page.getByLabel("Email").fill("nobody@example.com");
    await page.getByLabel("Password").fill("wrong password");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${out}/login-refused-${tag}.png`, fullPage: true });

    await context.addCookies(cookies);
    await page.goto(`${base}/orgs`);
    await page.getByRole("button", { name: "Create organization" }).click();
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${out}/orgs-refused-${tag}.png`, fullPage: true });
    await page.goto(`${base}${orgPath}`);
    await page.screenshot({ path: `${out}/general-${tag}.png`, fullPage: true });
    await page.goto(`${base}${orgPath}/members`);
    await page.getByLabel("Email").fill("nobody-at-all@example.com");
    await page.getByRole("button", { name: "Add member" }).click();
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${out}/members-refused-${tag}.png`, fullPage: true });
    await page.goto(`${base}${orgPath}/members`);
    await page.getByLabel("Role of Olu Owner").selectOption("member");
    if (!script) await page.locator(`tr[data-email="${ownerEmail}"]`).getByRole("button", { name: "Save" }).click();
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${out}/members-role-refused-${tag}.png`, fullPage: true });
    await page.locator(`tr[data-email="${memberEmail}"]`).getByRole("link", { name: /^Remove/ }).click();
    await page.waitForURL(/\/remove$/);
    await page.screenshot({ path: `${out}/remove-member-${tag}.png`, fullPage: true });
    await page.goto(`${base}${orgPath}/keys`);
    await page.screenshot({ path: `${out}/keys-${tag}.png`, fullPage: true });
    for (const action of ["pause", "revoke"]) {
      await page.goto(`${base}${orgPath}/keys/${keyId}/confirm?action=${action}`);
      await page.screenshot({ path: `${out}/key-${action}-${tag}.png`, fullPage: true });
    }
    await page.goto(`${base}${orgPath}/keys/${keyId}/confirm?action=resume`);
    await page.getByRole("button", { name: "Resume key" }).click();
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${out}/key-resume-answered-${tag}.png`, fullPage: true });
    await page.goto(`${base}${orgPath}/keys/new`);
    await page.screenshot({ path: `${out}/key-new-${tag}.png`, fullPage: true });
    await page.getByLabel("Name", { exact: true }).fill("Shot </textarea><h1> key");
    await page.getByRole("checkbox", { name: /gateway/ }).uncheck();
    await page.getByRole("button", { name: "Create key" }).click();
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${out}/key-new-refused-${tag}.png`, fullPage: true });
    await page.getByRole("checkbox", { name: /gateway/ }).check();
    await page.getByRole("button", { name: "Create key" }).click();
    await page.waitForSelector("[data-testid=reveal]");
    await page.screenshot({ path: `${out}/key-created-${tag}.png`, fullPage: true });
    await page.goto(`${base}${orgPath}/keys/${keyId}/confirm?action=roll`);
    await page.screenshot({ path: `${out}/key-roll-${tag}.png`, fullPage: true });
    await page.getByRole("button", { name: "Roll key" }).click();
    await page.waitForSelector("[data-testid=reveal]");
    await page.screenshot({ path: `${out}/key-rolled-${tag}.png`, fullPage: true });
    await page.goto(`${base}${orgPath}/keys/${keyId}`);
    await page.getByTestId("rate-limit-form").getByLabel("Requests").fill("0");
    await page.getByRole("button", { name: "Save limit" }).click();
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${out}/key-page-refused-${tag}.png`, fullPage: true });
    await page.getByTestId("rate-limit-form").getByLabel("Requests").fill("100");
    await page.getByRole("button", { name: "Save limit" }).click();
    await page.waitForTimeout(800);
    await page.screenshot({ path: `${out}/key-page-saved-${tag}.png`, fullPage: true });
    await page.goto(`${base}${orgPath}/webhooks`);
    await page.getByLabel("Endpoint URL").fill(`http://127.0.0.1:9/${tag}`);
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.waitForSelector("[data-testid=webhook-secret]");
    await page.screenshot({ path: `${out}/webhook-added-${tag}.png`, fullPage: true });
    await page.goto(`${base}${orgPath}/webhooks`);
    await page.getByTestId("endpoint").first().getByText("Delete", { exact: true }).click();
    await page.screenshot({ path: `${out}/webhook-ask-delete-${tag}.png`, fullPage: true });
    await context.close();
  }
}
await browser.close();
