import { expect, type Route } from "@playwright/test";
import { createKey, gotoHydrated, newContext, orgWith, PASSWORD, signUp, test, uniqueEmail, waitHydrated } from "./helpers";

// Issue 28: the account forms are plain HTML forms first. Without the page's script (turned
// off, or its bundle not loaded) they post to the server, and a refusal comes back on the
// same page beside its field, with what was typed kept (never the password).

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

test("with JavaScript off, a developer pauses, resumes and revokes a key, each on a page of its own", async ({ browser }) => {
  const { keysPath, pages } = await orgWith(browser, ["developer"]);
  await gotoHydrated(pages.developer, keysPath);
  await createKey(pages.developer, "Plain </textarea><h1>key", "30");
  const storageState = await pages.developer.context().storageState();
  const context = await browser.newContext({ javaScriptEnabled: false, storageState });
  const page = await context.newPage();
  await page.goto(keysPath);
  const row = page.locator("tr[data-testid=key-row]").filter({ hasText: "Plain </textarea><h1>key" });
  const keyId = await row.getAttribute("data-key-id");
  // Roll's reveal needs the script still: its button waits for it.
  await expect(row.getByRole("button", { name: /^Roll key/ })).toBeDisabled();

  await row.getByRole("button", { name: /^Pause key/ }).click();
  await expect(page).toHaveURL(new RegExp(`/keys/${keyId}/confirm\\?action=pause$`));
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Pause “Plain </textarea><h1>key”?");
  await page.getByLabel("Pause", { exact: true }).selectOption("3600");
  await page.getByRole("button", { name: "Pause key" }).click();
  await expect(page).toHaveURL(new RegExp(`${keysPath}$`));
  await expect(row).toHaveAttribute("data-status", "paused");

  await row.getByRole("button", { name: /^Resume key/ }).click();
  await page.getByRole("button", { name: "Resume key" }).click();
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

  // Refused (a revoked key does not pause): the reason on the same page.
  await page.goto(`${keysPath}/${keyId}/confirm?action=pause`);
  await page.getByRole("button", { name: "Pause key" }).click();
  await expect(page).toHaveURL(new RegExp(`/keys/${keyId}/confirm\\?action=pause$`));
  await expect(page.getByRole("alert")).toContainText(/revoked/i);
  // An action no page confirms is not found.
  const unknown = await page.goto(`${keysPath}/${keyId}/confirm?action=roll`);
  expect(unknown?.status()).toBe(404);
  await context.close();
});
