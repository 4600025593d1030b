import { expect } from "@playwright/test";
import { KEY_PATTERN, gotoHydrated, orgWith, test, waitHydrated } from "./helpers";

// The API's own permissions (issue 29): an owner builds a catalog and route rules under
// Settings → Permissions, gives a key Read on invoices and a read-only role in the create
// dialog, and the gateway refuses that key a write before any upstream sees it; the key's
// page shows what the key used, restricts it to that, and gives it Write.

test("a read-only key is refused a write by the route rules", async ({ browser, request }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  const permissionsPath = keysPath.replace(/\/keys$/, "/permissions");
  await gotoHydrated(page, keysPath);
  await page.getByRole("navigation", { name: "Organization settings" }).getByRole("link", { name: "Permissions" }).click();
  await expect(page).toHaveURL(new RegExp(`${permissionsPath}$`));
  await waitHydrated(page);
  await expect(page.getByTestId("no-permissions")).toBeVisible();

  const addPermission = async (name: string, description: string) => {
    const form = page.getByTestId("permission-form");
    await form.getByLabel("Name").fill(name);
    await form.getByLabel("Description").fill(description);
    await form.getByRole("button", { name: "Save permission" }).click();
    await waitHydrated(page);
    await expect(page.getByTestId("permission-list")).toContainText(name);
  };
  // A bad name is refused beside its field and adds nothing.
  const form = page.getByTestId("permission-form");
  await form.getByLabel("Name").fill("Invoices Read");
  await form.getByRole("button", { name: "Save permission" }).click();
  await expect(page.locator("#field-name-error")).toContainText("resource:action");
  await expect(form.getByLabel("Name")).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByTestId("no-permissions")).toBeVisible();

  await addPermission("invoices:read", "Read invoices </textarea><h1>x</h1>");
  await addPermission("invoices:write", "Create and change invoices");
  // What a person wrote is shown as text, never as markup.
  await expect(page.getByTestId("permission-list")).toContainText("Read invoices </textarea><h1>x</h1>");
  await expect(page.locator("[data-testid=permissions] h1")).toHaveCount(1);

  const role = page.getByTestId("role-form");
  await role.getByLabel("Name").fill("invoices-readonly");
  await role.getByLabel("Permissions").fill("invoices:read");
  await role.getByRole("button", { name: "Save role" }).click();
  await waitHydrated(page);
  await expect(page.getByTestId("role-list")).toContainText("invoices-readonly");

  const rules = page.getByTestId("rules-form");
  await rules.getByLabel("Rules, in order").fill("GET /invoices/* invoices:read\nPOST /invoices/* invoices:write\nGET /orders orders:read");
  await rules.getByRole("button", { name: "Save rules" }).click();
  // A permission the catalog lacks is named, with its line, and nothing is saved.
  await expect(page.locator("#rules-error")).toContainText("“orders:read”");
  await expect(page.getByTestId("no-rules")).toBeVisible();
  await rules.getByLabel("Rules, in order").fill("GET /invoices/* invoices:read\nPOST /invoices/* invoices:write");
  await rules.getByRole("button", { name: "Save rules" }).click();
  await waitHydrated(page);
  await expect(page.getByTestId("rule-list").locator("tbody tr")).toHaveCount(2);
  await expect(page.getByTestId("rules-form").getByLabel("Rules, in order")).toHaveValue(
    "GET /invoices/* invoices:read\nPOST /invoices/* invoices:write",
  );

  // A key with the read-only role, made in the create dialog.
  await gotoHydrated(page, keysPath);
  await page.getByRole("link", { name: "Create key", exact: true }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Name").fill("Invoice reader");
  await dialog.getByLabel("Expiration").selectOption("30");
  // Read for invoices, as Stripe's restricted keys offer it (Write includes Read), and a role.
  await expect(dialog.getByLabel("invoices", { exact: true }).locator("option")).toHaveText(["None", "Read", "Write"]);
  await dialog.getByLabel("invoices", { exact: true }).selectOption("Read");
  await dialog.getByLabel("Roles").fill("invoices-readonly");
  await dialog.getByRole("button", { name: "Create key" }).click();
  const secretLocator = dialog.getByTestId("secret");
  await expect(secretLocator).toBeVisible();
  const secret = (await secretLocator.textContent())!.trim();
  expect(secret).toMatch(KEY_PATTERN);
  // Copied first: the reveal asks "Close anyway?" before a key that was never copied.
  await dialog.getByRole("button", { name: "Copy API key" }).click();
  await dialog.getByRole("link", { name: "Done" }).click();
  await expect(dialog).toBeHidden();
  await waitHydrated(page);

  // The gateway: the write is refused by the rule, naming what is missing; the read
  // passes the rules (and finds no upstream configured on this server).
  const write = await request.post("/gw/invoices/7", { headers: { "x-api-key": secret } });
  expect(write.status()).toBe(403);
  const refused = await write.json();
  expect(refused.error).toBe("insufficient_permission");
  expect(refused.missing).toEqual(["invoices:write"]);
  const read = await request.get("/gw/invoices/7", { headers: { "x-api-key": secret } });
  expect((await read.json()).error).not.toBe("insufficient_permission");

  // The key's page says what it holds.
  await page.locator("a.key-title", { hasText: "Invoice reader" }).click();
  await expect(page.getByTestId("key-permissions")).toHaveText("Permissions: invoices:read. Roles: invoices-readonly");
  const keyForm = page.getByTestId("key-permissions-form");
  await expect(keyForm.getByLabel("invoices", { exact: true })).toHaveValue("invoices:read");
  await expect(keyForm.getByLabel("Other permissions")).toHaveValue("");

  // Least privilege from real use: the read counted under its rule (written by the
  // usage flush, every 5 s here), and the key restricted to it after a confirmation.
  const keyUrl = page.url();
  await expect
    .poll(
      async () => {
        await gotoHydrated(page, keyUrl);
        return page.getByTestId("permission-used").textContent();
      },
      { timeout: 30_000, intervals: [1_000] },
    )
    .toContain("invoices:read");
  const used = page.getByTestId("permission-use");
  // The read, allowed, and the write, refused: one row per rule.
  await expect(used.locator("tbody tr")).toHaveCount(2);
  await expect(used.locator("tbody tr", { hasText: "GET /invoices/*" }).locator("td[data-label=Allowed]")).toHaveText("1");
  await expect(used.locator("tbody tr", { hasText: "POST /invoices/*" }).locator("td[data-label=Refused]")).toHaveText("1");
  const restrict = page.getByTestId("restrict");
  await restrict.getByText("Restrict to what it used…").click();
  await expect(page.getByTestId("restrict-removes")).toHaveText("Removes roles invoices-readonly.");
  await expect(page.getByTestId("restrict-keeps")).toHaveText("Keeps invoices:read.");
  await page.getByRole("button", { name: "Restrict permissions" }).click();
  await waitHydrated(page);
  await expect(page.getByTestId("key-permissions")).toHaveText("Permissions: invoices:read");
  await expect(page.getByTestId("restrict")).toHaveCount(0);
  const again = await request.post("/gw/invoices/7", { headers: { "x-api-key": secret } });
  expect(again.status()).toBe(403);

  // Write on the key's page gives read and write; the gateway lets the write through
  // the rules (to no upstream here).
  await keyForm.getByLabel("invoices", { exact: true }).selectOption("Write");
  await keyForm.getByRole("button", { name: "Save permissions" }).click();
  await waitHydrated(page);
  await expect(page.getByTestId("key-permissions")).toHaveText("Permissions: invoices:read, invoices:write");
  await expect(keyForm.getByLabel("invoices", { exact: true })).toHaveValue("invoices:read invoices:write");
  const written = await request.post("/gw/invoices/7", { headers: { "x-api-key": secret } });
  expect((await written.json()).error).not.toBe("insufficient_permission");
});

test("an OpenAPI document is reviewed before it is applied, and upstreams are saved", async ({ browser }) => {
  const { keysPath, owner: page } = await orgWith(browser, []);
  const permissionsPath = keysPath.replace(/\/keys$/, "/permissions");
  await gotoHydrated(page, permissionsPath);
  const importForm = page.getByTestId("openapi-form");
  const documentField = importForm.getByLabel("OpenAPI document (JSON)");

  // Not a document: said beside the field, and what was typed is kept.
  await documentField.fill("openapi: 3.0.3");
  await importForm.getByRole("button", { name: "Review import" }).click();
  await expect(page.locator("#openapi-document-error")).toContainText("not JSON");
  await expect(documentField).toHaveValue("openapi: 3.0.3");

  const document = {
    openapi: "3.0.3",
    tags: [{ name: "Orders", description: "Orders </textarea><h1>x</h1>" }],
    paths: {
      "/orders": { get: { tags: ["Orders"] }, post: { tags: ["Orders"] } },
      "/orders/{id}": { delete: { tags: ["Orders"] } },
    },
  };
  await documentField.fill(JSON.stringify(document));
  await importForm.getByRole("button", { name: "Review import" }).click();
  await waitHydrated(page);
  // Shown for review; nothing saved yet.
  await expect(page.getByTestId("openapi-summary")).toHaveText(
    "Applying adds 2 of these 2 permissions to the catalog and replaces the 0 route rules with these 3.",
  );
  await expect(page.getByTestId("openapi-permissions")).toContainText("Orders </textarea><h1>x</h1>");
  await expect(page.getByTestId("openapi-permissions").locator("h1")).toHaveCount(0);
  await expect(page.getByTestId("openapi-rules").locator("tbody tr")).toHaveCount(3);
  await expect(page.getByTestId("no-rules")).toBeVisible();
  await expect(page.getByTestId("no-permissions")).toBeVisible();

  // Discarded, then reviewed again and applied.
  await page.getByRole("button", { name: "Discard" }).click();
  await waitHydrated(page);
  await expect(page.getByTestId("openapi-form")).toBeVisible();
  await page.getByTestId("openapi-form").getByLabel("OpenAPI document (JSON)").fill(JSON.stringify(document));
  await page.getByTestId("openapi-form").getByRole("button", { name: "Review import" }).click();
  await waitHydrated(page);
  await page.getByRole("button", { name: "Apply import" }).click();
  await waitHydrated(page);
  await expect(page.getByTestId("rule-list").locator("tbody tr")).toHaveCount(3);
  await expect(page.getByTestId("permission-list")).toContainText("orders:write");
  await expect(page.getByTestId("openapi-form")).toBeVisible();

  // Upstreams: a host the operator does not allow is refused beside the field; one it
  // allows is saved and listed.
  const upstreams = page.getByTestId("upstreams-form");
  await upstreams.getByLabel("Upstreams, one per line").fill("/billing http://10.0.0.7/api");
  await upstreams.getByRole("button", { name: "Save upstreams" }).click();
  await expect(page.locator("#upstreams-error")).toContainText("billing.internal");
  await expect(page.getByTestId("no-upstreams")).toBeVisible();
  await upstreams.getByLabel("Upstreams, one per line").fill("/Billing https://billing.internal/api");
  await upstreams.getByRole("button", { name: "Save upstreams" }).click();
  await waitHydrated(page);
  await expect(page.getByTestId("upstream-list")).toContainText("/billing");
  await expect(page.getByTestId("upstream-list")).toContainText("https://billing.internal/api");
});
