// What the screenshot scripts (shots-*.mjs) share.
export const password = "correct horse battery staple";

/** Signs a new account up at `base` and waits for its organizations page. */
export async function signUp(page, base, email, name) {
  await page.goto(`${base}/signup`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Display name").fill(name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(/\/orgs$/);
}

/** Copies the key a dialog reveals, then closes it with Done. */
export async function copyAndClose(page) {
  const dialog = page.getByRole("dialog");
  await dialog.getByTestId("secret").waitFor();
  await dialog.getByRole("button", { name: "Copy API key" }).click();
  await dialog.getByRole("link", { name: "Done" }).click();
  await dialog.waitFor({ state: "hidden" });
}
