import { expect } from "@playwright/test";
import { createKey, gotoHydrated, orgWith, test } from "./helpers";

// A key's allowed addresses on its page (issue 13 §1): a bad entry is named and changes
// nothing, a list that leaves out this machine stops the key here, and clearing it lets
// the key work from anywhere again.

test("a key's page limits it to listed addresses", async ({ browser, request }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  await gotoHydrated(page, keysPath);
  const secret = await createKey(page, "Office only", "30");
  const whoami = () => request.get("/api/v1/whoami", { headers: { "x-api-key": secret } });
  expect((await whoami()).status()).toBe(200);

  await page.locator("a.key-title", { hasText: "Office only" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Office only" })).toBeVisible();
  await expect(page.getByTestId("key-allowed-ips")).toHaveText("Any address");
  const form = page.getByTestId("allowed-ips-form");
  const field = form.getByLabel("Addresses and ranges");

  await field.fill("203.0.113.0/24\n0.0.0.0/0");
  await form.getByRole("button", { name: "Save addresses" }).click();
  await expect(page.locator("#allowed-ips-error")).toContainText("0.0.0.0/0");
  await expect(field).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByTestId("key-allowed-ips")).toHaveText("Any address");
  expect((await whoami()).status()).toBe(200);

  await field.fill("203.0.113.0/24, 2001:DB8::/32");
  await form.getByRole("button", { name: "Save addresses" }).click();
  await expect(page.getByTestId("allowed-ips-saved")).toHaveText(
    "Saved: the key works only from 203.0.113.0/24, 2001:db8::/32.",
  );
  await expect(page.getByTestId("key-allowed-ips")).toHaveText("203.0.113.0/24, 2001:db8::/32");
  await expect(field).toHaveValue("203.0.113.0/24\n2001:db8::/32");
  const refused = await whoami();
  expect(refused.status()).toBe(403);
  expect((await refused.json()).error).toBe("ip_not_allowed");
  await expect(page.getByTestId("activity")).toContainText(
    "changed the allowed addresses of key “Office only”: allowed from 203.0.113.0/24, 2001:db8::/32",
  );

  // Survives a reload; clearing it lets the key work from anywhere again.
  await page.reload();
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(page.getByTestId("allowed-ips-form").getByLabel("Addresses and ranges")).toHaveValue(
    "203.0.113.0/24\n2001:db8::/32",
  );
  await page.getByTestId("allowed-ips-form").getByLabel("Addresses and ranges").fill("");
  await page.getByTestId("allowed-ips-form").getByRole("button", { name: "Save addresses" }).click();
  await expect(page.getByTestId("allowed-ips-saved")).toHaveText("Saved: the key works from any address.");
  await expect(page.getByTestId("key-allowed-ips")).toHaveText("Any address");
  expect((await whoami()).status()).toBe(200);
});
