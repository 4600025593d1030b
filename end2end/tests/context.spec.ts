import { expect, type Page } from "@playwright/test";
import { KEY_PATTERN, gotoHydrated, orgWith, test } from "./helpers";

// Tags, owner ids and metadata, and finding keys by them (issue 13 §2): set in the create
// dialog and on the key's page, shown in the list, and searched and filtered with the
// filters in the URL, so a filtered view survives a reload and can be shared.

async function createLabelled(page: Page, name: string, tags: string, owner: string) {
  await page.getByRole("link", { name: "Create key", exact: true }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByLabel("Tags").fill(tags);
  await dialog.getByLabel("Owner id").fill(owner);
  await dialog.getByRole("button", { name: "Create key" }).click();
  const secret = (await dialog.getByTestId("secret").textContent())!.trim();
  expect(secret).toMatch(KEY_PATTERN);
  await dialog.getByRole("button", { name: "Copy API key" }).click();
  await dialog.getByRole("link", { name: "Done" }).click();
  await expect(dialog).toBeHidden();
  return secret;
}

function names(page: Page) {
  return page.getByTestId("key-row").locator("a.key-title");
}

test("keys are found by text, tag, owner and status, from the URL", async ({ browser }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  await gotoHydrated(page, keysPath);

  // A bad tag in the dialog is named and creates nothing.
  await page.getByRole("link", { name: "Create key", exact: true }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Name").fill("Bad tags");
  await dialog.getByLabel("Tags").fill("prod, Billing");
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(dialog.locator("#new-key-tags-error")).toContainText('"Billing"');
  await expect(dialog.getByLabel("Tags")).toHaveAttribute("aria-invalid", "true");
  await dialog.getByRole("link", { name: "Cancel" }).click();
  await expect(page.getByTestId("keys-empty")).toBeVisible();

  await createLabelled(page, "Billing EU", "prod, eu", "cus_1");
  await createLabelled(page, "Billing US", "prod us", "cus_2");
  await createLabelled(page, "Reports", "", "");
  await expect(names(page)).toHaveCount(3);
  const eu = page.getByTestId("key-row").filter({ hasText: "Billing EU" });
  await expect(eu.getByTestId("key-tags")).toHaveText(/for cus_1\s*eu\s*prod/);

  // Search and a tag, combined; the filters go into the URL.
  const filters = page.getByTestId("key-filters");
  await filters.getByLabel("Search").fill("BILLING");
  await filters.getByLabel("Tag").fill("prod");
  await filters.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/[?&]q=BILLING/);
  await expect(page).toHaveURL(/[?&]tag=prod/);
  await expect(names(page)).toHaveText(["Billing US", "Billing EU"]);
  await expect(page.getByTestId("key-count")).toHaveText("Page 1 of 1 · 2 keys match");

  // Survives a reload, with the form filled in; the owner narrows it further.
  await page.reload();
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(names(page)).toHaveText(["Billing US", "Billing EU"]);
  await expect(page.getByTestId("key-filters").getByLabel("Search")).toHaveValue("BILLING");
  await page.getByTestId("key-filters").getByLabel("Owner id").fill("cus_1");
  await page.getByTestId("key-filters").getByRole("button", { name: "Filter" }).click();
  await expect(names(page)).toHaveText(["Billing EU"]);

  // A tag in a row is a link to its filter; Clear shows every key again.
  await page.getByTestId("key-filters").getByRole("link", { name: "Clear" }).click();
  await expect(names(page)).toHaveCount(3);
  await page.getByTestId("key-row").filter({ hasText: "Billing US" }).getByRole("link", { name: "us", exact: true }).click();
  await expect(page).toHaveURL(/[?&]tag=us$/);
  await expect(names(page)).toHaveText(["Billing US"]);
  await expect(page.getByTestId("key-filters").getByLabel("Tag")).toHaveValue("us");

  // Status: the select, and nothing matching says so.
  await gotoHydrated(page, `${keysPath}?status=revoked`);
  await expect(page.getByTestId("keys-empty")).toContainText("No keys match these filters");
  await expect(page.getByTestId("key-filters").getByLabel("Status")).toHaveValue("revoked");
  await page.getByTestId("key-filters").getByLabel("Status").selectOption("active");
  await page.getByTestId("key-filters").getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/[?&]status=active/);
  await expect(names(page)).toHaveCount(3);

  // A hand-edited URL with a bad tag: the field's error, not an empty list.
  await gotoHydrated(page, `${keysPath}?tag=No%20Good`);
  await expect(page.locator("#key-tag-error")).toContainText("lower-case");
  await expect(page.getByTestId("key-filters").getByLabel("Tag")).toHaveAttribute("aria-invalid", "true");
  await page.getByTestId("key-filters").getByRole("link", { name: "Clear" }).click();
  await expect(names(page)).toHaveCount(3);
});

test("a key's page edits its tags, owner and metadata", async ({ browser, request }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  await gotoHydrated(page, keysPath);
  const secret = await createLabelled(page, "Globex billing", "prod", "");
  await page.locator("a.key-title", { hasText: "Globex billing" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Globex billing" })).toBeVisible();
  await expect(page.getByTestId("key-tags")).toHaveText("prod");
  await expect(page.getByTestId("key-owner")).toHaveText("None");

  const form = page.getByTestId("context-form");
  await form.getByLabel("Metadata (JSON object)").fill('{"plan": ');
  await form.getByRole("button", { name: "Save tags, owner and metadata" }).click();
  await expect(page.locator("#key-metadata-error")).toContainText("not valid JSON");
  await expect(form.getByLabel("Metadata (JSON object)")).toHaveAttribute("aria-invalid", "true");

  await form.getByLabel("Tags").fill("prod, eu");
  await form.getByLabel("Owner id").fill("cus_globex");
  await form.getByLabel("Metadata (JSON object)").fill('{"plan": "pro", "seats": 12}');
  await form.getByRole("button", { name: "Save tags, owner and metadata" }).click();
  await expect(page.getByTestId("context-saved")).toHaveText("Saved.");
  await expect(page.getByTestId("key-tags")).toHaveText(/eu\s*prod/);
  await expect(page.getByTestId("key-owner")).toHaveText("cus_globex");
  await expect(page.getByTestId("key-metadata")).toContainText('"seats": 12');
  await expect(page.getByTestId("activity")).toContainText("relabelled key “Globex billing”");

  // Services see it at once.
  const me = await request.get("/api/v1/whoami", { headers: { "x-api-key": secret } });
  expect(me.status()).toBe(200);
  const body = await me.json();
  expect([body.tags, body.owner_id, body.metadata]).toEqual([["eu", "prod"], "cus_globex", { plan: "pro", seats: 12 }]);

  // The owner links back to the list, filtered.
  await page.getByTestId("key-owner").getByRole("link").click();
  await expect(page).toHaveURL(/[?&]owner=cus_globex/);
  await expect(names(page)).toHaveText(["Globex billing"]);
});
