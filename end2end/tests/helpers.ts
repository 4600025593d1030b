import { expect, type Browser, type BrowserContext, type Page } from "@playwright/test";

export const PASSWORD = "correct horse battery staple";

/** A unique email per run, so tests never depend on each other's accounts. */
export function uniqueEmail(name: string): string {
  return `${name}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** Loads a page and waits until the wasm app has hydrated it. */
export async function gotoHydrated(page: Page, path: string) {
  const response = await page.goto(path);
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  return response;
}

/** A browser context that may read and write the clipboard, failing on any page error. */
export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ permissions: ["clipboard-read", "clipboard-write"] });
  context.on("page", (page) => watchErrors(page));
  return context;
}

export function watchErrors(page: Page) {
  page.on("pageerror", (error) => {
    throw new Error(`page error on ${page.url()}: ${error.message}`);
  });
}

export async function signUp(page: Page, email: string, name: string) {
  await gotoHydrated(page, "/signup");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Display name").fill(name);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/orgs$/);
  await expect(page.getByTestId("user-name")).toHaveText(name);
}

export async function logIn(page: Page, email: string, password = PASSWORD) {
  await gotoHydrated(page, "/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}
