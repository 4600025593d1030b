import { expect, type Browser, type Page, type Route } from "@playwright/test";
import { newContext, orgWith, PASSWORD, signUp, test, uniqueEmail, waitHydrated } from "./helpers";

// Issue 28: the account forms are plain HTML forms first. Without the page's script (turned
// off, or its bundle not loaded) they post to the server, and a refusal comes back on the
// same page beside its field, with what was typed kept (never the password).

/** A page with JavaScript off, logged in as whoever `as` is. */
async function withoutScript(browser: Browser, as: Page) {
  const storageState = await as.context().storageState();
  const context = await browser.newContext({ javaScriptEnabled: false, storageState });
  return { context, page: await context.newPage() };
}

test("with JavaScript off, a new user signs up past a refusal, logs out and logs in again", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const email = uniqueEmail("noscript");
  const name = "</textarea><h1>Ada";

  await page.goto("/signup");
  await page.getByLabel("Email").fill("not-an-email");
  await page.getByLabel("Display name").fill(name);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/signup$/);
  await expect(page.locator("#field-email-error")).toHaveText(/valid email address/);
  await expect(page.locator("#field-email")).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator("#field-email")).toHaveValue("not-an-email");
  await expect(page.locator("#field-display_name")).toHaveValue(name);
  await expect(page.locator("#field-password")).toHaveValue("");
  // What was typed is a value, never markup.
  await expect(page.locator("h1")).toHaveCount(1);

  // Shown once: loading the page again shows the form as new.
  await page.reload();
  await expect(page.locator("#field-email-error")).toHaveText("");
  await expect(page.locator("#field-email")).toHaveValue("");

  await signUp(page, email, name, { script: false });

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByTestId("user-name")).toHaveCount(0);

  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("alert")).toHaveText("Incorrect email or password.");
  await expect(page.locator("#field-email")).toHaveValue(email);
  await expect(page.locator("#field-password")).toHaveValue("");

  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/orgs$/);
  await expect(page.getByTestId("user-name")).toHaveText(name);
  await context.close();
});

test("a page whose bundle answers 404 still signs a new user up", async ({ browser }) => {
  const context = await browser.newContext();
  await context.route("**/pkg/**", (route) => route.fulfill({ status: 404, body: "" }));
  const page = await context.newPage();
  await page.goto("/signup");
  await page.getByLabel("Email").fill(uniqueEmail("nobundle"));
  await page.getByLabel("Display name").fill("Bundle-less Bea");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/orgs$/);
  await expect(page.getByTestId("user-name")).toHaveText("Bundle-less Bea");
  await context.close();
});

test("a form sent before the page was live comes back refused on a page that then hydrates", async ({ browser }) => {
  // A slow phone: the first page's bundle has not arrived when the form is sent. (Watched:
  // a page that fails to go live fails the test with the console's errors.)
  const context = await newContext(browser);
  const held: Route[] = [];
  await context.route("**/pkg/**", (route) => {
    held.push(route);
  });
  const page = await context.newPage();
  await page.goto("/signup", { waitUntil: "commit" });
  await page.getByLabel("Email").fill("not-an-email");
  await page.getByLabel("Display name").fill("Early Eve");
  await page.getByLabel("Password").fill(PASSWORD);
  expect(await page.locator("body").getAttribute("data-hydrated")).toBeNull();
  await context.unroute("**/pkg/**");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/signup$/);
  await Promise.all(held.map((route) => route.abort().catch(() => {})));
  // The refusal the server rendered is there, and the page goes live.
  await expect(page.locator("#field-email-error")).toHaveText(/valid email address/);
  await expect(page.locator("#field-email")).toHaveValue("not-an-email");
  await waitHydrated(page);
  // Now the script sends the form in place: the next refusal comes without a page load.
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
  await page.getByLabel("Email").fill(uniqueEmail("early"));
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator("#field-password-error")).not.toHaveText("");
  await expect(page.locator("#field-email-error")).toHaveText("");
  expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
  await context.close();
});

test("with JavaScript off, an owner makes organizations, renames one, switches, and adds, promotes and removes a member", async ({ browser }) => {
  const memberContext = await browser.newContext({ javaScriptEnabled: false });
  const memberEmail = uniqueEmail("noscript-member");
  await signUp(await memberContext.newPage(), memberEmail, "Mo Member", { script: false });
  await memberContext.close();

  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const ownerEmail = uniqueEmail("noscript-owner");
  await signUp(page, ownerEmail, "Olu Owner", { script: false });

  // Refused, then made.
  await page.getByRole("button", { name: "Create organization" }).click();
  await expect(page).toHaveURL(/\/orgs$/);
  await expect(page.locator("#field-name-error")).not.toHaveText("");
  await expect(page.locator("#field-name")).toHaveAttribute("aria-invalid", "true");
  await page.getByLabel("Organization name").fill("First </textarea><h1>");
  await page.getByRole("button", { name: "Create organization" }).click();
  await expect(page).toHaveURL(/\/orgs\/org_[0-9A-Za-z]+\/settings$/);
  const first = page.url().match(/orgs\/(org_[0-9A-Za-z]+)/)![1];
  await expect(page.locator("h1")).toHaveText("First </textarea><h1>");

  // Renamed: a refusal keeps what was typed, then the page shows the new name.
  await page.getByLabel("Organization name").fill("");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#field-name-error")).not.toHaveText("");
  await page.getByLabel("Organization name").fill("First Renamed");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page).toHaveURL(new RegExp(`/orgs/${first}/settings$`));  // (no stray "?")
  await expect(page.locator("h1")).toHaveText("First Renamed");

  await page.goto("/orgs");
  await page.getByLabel("Organization name").fill("Second");
  await page.getByRole("button", { name: "Create organization" }).click();
  await expect(page.locator("h1")).toHaveText("Second");

  // The switcher keeps the section: from Second's members to First's.
  await page.goto(page.url() + "/members");
  await page.getByTestId("org-switcher").selectOption(first);
  await page.getByRole("button", { name: "Switch" }).click();
  await expect(page).toHaveURL(new RegExp(`/orgs/${first}/settings/members$`));

  // Adding: an unknown email is refused beside its field with the chosen role kept.
  await page.getByLabel("Email").fill("nobody-" + memberEmail);
  await page.getByLabel("Role", { exact: true }).selectOption("developer");
  await page.getByRole("button", { name: "Add member" }).click();
  await expect(page.locator("#field-email-error")).toHaveText(/No Keygate account uses/);
  await expect(page.locator("#field-email")).toHaveValue("nobody-" + memberEmail);
  await expect(page.getByLabel("Role", { exact: true })).toHaveValue("developer");
  await page.getByLabel("Email").fill(memberEmail);
  await page.getByRole("button", { name: "Add member" }).click();
  await expect(page).toHaveURL(new RegExp(`/orgs/${first}/settings/members$`));
  await expect(page.getByTestId("members")).toContainText("Mo Member");
  await expect(page.getByLabel("Role of Mo Member")).toHaveValue("developer");

  // A role, without script: the row's Save button posts it.
  const row = (email: string) => page.locator(`tr[data-email="${email}"]`);
  await page.getByLabel("Role of Mo Member").selectOption("admin");
  await row(memberEmail).getByRole("button", { name: "Save" }).click();
  await expect(page).toHaveURL(new RegExp(`/orgs/${first}/settings/members$`));
  await expect(page.getByLabel("Role of Mo Member")).toHaveValue("admin");
  // Refused (the last owner): the reason in that row only, the role as it was.
  await page.getByLabel("Role of Olu Owner").selectOption("member");
  await row(ownerEmail).getByRole("button", { name: "Save" }).click();
  await expect(row(ownerEmail).getByRole("alert")).toContainText(/at least one owner/);
  await expect(row(memberEmail).getByRole("alert")).toBeHidden();
  await expect(page.getByLabel("Role of Olu Owner")).toHaveValue("owner");

  // Removed, on a page of its own.
  await page.getByRole("link", { name: "Remove Mo Member" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Remove Mo Member?");
  await page.getByRole("button", { name: "Remove member" }).click();
  await expect(page).toHaveURL(new RegExp(`/orgs/${first}/settings/members$`));
  await expect(row(memberEmail)).toHaveCount(0);
  await context.close();
});

test("with JavaScript off, a developer creates a key, copies it by selecting, rolls it with an overlap, pauses, resumes and revokes it", async ({ browser }) => {
  const { keysPath, pages } = await orgWith(browser, ["developer"]);
  const { context, page } = await withoutScript(browser, pages.developer);
  const name = "Plain </textarea><h1>key";
  const works = async (key: string) =>
    (await fetch(new URL("/api/v1/whoami", page.url()), { headers: { "x-api-key": key } })).status;
  await page.goto(keysPath);

  // Created on a page of its own, past a refusal that keeps what was typed.
  await page.getByRole("link", { name: "Create your first key" }).click();
  await expect(page).toHaveURL(new RegExp(`${keysPath}/new$`));
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Create an API key");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Expiration").selectOption("7");
  await page.getByRole("checkbox", { name: /gateway/ }).uncheck();
  await page.getByRole("button", { name: "Create key" }).click();
  await expect(page).toHaveURL(new RegExp(`${keysPath}/new$`));
  await expect(page.getByText("Choose at least one scope.")).toBeVisible();
  await expect(page.getByLabel("Name", { exact: true })).toHaveValue(name);
  await expect(page.getByLabel("Expiration")).toHaveValue("7");
  await page.getByRole("checkbox", { name: /gateway/ }).check();
  await page.getByRole("button", { name: "Create key" }).click();

  // Shown once, in the answer: one click selects the whole key.
  const reveal = page.getByTestId("reveal");
  await expect(reveal.getByRole("heading")).toHaveText(`Your key “${name}”`);
  const secret = (await page.getByTestId("secret").textContent()) ?? "";
  expect(secret).toMatch(/^kg_/);
  await expect(page.getByTestId("secret")).toHaveCSS("user-select", "all");
  expect(await works(secret)).toBe(200);
  const row = page.locator("tr[data-testid=key-row]").filter({ hasText: name });
  await expect(row).toHaveAttribute("data-status", "active");
  await reveal.getByRole("link", { name: "Done" }).click();
  await expect(page).toHaveURL(new RegExp(`${keysPath}$`));
  await expect(page.getByTestId("reveal")).toHaveCount(0);
  await expect(page.getByText(secret)).toHaveCount(0);
  const keyId = await row.getAttribute("data-key-id");

  // Rolled with an hour's overlap: the new secret shown once, both working.
  await row.getByRole("button", { name: /^Roll key/ }).click();
  await expect(page).toHaveURL(new RegExp(`/keys/${keyId}/confirm\\?action=roll$`));
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`Roll “${name}”?`);
  await page.getByLabel("In 1 hour").check();
  await page.getByRole("button", { name: "Roll key" }).click();
  await expect(reveal.getByRole("heading")).toHaveText(`New secret for key “${name}”`);
  const rolled = (await page.getByTestId("secret").textContent()) ?? "";
  expect(rolled).toMatch(/^kg_/);
  expect(rolled).not.toBe(secret);
  expect(await works(rolled)).toBe(200);
  expect(await works(secret)).toBe(200);
  await reveal.getByRole("link", { name: "Done" }).click();
  await expect(row.getByRole("button", { name: /^End overlap now/ })).toBeVisible();

  await row.getByRole("button", { name: /^Pause key/ }).click();
  await expect(page).toHaveURL(new RegExp(`/keys/${keyId}/confirm\\?action=pause$`));
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`Pause “${name}”?`);
  await page.getByLabel("Pause", { exact: true }).selectOption("3600");
  await page.getByRole("button", { name: "Pause key" }).click();
  await expect(page).toHaveURL(new RegExp(`${keysPath}$`));
  await expect(row).toHaveAttribute("data-status", "paused");

  // Resuming asks nothing: the row's button posts it.
  await row.getByRole("button", { name: /^Resume key/ }).click();
  await expect(page).toHaveURL(new RegExp(`${keysPath}$`));
  await expect(row).toHaveAttribute("data-status", "active");

  // Cancel changes nothing.
  await row.getByRole("button", { name: /^Revoke key/ }).click();
  await expect(page.getByText("This cannot be undone.")).toBeVisible();
  await page.getByRole("link", { name: "Cancel" }).click();
  await expect(row).toHaveAttribute("data-status", "active");
  await row.getByRole("button", { name: /^Revoke key/ }).click();
  await page.getByRole("button", { name: "Revoke key" }).click();
  await expect(page).toHaveURL(new RegExp(`${keysPath}$`));
  await expect(row).toHaveAttribute("data-status", "revoked");
  expect(await works(rolled)).toBe(401);

  // Refused (a revoked key does not pause): the reason on the same page.
  await page.goto(`${keysPath}/${keyId}/confirm?action=pause`);
  await page.getByRole("button", { name: "Pause key" }).click();
  await expect(page).toHaveURL(new RegExp(`/keys/${keyId}/confirm\\?action=pause$`));
  await expect(page.getByRole("alert")).toContainText(/revoked/i);
  // An action there is none of is not found.
  const unknown = await page.goto(`${keysPath}/${keyId}/confirm?action=delete`);
  expect(unknown?.status()).toBe(404);
  await context.close();
});

test("with JavaScript off, an owner adds a webhook endpoint past a refusal, sees its secret once, tests and deletes it", async ({ browser }) => {
  const { keysPath, owner } = await orgWith(browser, []);
  const { context, page } = await withoutScript(browser, owner);
  const webhooksPath = keysPath.replace(/\/keys$/, "/webhooks");
  await page.goto(webhooksPath);
  const url = "http://127.0.0.1:9/hooks?</textarea><h1>";

  // Refused: no event ticked. What was typed comes back beside the refusal.
  await page.getByLabel("Endpoint URL").fill(url);
  for (const box of await page.getByRole("checkbox").all()) await box.uncheck();
  await page.getByRole("button", { name: "Add endpoint" }).click();
  await expect(page).toHaveURL(new RegExp(`${webhooksPath}$`));
  await expect(page.locator("#webhook-events-error")).not.toBeEmpty();
  await expect(page.getByLabel("Endpoint URL")).toHaveValue(url);
  await expect(page.getByTestId("endpoints")).toHaveCount(0);

  await page.getByRole("checkbox", { name: /key\.revoked/ }).check();
  await page.getByRole("button", { name: "Add endpoint" }).click();
  const secret = page.getByTestId("webhook-secret-value");
  await expect(secret).toHaveText(/^whsec_/);
  const shown = (await secret.textContent()) ?? "";
  const endpoint = page.getByTestId("endpoint").filter({ hasText: "127.0.0.1:9" });
  await expect(endpoint).toContainText("key.revoked");
  await page.goto(webhooksPath);
  await expect(page.getByTestId("webhook-secret")).toHaveCount(0);
  expect(await page.content()).not.toContain(shown);

  await endpoint.getByRole("button", { name: /^Send a test event/ }).click();
  await expect(page.getByTestId("webhook-notice")).toHaveText("Test event queued. Its delivery appears below.");
  await expect(page.getByTestId("deliveries")).toContainText("webhook.test");

  // The question opens in place without script; then the endpoint goes.
  await endpoint.getByText("Delete", { exact: true }).click();
  await expect(endpoint.getByText("Delete this endpoint?")).toBeVisible();
  await endpoint.getByRole("button", { name: "Delete endpoint" }).click();
  await expect(page.getByTestId("webhook-notice")).toHaveText("Deleted the endpoint.");
  await expect(page.getByTestId("endpoint")).toHaveCount(0);
  await context.close();
});

test("with JavaScript off, a key's page, the key policy and the permission catalog save past a refusal and say so", async ({ browser }) => {
  const { keysPath, owner } = await orgWith(browser, []);
  const { context, page } = await withoutScript(browser, owner);
  const settings = keysPath.replace(/\/keys$/, "");

  await page.goto(`${keysPath}/new`);
  await page.getByLabel("Name", { exact: true }).fill("Limited");
  await page.getByRole("button", { name: "Create key" }).click();
  await page.getByTestId("reveal").getByRole("link", { name: "Done" }).click();
  await page.locator("tr[data-testid=key-row]").filter({ hasText: "Limited" }).getByRole("link", { name: "Limited" }).click();
  const keyPath = new URL(page.url()).pathname;

  // The rate limit: refused beside its field with the value kept, then saved, then removed.
  const limit = page.getByTestId("rate-limit-form");
  await limit.getByLabel("Requests").fill("2000000");
  await limit.getByRole("button", { name: "Save limit" }).click();
  await expect(page).toHaveURL(new RegExp(`${keyPath}$`));
  await expect(page.locator("#rate-limit-error")).toContainText("between 1 and 1000000");
  await expect(limit.getByLabel("Requests")).toHaveAttribute("aria-invalid", "true");
  await expect(limit.getByLabel("Requests")).toHaveValue("2000000");
  await limit.getByLabel("Requests").fill("10");
  await limit.getByLabel("Per").selectOption("second");
  await limit.getByRole("button", { name: "Save limit" }).click();
  await expect(page.getByTestId("rate-limit-saved")).toHaveText("Saved: at most 10 per second.");
  await expect(page.getByTestId("key-rate-limit")).toHaveText("10 per second");
  await limit.getByRole("button", { name: "Remove limit" }).click();
  await expect(page.getByTestId("rate-limit-saved")).toHaveText("Saved: no rate limit.");
  // Shown once: the next view of the page has no note.
  await page.reload();
  await expect(page.getByTestId("rate-limit-saved")).toBeEmpty();

  // Tags: a refusal keeps what was typed, escaped.
  const tags = page.getByTestId("context-form");
  await tags.getByLabel("Tags").fill("</textarea><h1>");
  await tags.getByRole("button", { name: /^Save tags/ }).click();
  await expect(page.locator("#key-tags-error")).not.toBeEmpty();
  await expect(tags.getByLabel("Tags")).toHaveValue("</textarea><h1>");
  await expect(tags.locator("h1")).toHaveCount(0);

  // The key policy.
  await page.goto(`${settings}/policy`);
  await page.getByLabel("Maximum lifetime of a new key, in days").fill("100000");
  await page.getByRole("button", { name: "Save policy" }).click();
  await expect(page.locator("#field-max_days-error")).not.toBeEmpty();
  await expect(page.getByLabel("Maximum lifetime of a new key, in days")).toHaveValue("100000");
  await page.getByLabel("Maximum lifetime of a new key, in days").fill("90");
  await page.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByTestId("policy-saved")).toHaveText("Saved.");
  await expect(page.getByTestId("policy-summary")).toContainText("90 days");

  // The permission catalog.
  await page.goto(`${settings}/permissions`);
  const form = page.getByTestId("permission-form");
  await form.getByLabel("Name").fill("Invoices Read");
  await form.getByRole("button", { name: "Save permission" }).click();
  await expect(page.locator("#field-name-error")).toContainText("resource:action");
  await expect(form.getByLabel("Name")).toHaveValue("Invoices Read");
  await form.getByLabel("Name").fill("invoices:read");
  await form.getByLabel("Description").fill("Read invoices");
  await form.getByRole("button", { name: "Save permission" }).click();
  await expect(page.getByTestId("permission-list")).toContainText("invoices:read");
  await expect(form.getByRole("status")).toHaveText("Saved.");
  await context.close();
});
