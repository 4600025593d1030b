// Screenshots of keys imported from Better Auth and Unkey: the keys list with their
// "imported" badges and old hints beside a key issued here, and an imported key's own page,
// before and after its first use, at three widths.
//   BASE=http://127.0.0.1:3000 OUT=/tmp/shots KEYGATE_DATA_DIR=... KEYGATE_BIN=target/release/keygate \
//     node end2end/shots-imports.mjs
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { ownerWithOrg } from "./shots-setup.mjs";
const base = process.env.BASE;
const out = process.env.OUT || "/tmp/shots";
const { browser, page, settings, orgId, rpc } = await ownerWithOrg(base);
await rpc("create_api_key", { name: "Billing service", expiry: "90", scopes: "gateway" });
const betterAuth = "ba_" + randomBytes(32).toString("base64url");
const unkey = "uk_" + randomBytes(24).toString("base64url");
const lines = [
  { name: "Legacy mobile app", sha256: createHash("sha256").update(betterAuth).digest("base64url"), encoding: "base64url", start: betterAuth.slice(0, 6), created_at: "2025-03-01T10:00:00Z" },
  { name: "Partner integration (Globex, from Unkey)", sha256: createHash("sha256").update(unkey).digest("base64"), encoding: "base64", start: unkey.slice(0, 6), created_at: "2025-06-12T08:30:00Z", expires_at: "2027-06-12T08:30:00Z", scopes: ["gateway", "keys:read"] },
  { name: "Old cron job", sha256: createHash("sha256").update("x" + betterAuth).digest("hex"), encoding: "hex", created_at: "2024-11-02T00:00:00Z" },
];
execFileSync(process.env.KEYGATE_BIN, ["key", "import", "--org", orgId, "--file", "-"], {
  input: lines.map((l) => JSON.stringify(l)).join("\n") + "\n",
  env: { ...process.env },
});
const list = base + settings + "/keys";
await page.goto(list);
const id = await page.getByTestId("key-row").filter({ hasText: "Legacy mobile app" }).getByRole("link").getAttribute("href");
for (const width of [1280, 1024, 390]) {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(list);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/keys-imported-${width}.png`, fullPage: true });
  await page.goto(base + id);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/key-imported-${width}.png`, fullPage: true });
}
// First use, then the same page again.
for (let i = 0; i < 50; i++) {
  const r = await fetch(base + "/api/v1/whoami", { headers: { "x-api-key": betterAuth } });
  if (r.status === 200) break;
  await new Promise((ok) => setTimeout(ok, 200));
}
for (const width of [1280, 390]) {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(base + id);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/key-imported-used-${width}.png`, fullPage: true });
}
await browser.close();
