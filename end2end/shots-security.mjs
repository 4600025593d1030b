// Screenshots of what issue 27 changed on the pages, at three widths: the key page with
// hostile metadata (shown as text in its textarea), the members page's removal dialog
// listing the member's webhook endpoints, and the Webhooks page marking a removed
// member's endpoint disabled. Needs a server started with KEYGATE_WEBHOOK_ALLOWED_HOSTS=127.0.0.1.
//   BASE=http://127.0.0.1:3000 OUT=/tmp/shots node end2end/shots-security.mjs
import { ownerWithOrg } from "./shots-setup.mjs";
const base = process.env.BASE;
const out = process.env.OUT || "/tmp/shots";
const { browser, page, settings, rpc } = await ownerWithOrg(base);

// An admin who adds an endpoint, in a context of their own.
const adminCtx = await browser.newContext();
const admin = await adminCtx.newPage();
const adminEmail = `admin${Date.now()}@example.com`;
await admin.goto(base + "/signup");
await admin.waitForSelector("body[data-hydrated=true]");
await admin.getByLabel("Email").fill(adminEmail);
await admin.getByLabel("Display name").fill("Adam Admin");
await admin.getByLabel("Password").fill("correct horse battery staple");
await admin.getByRole("button", { name: "Create account" }).click();
await admin.waitForURL(/\/orgs$/);
const member = await rpc("add_member", { email: adminEmail, role: "admin" });
const orgId = settings.split("/")[2];
const adminCsrf = (await (await admin.request.get(`${base}/api/v1/whoami`)).json()).csrf_token;
for (const url of ["http://127.0.0.1:9/hooks/adam?team=platform", "http://127.0.0.1:9/audit-stream"]) {
  const r = await admin.request.post(`${base}/rpc/create_webhook`, {
    headers: { origin: base, "x-csrf-token": adminCsrf },
    form: { org_id: orgId, url, events: "key.created,member.removed" },
  });
  if (r.status() !== 200) throw new Error(await r.text());
}

// A key whose metadata tries to close its textarea.
const created = await rpc("create_api_key", { name: "Billing </textarea><h1>service", expiry: "90", scopes: "gateway" });
await rpc("set_key_context", {
  key_id: created.key.id,
  tags: "billing, prod",
  owner: "cus_4QFJ",
  metadata: JSON.stringify({ plan: "pro", note: "</textarea></fieldset></form><form method=post action=/rpc/add_member><h1>pwned</h1>" }),
});

for (const width of [1280, 1024, 390]) {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(`${base}${settings}/keys/${created.key.id}`);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/key-metadata-${width}.png`, fullPage: true });

  await page.goto(`${base}${settings}/members`);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.locator("tr", { hasText: adminEmail }).getByRole("button", { name: /^Remove/ }).click();
  await page.getByTestId("member-webhooks").waitFor();
  await page.screenshot({ path: `${out}/remove-member-${width}.png` });
  await page.getByRole("button", { name: "Cancel" }).click();
}
await page.goto(`${base}${settings}/members`);
await page.waitForSelector("body[data-hydrated=true]");
await page.locator("tr", { hasText: adminEmail }).getByRole("button", { name: /^Remove/ }).click();
await page.getByTestId("member-webhooks").waitFor();
await page.getByRole("button", { name: "Remove member" }).click();
await page.waitForTimeout(500);
for (const width of [1280, 1024, 390]) {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(`${base}${settings}/webhooks`);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/webhooks-disabled-${width}.png`, fullPage: true });
}
console.log("member", member.id ?? member.user_id ?? "");
await browser.close();
