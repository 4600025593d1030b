import { expect, type Page } from "@playwright/test";
import { KEY_PATTERN, createKey, gotoHydrated, newContext, orgWith, signUp, test, uniqueEmail } from "./helpers";


function row(page: Page, name: string) {
  return page.locator("tr[data-testid=key-row]").filter({ hasText: name });
}

function isoDate(daysFromNow: number) {
  const d = new Date(Date.now() + daysFromNow * 86_400_000);
  return d.toISOString().slice(0, 10);
}

test("a developer creates keys with each kind of expiry, sees each once, and then only hints", async ({ browser }) => {
  const { keysPath, pages } = await orgWith(browser, ["developer"]);
  const page = pages.developer;
  await gotoHydrated(page, keysPath);
  await expect(page.getByTestId("keys-empty")).toBeVisible();

  const preset = await createKey(page, "Preset key", "7");
  const custom = await createKey(page, "Custom key", "custom", isoDate(45));
  const forever = await createKey(page, "Forever key", "never", undefined, "escape");

  await page.reload();
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  const html = await page.content();
  for (const secret of [preset, custom, forever]) {
    expect(html).not.toContain(secret);
    expect(html).toContain(`${secret.slice(0, 7)}…`);
  }
  await expect(row(page, "Preset key")).toContainText("in 6 days");
  await expect(row(page, "Custom key")).toContainText(/in 4[45] days/);
  await expect(row(page, "Forever key")).toContainText("Never");
  await expect(row(page, "Forever key")).toContainText("never"); // last used
  await expect(row(page, "Forever key").getByTestId("key-status")).toHaveText("Active");
  await expect(row(page, "Forever key")).toContainText("by Developer Person");
  await expect(page.getByTestId("activity")).toContainText("Developer Person created key “Forever key”");
});

test("the create dialog validates names and custom dates inline", async ({ browser }) => {
  const { keysPath, owner } = await orgWith(browser, []);
  await gotoHydrated(owner, keysPath);
  await owner.getByRole("link", { name: "Create key", exact: true }).click();
  const dialog = owner.getByRole("dialog");
  await dialog.getByLabel("Name").fill("    ");
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(dialog.locator("#key-name-error")).toHaveText("Name is required.");
  await expect(dialog.getByLabel("Name")).toBeFocused();
  await dialog.getByLabel("Name").fill("x".repeat(101));
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(dialog.locator("#key-name-error")).toHaveText("Name must be at most 100 characters.");

  await dialog.getByLabel("Name").fill("Dated");
  await dialog.getByLabel("Expiration").selectOption("custom");
  await dialog.getByLabel("Expiry date").fill(isoDate(-2));
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(dialog.locator("#key-date-error")).toHaveText("Pick a date in the future.");
  await dialog.getByRole("link", { name: "Cancel" }).click();
  await expect(dialog).toBeHidden();
  await expect(owner.getByTestId("keys-empty")).toBeVisible();
});

test("revoke asks first and shows who revoked; roll reveals a new secret once", async ({ browser }) => {
  const { keysPath, owner } = await orgWith(browser, []);
  await gotoHydrated(owner, keysPath);
  const first = await createKey(owner, "Revoke me", "30");
  const second = await createKey(owner, "Roll me", "90");

  await row(owner, "Revoke me").getByRole("button", { name: "Revoke key Revoke me" }).click();
  const confirm = owner.getByRole("dialog");
  await expect(confirm.getByRole("heading", { name: "Revoke “Revoke me”?" })).toBeVisible();
  await confirm.getByRole("button", { name: "Revoke key" }).click();
  await expect(confirm).toBeHidden();
  await expect(row(owner, "Revoke me").getByTestId("key-status")).toHaveText("Revoked");
  await expect(row(owner, "Revoke me")).toContainText("by Owner Person on");
  await expect(row(owner, "Revoke me").getByRole("button", { name: /Revoke/ })).toHaveCount(0);

  await row(owner, "Roll me").getByRole("button", { name: "Roll key Roll me" }).click();
  await owner.getByRole("dialog").getByRole("button", { name: "Roll key" }).click();
  const reveal = owner.getByTestId("reveal");
  await expect(reveal).toBeVisible();
  const rolled = (await reveal.getByTestId("secret").textContent())!.trim();
  expect(rolled).toMatch(KEY_PATTERN);
  expect(rolled).not.toBe(second);
  // Not copied: Done asks first.
  await reveal.getByRole("link", { name: "Done" }).click();
  await expect(reveal.getByTestId("close-anyway")).toContainText("You have not copied this key. Close anyway?");
  await reveal.getByRole("link", { name: "Close anyway" }).click();
  await expect(reveal).toBeHidden();
  await expect(row(owner, "Roll me")).toContainText(`${rolled.slice(0, 7)}…`);
  await expect(owner.getByTestId("activity")).toContainText("Owner Person rolled key “Roll me”");
  await expect(owner.getByTestId("activity")).toContainText("Owner Person revoked key “Revoke me”");
  expect(await owner.content()).not.toContain(first);
});

test("a member gets access denied on the API keys page, not a spinner or an empty table", async ({ browser }) => {
  const { keysPath, pages } = await orgWith(browser, ["member"]);
  const page = pages.member;
  const response = await gotoHydrated(page, keysPath);
  expect(response?.status()).toBe(403);
  await expect(page.getByTestId("access-denied")).toBeVisible();
  await expect(page.getByTestId("keys")).toHaveCount(0);
  await expect(page.getByTestId("keys-empty")).toHaveCount(0);
  await expect(page.getByRole("link", { name: "API keys" })).toHaveCount(0);
});

test("the create dialog works with the keyboard alone", async ({ browser }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  await gotoHydrated(page, keysPath);
  await page.getByRole("link", { name: "Create key", exact: true }).focus();
  await page.keyboard.press("Enter");
  // Focus moves into the dialog, onto the name field.
  await expect(page.getByRole("dialog").getByLabel("Name")).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(page.getByRole("dialog")).toBeHidden();
  // ...and back to the button that opened it.
  await expect(page.getByRole("link", { name: "Create key", exact: true })).toBeFocused();

  await page.keyboard.press("Enter");
  await page.keyboard.type("Keyboard key");
  await page.keyboard.press("Tab");
  await expect(page.getByRole("dialog").getByLabel("Expiration")).toBeFocused();
  // The scopes are checkboxes in tab order; Space toggles one.
  await page.keyboard.press("Tab");
  await expect(page.getByRole("dialog").getByRole("checkbox", { name: /gateway/ })).toBeFocused();
  await page.keyboard.press("Tab");
  const keysRead = page.getByRole("dialog").getByRole("checkbox", { name: /keys:read/ });
  await expect(keysRead).toBeFocused();
  await page.keyboard.press("Space");
  await expect(keysRead).toBeChecked();
  for (let i = 0; i < 3; i++) await page.keyboard.press("Shift+Tab");
  await expect(page.getByRole("dialog").getByLabel("Name")).toBeFocused();
  // Enter in the name field submits the form.
  await page.keyboard.press("Enter");
  const reveal = page.getByTestId("reveal");
  await expect(reveal).toBeVisible();
  const copy = reveal.getByRole("button", { name: "Copy API key" });
  for (let i = 0; i < 5 && !(await copy.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(copy).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(copy).toHaveText("Copied");
  await page.keyboard.press("Escape");
  await expect(page.getByRole("dialog")).toBeHidden();
  await expect(page.getByRole("link", { name: "Create key", exact: true })).toBeFocused();
  await expect(row(page, "Keyboard key")).toBeVisible();
  await expect(row(page, "Keyboard key").getByTestId("key-scopes")).toHaveText(/gateway\s*keys:read/);
});

test("switching organization never shows the other organization's keys, not even for a frame", async ({ browser }) => {
  const context = await newContext(browser);
  const page = await context.newPage();
  await signUp(page, uniqueEmail("switcher"), "Sam Switcher");
  const orgIds: string[] = [];
  for (const name of ["Alpha Org", "Beta Org"]) {
    await gotoHydrated(page, "/orgs");
    await page.getByLabel("Organization name").fill(name);
    await page.getByRole("button", { name: "Create organization" }).click();
    await expect(page).toHaveURL(/\/settings$/);
    const id = new URL(page.url()).pathname.split("/")[2];
    orgIds.push(id);
    await gotoHydrated(page, `/orgs/${id}/settings/keys`);
    await createKey(page, `${name} only key`, "30");
  }
  const [alpha, beta] = orgIds;
  await gotoHydrated(page, `/orgs/${alpha}/settings/keys`);
  await expect(row(page, "Alpha Org only key")).toBeVisible();
  await page.getByTestId("org-switcher").selectOption(beta);
  await expect(page).toHaveURL(new RegExp(`/orgs/${beta}/settings/keys$`));
  await expect(row(page, "Beta Org only key")).toBeVisible();
  await expect(row(page, "Alpha Org only key")).toHaveCount(0);
  // The switch loads the other organization's page from the server, a new document: no
  // frame can mix one organization's URL with the other's keys.
  await context.close();
});

test("a key created in the UI works against the API at once and stops right after it is revoked", async ({ browser, request }) => {
  const { keysPath, owner } = await orgWith(browser, []);
  await gotoHydrated(owner, keysPath);
  await owner.getByRole("link", { name: "Create key", exact: true }).click();
  const dialog = owner.getByRole("dialog");
  await dialog.getByLabel("Name").fill("API caller");
  // `gateway` is chosen by default; add `keys:read`.
  await expect(dialog.getByRole("checkbox", { name: /gateway/ })).toBeChecked();
  await dialog.getByRole("checkbox", { name: /keys:read/ }).check();
  await dialog.getByRole("button", { name: "Create key" }).click();
  const secret = (await dialog.getByTestId("secret").textContent())!.trim();
  expect(secret).toMatch(KEY_PATTERN);
  await dialog.getByRole("link", { name: "Done" }).click();
  await dialog.getByRole("link", { name: "Close anyway" }).click();
  await expect(dialog).toBeHidden();
  await expect(row(owner, "API caller").getByTestId("key-scopes")).toHaveText(/gateway\s*keys:read/);

  const whoami = await request.get("/api/v1/whoami", { headers: { "x-api-key": secret } });
  expect(whoami.status()).toBe(200);
  const who = await whoami.json();
  expect(who.scopes).toEqual(["gateway", "keys:read"]);
  const list = await request.get("/api/v1/keys", { headers: { authorization: `Bearer ${secret}` } });
  expect(list.status()).toBe(200);
  expect(JSON.stringify(await list.json())).not.toContain(secret);

  // The use shows up as "Last used" once the background flush has run.
  await expect(async () => {
    await gotoHydrated(owner, keysPath);
    await expect(row(owner, "API caller").locator("td").nth(3)).not.toHaveText("never", { timeout: 500 });
  }).toPass({ timeout: 15_000 });

  await row(owner, "API caller").getByRole("button", { name: "Revoke key API caller" }).click();
  await owner.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
  await expect(row(owner, "API caller").getByTestId("key-status")).toHaveText("Revoked");
  const after = await request.get("/api/v1/whoami", { headers: { "x-api-key": secret } });
  expect(after.status()).toBe(401);
  expect(after.headers()["www-authenticate"]).toContain('error="invalid_token"');
});

test("the API docs load with no network beyond Keygate and their try-it call succeeds", async ({ browser, baseURL }) => {
  const { keysPath, owner } = await orgWith(browser, []);
  await gotoHydrated(owner, keysPath);
  const secret = await createKey(owner, "Docs key", "7");

  const context = await newContext(browser);
  const outside: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(baseURL!)) return route.continue();
    outside.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  await page.goto("/docs/");
  await expect(page.locator(".swagger-ui .info .title")).toContainText("Keygate API");
  await page.getByRole("button", { name: "Authorize" }).first().click();
  const apiKeyForm = page.locator(".auth-container").filter({ hasText: "x-api-key" });
  await apiKeyForm.locator("input").fill(secret);
  await apiKeyForm.getByRole("button", { name: "Apply credentials" }).click();
  await expect(page.locator(".auth-container").first()).toContainText("Authorized");
  await page.locator(".auth-container").first().getByRole("button", { name: "Close" }).click();

  const whoami = page.locator("#operations-identity-whoami");
  await whoami.locator(".opblock-summary").first().click();
  await whoami.getByRole("button", { name: "Execute" }).click();
  const live = whoami.locator(".live-responses-table tr.response .response-col_status").first();
  await expect(live).toHaveText("200");
  await expect(whoami.locator(".live-responses-table")).toContainText('"kind": "key"');
  expect(outside).toEqual([]);
  await context.close();
});

test("the create page submits in place, and its answer shows the key once at the keys page's address", async ({ browser }) => {
  const { keysPath, pages } = await orgWith(browser, ["developer"]);
  const page = pages.developer;
  // Where "Create key" goes when clicked before the page is live.
  await gotoHydrated(page, `${keysPath}/new`);
  await page.getByLabel("Name", { exact: true }).fill("Paged key");
  await page.getByRole("button", { name: "Create key" }).click();
  const reveal = page.getByRole("dialog").getByTestId("reveal");
  await expect(reveal.getByRole("heading")).toHaveText("Your key “Paged key”");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  // The address is the keys page's: a reload reads the list, it does not post again.
  await expect(page).toHaveURL(new RegExp(`${keysPath}$`));
  await expect(row(page, "Paged key")).toHaveCount(1);
  const secret = (await page.getByTestId("secret").textContent()) ?? "";
  expect(secret).toMatch(KEY_PATTERN);
  const copy = reveal.getByRole("button", { name: "Copy API key" });
  await expect(copy).toBeEnabled();
  // Done before Copy asks first; keeping it keeps the key on screen.
  await reveal.getByRole("link", { name: "Done" }).click();
  await expect(reveal.getByTestId("close-anyway")).toBeVisible();
  await reveal.getByRole("button", { name: "Keep it open" }).click();
  await expect(reveal.getByTestId("close-anyway")).toBeHidden();
  await copy.click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  await reveal.getByRole("link", { name: "Done" }).click();
  await expect(page.getByTestId("reveal")).toHaveCount(0);
  expect(await page.content()).not.toContain(secret);
  await page.reload();
  await expect(page.getByTestId("reveal")).toHaveCount(0);
  expect(await page.content()).not.toContain(secret);
  await expect(row(page, "Paged key")).toHaveCount(1);
});
