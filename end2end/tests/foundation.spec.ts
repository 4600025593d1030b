import { expect } from "@playwright/test";
import { PASSWORD, gotoHydrated, logIn, newContext, signUp, test, uniqueEmail, watchErrors } from "./helpers";

test("sign up, create an org, copy its ID, add a member who is denied the Members page, log out", async ({ browser }) => {
  // The future member signs up first, in a browser of their own.
  const memberContext = await newContext(browser);
  const memberPage = await memberContext.newPage();
  const memberEmail = uniqueEmail("member");
  await signUp(memberPage, memberEmail, "Mia Member");

  const ownerContext = await newContext(browser);
  const page = await ownerContext.newPage();
  await signUp(page, uniqueEmail("owner"), "Olga Owner");
  await expect(page.getByTestId("no-orgs")).toBeVisible();

  // Create an organization: validation first, then the real thing.
  await page.getByLabel("Organization name").fill("   ");
  await page.getByRole("button", { name: "Create organization" }).click();
  await expect(page.getByText("Organization name is required.")).toBeVisible();
  await page.getByLabel("Organization name").fill("Acme Rockets");
  await page.getByRole("button", { name: "Create organization" }).click();
  await expect(page).toHaveURL(/\/orgs\/org_[0-9A-Za-z]+\/settings$/);
  await expect(page.getByRole("heading", { name: "Acme Rockets" })).toBeVisible();

  // Copy the organization ID, by keyboard, and compare the clipboard with the page.
  const orgId = (await page.getByTestId("org-id").textContent())!.trim();
  expect(orgId).toMatch(/^org_[0-9A-Za-z]{22}$/);
  expect(page.url()).toContain(orgId);
  const copy = page.getByRole("button", { name: "Copy organization ID" });
  await copy.focus();
  await page.keyboard.press("Enter");
  await expect(copy).toHaveText("Copied");
  await expect(page.getByRole("status").filter({ hasText: "Copied to clipboard" })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(orgId);

  // Add the member: an unknown email first, then theirs.
  await page.getByRole("link", { name: "Members" }).click();
  await expect(page.getByRole("heading", { name: "Members" })).toBeVisible();
  await page.getByLabel("Email").fill("nobody-here@example.com");
  await page.getByRole("button", { name: "Add member" }).click();
  await expect(page.getByText(/No Keygate account uses nobody-here@example.com/)).toBeVisible();
  await page.getByLabel("Email").fill(memberEmail);
  await page.getByLabel("Role", { exact: true }).selectOption("member");
  await page.getByRole("button", { name: "Add member" }).click();
  const row = page.locator(`tr[data-email="${memberEmail}"]`);
  await expect(row).toBeVisible();
  await expect(row.getByRole("combobox")).toHaveValue("member");

  // The last owner cannot demote themselves.
  const ownerRow = page.locator("tr[data-testid=member-row]").filter({ hasText: "Olga Owner" });
  await ownerRow.getByRole("combobox").selectOption("admin");
  await expect(page.getByText(/needs at least one owner/)).toBeVisible();
  await expect(ownerRow.getByRole("combobox")).toHaveValue("owner");

  // The member sees the org and its ID, but is denied the Members page.
  await gotoHydrated(memberPage, `/orgs/${orgId}/settings`);
  await expect(memberPage.getByTestId("org-id")).toHaveText(orgId);
  await expect(memberPage.getByRole("link", { name: "Members" })).toHaveCount(0);
  const denied = await gotoHydrated(memberPage, `/orgs/${orgId}/settings/members`);
  expect(denied?.status()).toBe(403);
  await expect(memberPage.getByTestId("access-denied")).toBeVisible();
  await expect(memberPage.getByRole("heading", { name: "Access denied" })).toBeVisible();
  await expect(memberPage.getByTestId("members")).toHaveCount(0);

  // Log out: back to the login page, and the org is no longer reachable.
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await gotoHydrated(page, "/orgs");
  await expect(page).toHaveURL(/\/login$/);

  await memberContext.close();
  await ownerContext.close();
});

test("a wrong password and an unknown email show the same generic error", async ({ browser }) => {
  const context = await newContext(browser);
  const page = await context.newPage();
  const email = uniqueEmail("ada");
  await signUp(page, email, "Ada");
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  await logIn(page, email, "not my password");
  const alert = page.getByRole("alert").filter({ hasText: "Incorrect email or password." });
  await expect(alert).toBeVisible();
  const wrongPassword = await alert.textContent();

  await logIn(page, uniqueEmail("nobody"), "not my password");
  await expect(alert).toBeVisible();
  expect(await alert.textContent()).toBe(wrongPassword);
  await expect(page).toHaveURL(/\/login$/);

  await logIn(page, email, PASSWORD);
  await expect(page).toHaveURL(/\/orgs$/);
  await context.close();
});

test("sign-up errors appear next to their fields", async ({ page }) => {
  watchErrors(page);
  await gotoHydrated(page, "/signup");
  await page.getByLabel("Email").fill("not-an-email");
  await page.getByLabel("Display name").fill("Ada");
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator("#field-email-error")).toHaveText(/valid email address/);
  await expect(page.getByLabel("Email")).toHaveAttribute("aria-invalid", "true");

  await page.getByLabel("Email").fill(uniqueEmail("ada"));
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator("#field-password-error")).toHaveText("Use at least 8 characters.");
  await expect(page).toHaveURL(/\/signup$/);
});

test("every page hydrates, and unknown pages are a 404 distinct from access denied", async ({ browser }) => {
  const context = await newContext(browser);
  const page = await context.newPage();
  for (const path of ["/", "/login", "/signup"]) {
    const response = await gotoHydrated(page, path);
    expect(response?.status(), path).toBe(200);
  }
  await signUp(page, uniqueEmail("hydra"), "Hydra");
  await page.getByLabel("Organization name").fill("Hydration Ltd");
  await page.getByRole("button", { name: "Create organization" }).click();
  await expect(page).toHaveURL(/\/settings$/);
  const orgPath = new URL(page.url()).pathname;
  for (const path of ["/orgs", orgPath, `${orgPath}/members`, `${orgPath}/keys`]) {
    const response = await gotoHydrated(page, path);
    expect(response?.status(), path).toBe(200);
  }
  for (const path of ["/orgs/org_0000000000000000000000/settings", "/no/such/page"]) {
    const response = await gotoHydrated(page, path);
    expect(response?.status(), path).toBe(404);
    await expect(page.getByTestId("not-found")).toBeVisible();
    await expect(page.getByTestId("access-denied")).toHaveCount(0);
  }
  await context.close();
});
