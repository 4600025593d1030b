import { expect } from "@playwright/test";
import { KEY_PATTERN, gotoHydrated, orgWith, test } from "./helpers";

// Usage and rate limits in the browser (issue 10): a key created with a rate limit is
// refused over it, its page charts what happened (and shows the same numbers as a table),
// the limit is changed and removed there, and the keys page shows the busiest keys.

test("a key's page charts its requests and changes its rate limit", async ({ browser, request }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  await gotoHydrated(page, keysPath);

  // Create with a limit of 3 per minute; a bad limit is refused first, with the field named.
  await page.getByRole("link", { name: "Create key", exact: true }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Name").fill("Reporting");
  await dialog.getByLabel("Requests").fill("0");
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(dialog.locator("#key-rate-limit-error")).toContainText("between 1 and");
  await dialog.getByLabel("Requests").fill("3");
  await dialog.getByLabel("Per", { exact: true }).selectOption("minute");
  await dialog.getByRole("button", { name: "Create key" }).click();
  const secret = (await dialog.getByTestId("secret").textContent())!.trim();
  expect(secret).toMatch(KEY_PATTERN);
  await dialog.getByRole("button", { name: "Copy API key" }).click();
  await dialog.getByRole("link", { name: "Done" }).click();

  // Three requests pass with the RateLimit fields, the fourth is refused.
  for (let remaining = 2; remaining >= 0; remaining--) {
    const ok = await request.get("/api/v1/whoami", { headers: { "x-api-key": secret } });
    expect(ok.status()).toBe(200);
    expect(ok.headers()["ratelimit-policy"]).toBe('"key";q=3;w=60');
    expect(ok.headers()["ratelimit"]).toMatch(new RegExp(`^"key";r=${remaining};t=\\d+$`));
  }
  const refused = await request.get("/api/v1/whoami", { headers: { "x-api-key": secret } });
  expect(refused.status()).toBe(429);
  expect(Number(refused.headers()["retry-after"])).toBeGreaterThanOrEqual(1);
  expect((await refused.json()).error).toBe("rate_limited");

  // The name in the list opens the key's page.
  await page.locator("a.key-title", { hasText: "Reporting" }).click();
  await expect(page).toHaveURL(/\/settings\/keys\/key_[0-9A-Za-z]+$/);
  const keyPath = new URL(page.url()).pathname;
  await expect(page.getByRole("heading", { level: 1, name: "Reporting" })).toBeVisible();
  await expect(page.getByTestId("key-rate-limit")).toHaveText("3 per minute");

  // The counts reach the page with the next usage flush (a few seconds).
  await expect(async () => {
    await gotoHydrated(page, keyPath);
    await expect(page.getByTestId("usage-total")).toHaveText("4", { timeout: 500 });
  }).toPass({ timeout: 20_000 });
  await expect(page.getByTestId("usage-errors")).toHaveText("1");
  await expect(page.getByTestId("usage-error-rate")).toHaveText("25.0%");
  const chart = page.getByTestId("usage-chart");
  await expect(chart.getByRole("img")).toHaveAttribute("aria-label", /4 in all, error rate 25\.0%/);
  await expect(chart.getByRole("list", { name: "Legend" })).toContainText("Succeeded 3");
  await expect(chart.getByRole("list", { name: "Legend" })).toContainText("Rate limited 1");
  expect(await page.content()).not.toContain(secret);

  // "Show as table" reveals the same numbers in a real table, and hides them again.
  const table = chart.getByTestId("usage-table");
  await expect(table).toBeHidden();
  const toggle = chart.locator("summary");
  await expect(toggle).toHaveText("Show as table", { useInnerText: true });
  await toggle.focus();
  await page.keyboard.press("Enter");
  await expect(table).toBeVisible();
  await expect(toggle).toHaveText("Hide table", { useInnerText: true });
  const busy = table.locator("tbody tr").filter({ has: page.locator("td[data-label=Total]", { hasText: /^4$/ }) });
  await expect(busy).toHaveCount(1);
  await expect(busy.locator("td[data-label=Succeeded]")).toHaveText("3");
  await expect(busy.locator("td[data-label='Rate limited']")).toHaveText("1");
  await expect(table.locator("tbody tr")).toHaveCount(24);

  // 30 days: per day, in the URL, the same total.
  await page.getByRole("link", { name: "30 days" }).click();
  await expect(page).toHaveURL(/\?period=30d$/);
  await expect(page.getByTestId("usage-chart")).toHaveAttribute("data-period", "30d");
  await expect(page.getByTestId("usage-total")).toHaveText("4");
  await expect(page.getByRole("link", { name: "30 days" })).toHaveAttribute("aria-current", "true");

  // Change the limit: a bad value gets a field error; a good one is saved and applies.
  const form = page.getByTestId("rate-limit-form");
  await form.getByLabel("Requests").fill("2000000");
  await form.getByRole("button", { name: "Save limit" }).click();
  await expect(page.locator("#rate-limit-error")).toContainText("between 1 and 1000000");
  await expect(form.getByLabel("Requests")).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByTestId("key-rate-limit")).toHaveText("3 per minute");
  await form.getByLabel("Requests").fill("10");
  await form.getByLabel("Per").selectOption("second");
  await form.getByRole("button", { name: "Save limit" }).click();
  await expect(page.getByTestId("rate-limit-saved")).toHaveText("Saved: at most 10 per second.");
  await expect(page.getByTestId("key-rate-limit")).toHaveText("10 per second");
  const after = await request.get("/api/v1/whoami", { headers: { "x-api-key": secret } });
  expect(after.status()).toBe(200);
  expect(after.headers()["ratelimit-policy"]).toBe('"key";q=10;w=1');
  await page.getByRole("button", { name: "Remove limit" }).click();
  await expect(page.getByTestId("key-rate-limit")).toHaveText("None");
  const unlimited = await request.get("/api/v1/whoami", { headers: { "x-api-key": secret } });
  expect(unlimited.headers()["ratelimit-policy"]).toBeUndefined();
  await expect(page.getByTestId("activity")).toContainText("changed the rate limit of key “Reporting”: rate limit removed");

  // The keys page: the organization's requests and its busiest keys, linked.
  await gotoHydrated(page, keysPath);
  const panel = page.getByTestId("org-usage");
  await expect(panel.getByTestId("busiest")).toContainText("Reporting");
  await panel.getByTestId("busiest").getByRole("link", { name: "Reporting" }).click();
  await expect(page).toHaveURL(new RegExp(`${keyPath}$`));

  // At 1280, 1024 and 390 px nothing on either page is wider than the window, and the
  // table view stays a table inside its card.
  for (const width of [1280, 1024, 390]) {
    await page.setViewportSize({ width, height: 900 });
    for (const path of [keyPath, keysPath]) {
      await gotoHydrated(page, path);
      await page.locator("summary").filter({ hasText: "Show as table" }).first().click();
      const overflow = await page.evaluate(() => {
        const table = document.querySelector("[data-testid=usage-table]") as HTMLElement;
        const card = table.closest(".card")!.getBoundingClientRect();
        const frame = table.parentElement!.getBoundingClientRect();
        return {
          page: document.documentElement.scrollWidth - window.innerWidth,
          frame: frame.right - card.right,
          display: getComputedStyle(table.querySelector("tbody tr")!).display,
        };
      });
      expect(overflow.page, `${path} at ${width}px`).toBeLessThanOrEqual(0);
      expect(overflow.frame, `${path} at ${width}px`).toBeLessThanOrEqual(0.5);
      expect(overflow.display, `${path} at ${width}px`).toBe("table-row");
    }
    // The create dialog's rate-limit fields and their error stay inside the dialog.
    await gotoHydrated(page, keysPath);
    await page.getByRole("link", { name: "Create key", exact: true }).click();
    const create = page.getByRole("dialog");
    await create.getByLabel("Name").fill("Too fast");
    await create.getByLabel("Requests").fill("0");
    await create.getByRole("button", { name: "Create key" }).click();
    await expect(create.locator("#key-rate-limit-error")).toBeVisible();
    const box = (await create.boundingBox())!;
    for (const part of [create.getByLabel("Per", { exact: true }), create.locator("#key-rate-limit-error")]) {
      const r = (await part.boundingBox())!;
      expect(r.x + r.width, `create dialog at ${width}px`).toBeLessThanOrEqual(box.x + box.width + 0.5);
    }
    await create.getByRole("link", { name: "Cancel" }).click();
    await expect(create).toBeHidden();
  }
  // The refused "Too fast" keys were never created: the list still holds only Reporting.
  await gotoHydrated(page, keysPath);
  await expect(page.locator("a.key-title", { hasText: "Too fast" })).toHaveCount(0);
  await expect(page.locator("a.key-title", { hasText: "Reporting" })).toHaveCount(1);
});
