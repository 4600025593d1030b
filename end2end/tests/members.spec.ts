import { expect, type Page } from "@playwright/test";
import {
  createKey,
  cspViolations,
  gotoHydrated,
  newContext,
  orgWith,
  recordCspViolations,
  signUp,
  test,
  uniqueEmail,
  waitHydrated,
} from "./helpers";

/** From now on, flags in `window.__flicker` every DOM state in which the members table is
 * missing or a "Loading" text shows. */
async function watchForFlicker(page: Page) {
  await page.evaluate(() => {
    const w = window as any;
    w.__flicker = [];
    const check = () => {
      if (!document.querySelector("[data-testid=members]")) w.__flicker.push("table missing");
      if (document.body.innerText.includes("Loading")) w.__flicker.push("loading shown");
    };
    new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

function memberRow(page: Page, email: string) {
  return page.locator(`tr[data-email="${email}"]`);
}

test("changing a role keeps the table on screen and focus on the row's control", async ({ browser }) => {
  const { membersPath, owner: page, emails } = await orgWith(browser, ["developer", "member"]);
  await gotoHydrated(page, membersPath);
  await watchForFlicker(page);

  const select = memberRow(page, emails.developer).getByRole("combobox");
  await select.focus();
  // The keyboard: arrow keys change a focused <select> in Chromium without opening it.
  const saved = page.waitForResponse((r) => r.url().includes("/rpc/change_member_role"));
  await page.keyboard.press("ArrowUp");
  // Sent in place as the form is without script: answered with the members page.
  expect((await saved).status()).toBe(302);
  // The server agreed (the refused case takes the choice back), and the table never left.
  await expect(select).toHaveValue("admin");
  await expect(select).toBeFocused();
  await gotoHydrated(page, membersPath);
  await expect(memberRow(page, emails.developer).getByRole("combobox")).toHaveValue("admin");

  // A refused change (the last owner) also leaves the table and focus in place.
  await watchForFlicker(page);
  const mine = page.locator("tr[data-testid=member-row]").filter({ hasText: "Owner Person" }).getByRole("combobox");
  await mine.focus();
  await mine.selectOption("member");
  await expect(page.getByText(/needs at least one owner/)).toBeVisible();
  await expect(mine).toHaveValue("owner");
  await expect(mine).toBeFocused();
  expect(await page.evaluate(() => (window as any).__flicker)).toEqual([]);
});

test("removing a member lists their keys and transfers them, or revokes them", async ({ browser }) => {
  const { membersPath, keysPath, owner: page, pages, emails } = await orgWith(browser, ["developer", "admin"]);
  // The developer and the admin each create a key.
  await gotoHydrated(pages.developer, keysPath);
  const devSecret = await createKey(pages.developer, "Dev's deploy key", "30");
  await gotoHydrated(pages.admin, keysPath);
  await createKey(pages.admin, "Admin's report key", "30");

  // Remove is a link to a page of its own that says what goes with them.
  await gotoHydrated(page, membersPath);
  await memberRow(page, emails.developer).getByRole("link", { name: /^Remove/ }).click();
  await expect(page).toHaveURL(/\/members\/usr_[0-9A-Za-z]+\/remove$/);
  await waitHydrated(page);
  const confirm = page.getByTestId("remove-member");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Remove Developer Person?");
  await expect(confirm.getByTestId("member-keys")).toContainText("Dev's deploy key");
  await expect(confirm.getByLabel("Revoke them")).toBeChecked();
  await confirm.getByLabel("Transfer them to me").check();
  await confirm.getByRole("button", { name: "Remove member" }).click();
  await expect(page).toHaveURL(new RegExp(`${membersPath}$`));
  await waitHydrated(page);
  await expect(memberRow(page, emails.developer)).toHaveCount(0);

  // The transferred key still works, now the owner's.
  const response = await page.request.get("/api/v1/whoami", { headers: { "x-api-key": devSecret } });
  expect(response.status()).toBe(200);
  await gotoHydrated(page, keysPath);
  const devKey = page.locator("tr[data-testid=key-row]").filter({ hasText: "Dev's deploy key" });
  await expect(devKey).toContainText("Active");
  await expect(page.getByTestId("activity")).toContainText("took over key “Dev's deploy key” from a removed member");

  // The admin added a webhook endpoint (over the API, with their session's CSRF token):
  // the removal page says it stops with them.
  const orgId = keysPath.split("/")[2];
  const token = (await (await pages.admin.request.get("/api/v1/whoami")).json()).csrf_token;
  const hookUrl = "http://127.0.0.1:9/admins-hook";
  const added = await pages.admin.request.post(`/api/v1/webhooks?org_id=${orgId}`, {
    headers: { "x-csrf-token": token },
    data: { url: hookUrl, events: ["key.created"] },
  });
  expect(added.status()).toBe(201);

  // The admin is removed with the default choice: their key is revoked with them.
  await gotoHydrated(page, membersPath);
  await memberRow(page, emails.admin).getByRole("link", { name: /^Remove/ }).click();
  await expect(confirm.getByTestId("member-keys")).toContainText("Admin's report key");
  await expect(confirm.getByTestId("member-webhooks")).toContainText(hookUrl);
  await waitHydrated(page);
  await confirm.getByRole("button", { name: "Remove member" }).click();
  await expect(page).toHaveURL(new RegExp(`${membersPath}$`));
  await expect(memberRow(page, emails.admin)).toHaveCount(0);
  await gotoHydrated(page, keysPath.replace(/keys$/, "webhooks"));
  await expect(page.getByTestId("endpoint-disabled")).toContainText("left the organization");
  await gotoHydrated(page, keysPath);
  const adminKey = page.locator("tr[data-testid=key-row]").filter({ hasText: "Admin's report key" });
  await expect(adminKey).toContainText("Revoked");

  // Someone with no keys: the page says so, and Cancel goes back with nothing changed.
  const lone = uniqueEmail("lone");
  const loneContext = await newContext(browser);
  await signUp(await loneContext.newPage(), lone, "Lone Person");
  await gotoHydrated(page, membersPath);
  await page.getByLabel("Email").fill(lone);
  await page.getByRole("button", { name: "Add member" }).click();
  await memberRow(page, lone).getByRole("link", { name: /^Remove/ }).click();
  await expect(confirm.getByTestId("member-keys-none")).toBeVisible();
  await expect(confirm.getByRole("radio")).toHaveCount(0);
  await confirm.getByRole("link", { name: "Cancel" }).click();
  await expect(page).toHaveURL(new RegExp(`${membersPath}$`));
  await expect(memberRow(page, lone)).toBeVisible();
  await loneContext.close();
});

test("pages run under a CSP without 'unsafe-inline' scripts and still hydrate", async ({ browser }) => {
  const context = await newContext(browser);
  await recordCspViolations(context);
  const page = await context.newPage();
  await signUp(page, uniqueEmail("csp"), "Cora Csp");
  await page.getByLabel("Organization name").fill("Policy Org");
  await page.getByRole("button", { name: "Create organization" }).click();
  await expect(page).toHaveURL(/\/settings$/);
  const settings = new URL(page.url()).pathname;
  for (const path of ["/", "/orgs", settings, `${settings}/members`, `${settings}/keys`, "/no/such/page"]) {
    const response = await gotoHydrated(page, path);
    const csp = response!.headers()["content-security-policy"];
    const scriptSrc = csp.split(";").map((d) => d.trim()).find((d) => d.startsWith("script-src "))!;
    expect(scriptSrc).not.toContain("'unsafe-inline'");
    expect(scriptSrc).toMatch(/'nonce-[A-Za-z0-9_-]{16,}'/);
    expect(await cspViolations(page), path).toEqual([]);
  }
  // Client-side navigation and a dialog, with the policy in force.
  await gotoHydrated(page, settings);
  await page.getByRole("link", { name: "API keys" }).click();
  await createKey(page, "CSP key", "30");
  expect(await cspViolations(page)).toEqual([]);
  await context.close();
});
