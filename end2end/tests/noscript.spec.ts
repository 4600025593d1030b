import { expect } from "@playwright/test";
import { PASSWORD, test, uniqueEmail } from "./helpers";

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

  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Display name").fill(name);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/orgs$/);
  await expect(page.getByTestId("user-name")).toHaveText(name);

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
