import { test as base, expect, type Browser, type BrowserContext, type Page } from "@playwright/test";

export const PASSWORD = "correct horse battery staple";

/** A unique email per run, so tests never depend on each other's accounts. */
export function uniqueEmail(name: string): string {
  return `${name}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** Loads a page and waits until its islands (the wasm) are hydrated. A page that never
 * hydrates fails with the console errors that say why (a blocked script, a panic). */
export async function gotoHydrated(page: Page, path: string) {
  const response = await page.goto(path);
  await waitHydrated(page, path);
  return response;
}

/** Waits until the page's islands are hydrated: after a change that loads the page again
 * (the page drops `data-hydrated` first), until the new page is live. */
export async function waitHydrated(page: Page, what = page.url()) {
  try {
    await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  } catch (error) {
    const errors = consoleErrors.get(page) ?? ["(console not watched: use newContext)"];
    throw new Error(`${what} never hydrated; console errors: ${errors.join(" | ") || "none"}\n${error}`);
  }
}

const consoleErrors = new WeakMap<Page, string[]>();

/** Every console error of the pages watched during the current test, with its page. */
const watchedErrors: string[][] = [];

/** Console errors a page may log when all is well: Chromium's own line for an answer in
 * the 4xx range, which tests ask for on purpose (a refused server function, a 404 page,
 * a rate limit) and the app shows as a message. Anything else (a panic, a blocked
 * script, a 5xx answer) is a fault. */
const EXPECTED_CONSOLE_ERRORS = [/^Failed to load resource: the server responded with a status of 4\d\d\b/];

/** Playwright's `test`, failing any test during which a watched page (every page of a
 * `newContext` context, and any page given to `watchErrors`) logged a console error not
 * in `EXPECTED_CONSOLE_ERRORS`. Specs import `test` from here. */
export const test = base.extend<{ noUnexpectedConsoleErrors: void }>({
  noUnexpectedConsoleErrors: [
    async ({}, use) => {
      watchedErrors.length = 0;
      await use();
      const unexpected = watchedErrors
        .flat()
        .filter((error) => !EXPECTED_CONSOLE_ERRORS.some((expected) => expected.test(error.replace(/^.*? logged: /, ""))));
      watchedErrors.length = 0;
      expect(unexpected, "console errors on the test's pages").toEqual([]);
    },
    { auto: true },
  ],
});

/** A browser context that may read and write the clipboard, failing on any page error. */
export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ permissions: ["clipboard-read", "clipboard-write"] });
  context.on("page", (page) => watchErrors(page));
  return context;
}

export function watchErrors(page: Page) {
  const errors: string[] = [];
  consoleErrors.set(page, errors);
  const logged: string[] = [];
  watchedErrors.push(logged);
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    errors.push(message.text());
    logged.push(`${page.url()} logged: ${message.text()}`);
  });
  page.on("pageerror", (error) => {
    throw new Error(`page error on ${page.url()}: ${error.message}`);
  });
}

/** Records every Content-Security-Policy violation of the pages of `context` in
 * `window.__cspViolations`, to be read with `cspViolations`. */
export async function recordCspViolations(context: BrowserContext) {
  await context.addInitScript(() => {
    (window as any).__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      (window as any).__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
}

export async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as any).__cspViolations ?? ["not recorded"]);
}

/** Signs a new user up; `script: false` for a page without script (not waited for). */
export async function signUp(page: Page, email: string, name: string, { script = true } = {}) {
  if (script) await gotoHydrated(page, "/signup");
  else await page.goto("/signup");
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

/** An owner creates an org and adds `role` users; returns the org's keys URL and pages. */
export async function orgWith(browser: Browser, roles: string[]) {
  const pages: Record<string, Page> = {};
  const emails: Record<string, string> = {};
  for (const role of roles) {
    const context = await newContext(browser);
    pages[role] = await context.newPage();
    emails[role] = uniqueEmail(role);
    await signUp(pages[role], emails[role], `${role[0].toUpperCase()}${role.slice(1)} Person`);
  }
  const ownerContext = await newContext(browser);
  const owner = await ownerContext.newPage();
  await signUp(owner, uniqueEmail("owner"), "Owner Person");
  await owner.getByLabel("Organization name").fill("Key Corp");
  await owner.getByRole("button", { name: "Create organization" }).click();
  await expect(owner).toHaveURL(/\/settings$/);
  const settings = new URL(owner.url()).pathname;
  for (const role of roles) {
    await gotoHydrated(owner, `${settings}/members`);
    await owner.getByLabel("Email").fill(emails[role]);
    await owner.getByLabel("Role", { exact: true }).selectOption(role);
    await owner.getByRole("button", { name: "Add member" }).click();
    // Added, the page loads again with them in the table.
    await waitHydrated(owner);
    await expect(owner.locator(`tr[data-email="${emails[role]}"]`)).toBeVisible();
    await expect(owner.getByLabel("Email")).toHaveValue("");
  }
  return { keysPath: `${settings}/keys`, membersPath: `${settings}/members`, owner, pages, emails };
}

export const KEY_PATTERN = /^kg_[0-9A-Za-z]{49}$/;

/** Creates a key through the dialog and returns the revealed secret, after closing it with
 * "Done" or with Escape. */
export async function createKey(page: Page, name: string, expiry: string, customDate?: string, close: "done" | "escape" = "done") {
  await page.getByRole("link", { name: "Create key", exact: true }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toBeVisible();
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByLabel("Expiration").selectOption(expiry);
  if (customDate) await dialog.getByLabel("Expiry date").fill(customDate);
  await expect(dialog.getByTestId("expiry-preview")).toContainText(expiry === "never" ? "never expire" : "will expire on");
  await dialog.getByRole("button", { name: "Create key" }).click();
  const secretLocator = dialog.getByTestId("secret");
  await expect(secretLocator).toBeVisible();
  const secret = (await secretLocator.textContent())!.trim();
  expect(secret).toMatch(KEY_PATTERN);
  await expect(dialog.getByText("You will not be able to see it again.")).toBeVisible();
  const copy = dialog.getByRole("button", { name: "Copy API key" });
  await copy.click();
  await expect(copy).toHaveText("Copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  if (close === "done") await dialog.getByRole("link", { name: "Done" }).click();
  else await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  // Closing drops the key from the page at once; the page then loads again to list it,
  // and the new one does not have it either.
  await expect(page.getByTestId("secret")).toHaveCount(0);
  await waitHydrated(page);
  expect(await page.content()).not.toContain(secret);
  return secret;
}
