import { expect } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { gotoHydrated, orgWith, test } from "./helpers";

// Keys imported from Better Auth (issue 13 §4), as the browser shows them: the operator's
// CLI imports a key hashed as Better Auth hashes it (SHA-256, base64url, no padding); the
// keys page lists it with an "imported" badge and its old hint, its own page says when it
// was imported, and the key works as it was issued.

const dataDir = process.env.KEYGATE_E2E_DATA_DIR;
const bin = process.env.KEYGATE_E2E_BIN;

test("an imported key is listed as imported and works as it was issued", async ({ browser, request }) => {
  expect(dataDir, "KEYGATE_E2E_DATA_DIR is set by .ci/test.sh and the Playwright config").toBeTruthy();
  expect(bin).toBeTruthy();
  const { keysPath, owner: page } = await orgWith(browser, []);
  const orgId = keysPath.split("/")[2];
  const key = "ba_" + randomBytes(32).toString("base64url");
  const sha256 = createHash("sha256").update(key).digest("base64url");
  const line = JSON.stringify({
    name: "Legacy mobile app", sha256, encoding: "base64url", start: key.slice(0, 6),
    created_at: "2025-03-01T10:00:00Z",
  });
  const out = execFileSync(bin!, ["key", "import", "--org", orgId, "--file", "-"], {
    input: line + "\n",
    env: { ...process.env, KEYGATE_DATA_DIR: dataDir },
  }).toString();
  expect(out.trim()).toBe(`imported 1 key into ${orgId}, skipped 0 already expired`);

  await gotoHydrated(page, keysPath);
  const row = page.getByTestId("key-row").filter({ hasText: "Legacy mobile app" });
  await expect(row.getByTestId("key-imported")).toHaveText("imported");
  await expect(row.locator("code.hint").first()).toHaveText(`${key.slice(0, 6)}…`);
  await expect(row).toContainText("Mar 1, 2025");

  // It works as issued (the server learns of the import within a poll interval).
  await expect
    .poll(async () => (await request.get("/api/v1/whoami", { headers: { "x-api-key": key } })).status())
    .toBe(200);
  const whoami = await (await request.get("/api/v1/whoami", { headers: { authorization: `Bearer ${key}` } })).json();
  expect(whoami.org_id).toBe(orgId);

  await row.getByRole("link", { name: "Legacy mobile app" }).click();
  await expect(page.getByTestId("key-imported-at")).toContainText("from another product");
  await expect(page.getByTestId("key-facts")).toContainText("Mar 1, 2025");
});
