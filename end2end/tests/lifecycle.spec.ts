import { expect, type Page } from "@playwright/test";
import { KEY_PATTERN, createKey, gotoHydrated, orgWith, test, waitHydrated } from "./helpers";

// A key's life in the browser (issue 9): the reveal that cannot be lost by a stray key
// press, a roll with an overlap, pause and resume, expiry warnings, and the key policy.

function row(page: Page, name: string) {
  return page.getByTestId("key-row").filter({ has: page.locator(".key-title", { hasText: name }) });
}

/** `YYYY-MM-DD`, `days` from today (UTC, as the server counts). */
function dateIn(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

test("closing an uncopied key asks first; after Copy it closes at once", async ({ browser }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  await gotoHydrated(page, keysPath);
  await page.getByRole("link", { name: "Create key", exact: true }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Name").fill("Careful");
  await dialog.getByRole("button", { name: "Create key" }).click();
  const secret = (await dialog.getByTestId("secret").textContent())!.trim();
  expect(secret).toMatch(KEY_PATTERN);

  // Escape asks, and "Keep it open" keeps the key on screen, focus on it.
  await page.keyboard.press("Escape");
  const ask = dialog.getByTestId("close-anyway");
  await expect(ask).toContainText("You have not copied this key. Close anyway?");
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole("button", { name: "Keep it open" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(ask).toBeHidden();
  await expect(dialog.getByTestId("secret")).toHaveText(secret);

  // A click outside the dialog asks too.
  await page.mouse.click(5, 5);
  await expect(ask).toBeVisible();
  await dialog.getByRole("button", { name: "Keep it open" }).click();

  // After Copy, Escape closes at once and the key leaves the page.
  await dialog.getByRole("button", { name: "Copy API key" }).click();
  await expect(dialog.getByRole("button", { name: "Copy API key" })).toHaveText("Copied");
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId("secret")).toHaveCount(0);
  await waitHydrated(page);
  expect(await page.content()).not.toContain(secret);

  // "Close anyway" closes an uncopied key and drops it too.
  await page.getByRole("link", { name: "Create key", exact: true }).click();
  await dialog.getByLabel("Name").fill("Dropped");
  await dialog.getByRole("button", { name: "Create key" }).click();
  const dropped = (await dialog.getByTestId("secret").textContent())!.trim();
  await dialog.getByRole("link", { name: "Done" }).click();
  await dialog.getByRole("link", { name: "Close anyway" }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId("secret")).toHaveCount(0);
  await waitHydrated(page);
  expect(await page.content()).not.toContain(dropped);
});

test("a roll with a 24-hour overlap keeps both secrets until the overlap is ended", async ({ browser, request }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  await gotoHydrated(page, keysPath);
  const old = await createKey(page, "Billing", "90");
  const oldHint = old.slice(0, 7);

  await row(page, "Billing").getByRole("button", { name: "Roll key Billing" }).click();
  const confirm = page.getByRole("dialog");
  await expect(confirm.getByRole("radio", { name: "Now" })).toBeChecked();
  await confirm.getByRole("radio", { name: "In 24 hours" }).check();
  await confirm.getByRole("button", { name: "Roll key" }).click();
  const reveal = page.getByTestId("reveal");
  const rolled = (await reveal.getByTestId("secret").textContent())!.trim();
  expect(rolled).toMatch(KEY_PATTERN);
  await reveal.getByRole("button", { name: "Copy API key" }).click();
  await expect(reveal.getByRole("button", { name: "Copy API key" })).toHaveText("Copied");
  await reveal.getByRole("link", { name: "Done" }).click();
  await expect(reveal).toBeHidden();

  // The row shows both hints and when the old one stops.
  const billing = row(page, "Billing");
  await expect(billing).toContainText(`${rolled.slice(0, 7)}…`);
  await expect(billing.getByTestId("key-rolling")).toContainText(`old secret ${oldHint}…`);
  await expect(billing.getByTestId("key-rolling")).toContainText("in 23 hours");
  for (const secret of [old, rolled]) {
    const who = await request.get("/api/v1/whoami", { headers: { "x-api-key": secret } });
    expect(who.status()).toBe(200);
  }
  // A fresh load renders and hydrates the rolling row and the roll's audit detail.
  await gotoHydrated(page, keysPath);
  await expect(billing.getByTestId("key-rolling")).toContainText(`old secret ${oldHint}…`);
  await expect(page.getByTestId("activity")).toContainText("works for 24 hours");
  // Rolling again says it ends the older overlap first.
  await billing.getByRole("button", { name: "Roll key Billing" }).click();
  await expect(confirm.getByTestId("ends-older-overlap")).toContainText(`${oldHint}… stops now`);
  await confirm.getByRole("link", { name: "Cancel" }).click();

  await billing.getByRole("button", { name: "End overlap now for key Billing" }).click();
  await expect(confirm.getByRole("heading")).toHaveText("End the overlap of “Billing” now?");
  await confirm.getByRole("button", { name: "End overlap now" }).click();
  await expect(billing.getByTestId("key-rolling")).toHaveCount(0);
  const refused = await request.get("/api/v1/whoami", { headers: { "x-api-key": old } });
  expect(refused.status()).toBe(401);
  expect((await refused.json()).error).toBe("key_revoked");
  expect((await request.get("/api/v1/whoami", { headers: { "x-api-key": rolled } })).status()).toBe(200);
  await expect(page.getByTestId("activity")).toContainText("ended the roll overlap of key “Billing”");
});

test("pause until resumed, refused with key_paused, then resume", async ({ browser, request }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  await gotoHydrated(page, keysPath);
  const secret = await createKey(page, "Worker", "30");
  await row(page, "Worker").getByRole("button", { name: "Pause key Worker" }).click();
  const confirm = page.getByRole("dialog");
  await expect(confirm.getByLabel("Pause")).toHaveValue("");
  // A time in the past is refused in the dialog.
  await confirm.getByLabel("Pause").selectOption("until");
  await confirm.getByLabel("Resume at (your local time)").fill("2020-01-01T10:00");
  await confirm.getByRole("button", { name: "Pause key" }).click();
  await expect(confirm.getByText("Pick a time in the future.")).toBeVisible();
  await confirm.getByLabel("Pause").selectOption("");
  await confirm.getByRole("button", { name: "Pause key" }).click();
  await expect(confirm).toBeHidden();
  const worker = row(page, "Worker");
  await expect(worker.getByTestId("key-status")).toHaveText("Paused");
  await expect(worker.getByTestId("paused-until")).toHaveText("until resumed");
  await gotoHydrated(page, keysPath);
  await expect(worker.getByTestId("paused-until")).toHaveText("until resumed");
  const paused = await request.get("/api/v1/whoami", { headers: { "x-api-key": secret } });
  expect(paused.status()).toBe(401);
  expect((await paused.json()).error).toBe("key_paused");

  await worker.getByRole("button", { name: "Resume key Worker" }).click();
  await expect(worker.getByTestId("key-status")).toHaveText("Active");
  expect((await request.get("/api/v1/whoami", { headers: { "x-api-key": secret } })).status()).toBe(200);

  // Paused for an hour: the row says until when.
  await worker.getByRole("button", { name: "Pause key Worker" }).click();
  await confirm.getByLabel("Pause").selectOption("3600");
  await confirm.getByRole("button", { name: "Pause key" }).click();
  await expect(worker.getByTestId("paused-until")).toContainText(/until \w{3} \d+, \d{4}, \d\d:\d\d UTC/);
  await expect(page.getByTestId("activity")).toContainText("paused key “Worker”");
});

test("pause until a time in the browser's time zone; a time a clock change skips is refused", async ({ browser }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  // The dialog reads the date and time as local time with the browser's own clock and
  // time zone (no chrono in the bundle): India has no daylight saving, New York has.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Emulation.setTimezoneOverride", { timezoneId: "Asia/Kolkata" });
  await gotoHydrated(page, keysPath);
  await createKey(page, "Nightly", "never");
  const nightly = row(page, "Nightly");
  const confirm = page.getByRole("dialog");
  const day = dateIn(3);
  await nightly.getByRole("button", { name: "Pause key Nightly" }).click();
  await confirm.getByLabel("Pause").selectOption("until");
  await confirm.getByLabel("Resume at (your local time)").fill(`${day}T09:30`);
  await confirm.getByRole("button", { name: "Pause key" }).click();
  await expect(confirm).toBeHidden();
  // 09:30 in India is 04:00 UTC the same day.
  const [y, m, d] = day.split("-").map(Number);
  const month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][m - 1];
  await expect(nightly.getByTestId("paused-until")).toHaveText(`until ${month} ${d}, ${y}, 04:00 UTC`);

  await nightly.getByRole("button", { name: "Resume key Nightly" }).click();
  await expect(nightly.getByTestId("key-status")).toHaveText("Active");
  await cdp.send("Emulation.setTimezoneOverride", { timezoneId: "America/New_York" });
  await gotoHydrated(page, keysPath);
  await nightly.getByRole("button", { name: "Pause key Nightly" }).click();
  await confirm.getByLabel("Pause").selectOption("until");
  // Clocks in New York go from 02:00 to 03:00 on 10 March 2030.
  await confirm.getByLabel("Resume at (your local time)").fill("2030-03-10T02:30");
  await confirm.getByRole("button", { name: "Pause key" }).click();
  await expect(confirm.getByText("That time does not exist in your time zone.")).toBeVisible();
  await confirm.getByLabel("Resume at (your local time)").fill("2030-03-10T03:30");
  await confirm.getByRole("button", { name: "Pause key" }).click();
  await expect(confirm).toBeHidden();
  await expect(nightly.getByTestId("paused-until")).toHaveText("until Mar 10, 2030, 07:30 UTC");
});

test("a key expiring in 3 days is flagged, counted in a banner and can be filtered", async ({ browser }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  await gotoHydrated(page, keysPath);
  await createKey(page, "Soon", "custom", dateIn(3));
  await createKey(page, "Later", "90");
  const soon = row(page, "Soon");
  await expect(soon.getByTestId("expires-soon")).toHaveText(/Expires in 3 days/);
  await expect(row(page, "Later").getByTestId("expires-soon")).toHaveCount(0);
  await gotoHydrated(page, keysPath);
  const banner = page.getByTestId("expiry-banner");
  await expect(banner).toContainText("1 key expires this week.");
  await banner.getByRole("link", { name: "Show only these" }).click();
  await expect(page).toHaveURL(/status=expiring/);
  await expect(row(page, "Soon")).toBeVisible();
  await expect(row(page, "Later")).toHaveCount(0);
  // The banner's filter is the list's status filter.
  await expect(page.getByTestId("key-filters").getByLabel("Status")).toHaveValue("expiring");
  await banner.getByRole("link", { name: "Show all keys" }).click();
  await expect(row(page, "Later")).toBeVisible();
  // A link saved before the status filter existed still shows the same keys.
  await gotoHydrated(page, `${keysPath}?filter=expiring`);
  await expect(row(page, "Soon")).toBeVisible();
  await expect(row(page, "Later")).toHaveCount(0);
});

test("the key policy limits the create dialog and flags older keys", async ({ browser }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  await gotoHydrated(page, keysPath);
  await createKey(page, "Forever", "never");
  await page.getByRole("link", { name: "Key policy" }).click();
  await expect(page.getByTestId("policy-summary")).toContainText("never expire");
  await page.getByLabel("Maximum lifetime of a new key, in days").fill("400");
  await page.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByText("The maximum lifetime must be between 1 and 366 days.")).toBeVisible();
  await page.getByLabel("Maximum lifetime of a new key, in days").fill("30");
  await page.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByTestId("policy-summary")).toContainText("keys expire within 30 days");

  // A fresh load of the keys page with a policy hydrates cleanly (the dialog's options
  // change only after hydration).
  await gotoHydrated(page, keysPath);
  const forever = row(page, "Forever");
  await expect(forever.getByTestId("exceeds-policy")).toBeVisible();
  await page.getByRole("link", { name: "Create key", exact: true }).click();
  const dialog = page.getByRole("dialog");
  const options = await dialog.getByLabel("Expiration").locator("option").allTextContents();
  expect(options).toEqual(["7 days", "30 days", "Custom date"]);
  await expect(dialog.getByTestId("policy-note")).toContainText("keys expire within 30 days");
  await dialog.getByLabel("Expiration").selectOption("custom");
  await dialog.getByLabel("Name").fill("Too long");
  await dialog.getByLabel("Expiry date").fill(dateIn(45));
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(dialog.getByText("allows keys to live at most 30 days")).toBeVisible();
  await dialog.getByRole("link", { name: "Cancel" }).click();

  await forever.getByRole("button", { name: "Shorten key Forever to policy" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Shorten to policy" }).click();
  await expect(forever.getByTestId("exceeds-policy")).toHaveCount(0);
  await expect(forever.getByTestId("expires-soon")).toHaveCount(0);
  await expect(forever).toContainText("in 29 days");
});
