import { expect } from "@playwright/test";
import * as crypto from "crypto";
import * as http from "http";
import type { AddressInfo } from "net";
import { gotoHydrated, orgWith, test } from "./helpers";

// Webhooks in the browser (issue 9): an owner adds an endpoint, copies its secret (shown
// once), sends a test event that a real local receiver gets with a valid Standard
// Webhooks signature, and sees it delivered in the log. The server runs with
// KEYGATE_WEBHOOK_ALLOWED_HOSTS=127.0.0.1 so that it may send to this loopback receiver.

type Received = { id: string; timestamp: string; signature: string; body: string };

async function receiver(): Promise<{ url: string; seen: Received[]; close: () => void }> {
  const seen: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      seen.push({
        id: String(req.headers["webhook-id"] ?? ""),
        timestamp: String(req.headers["webhook-timestamp"] ?? ""),
        signature: String(req.headers["webhook-signature"] ?? ""),
        body,
      });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("received by the e2e receiver");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/keygate`, seen, close: () => server.close() };
}

function signature(whsec: string, r: Received): string {
  const key = Buffer.from(whsec.replace(/^whsec_/, ""), "base64");
  const mac = crypto.createHmac("sha256", key).update(`${r.id}.${r.timestamp}.${r.body}`).digest("base64");
  return `v1,${mac}`;
}

test("an owner adds a webhook, copies its secret once and sees a signed test event delivered", async ({ browser }) => {
  const hook = await receiver();
  try {
    const { keysPath, owner: page, pages } = await orgWith(browser, ["developer"]);
    const webhooksPath = keysPath.replace(/keys$/, "webhooks");
    await gotoHydrated(page, webhooksPath);
    await expect(page.getByRole("heading", { name: "Webhooks" })).toBeVisible();
    await expect(page.getByTestId("webhooks-empty")).toBeVisible();

    // A refused URL says why and saves nothing.
    await page.getByLabel("Endpoint URL").fill("ftp://example.com/x");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await expect(page.locator("#webhook-url-error")).toHaveText("Use an http:// or https:// URL.");
    await expect(page.getByTestId("webhooks-empty")).toBeVisible();

    // No events chosen is refused too.
    await page.getByLabel("Endpoint URL").fill(hook.url);
    for (const box of await page.locator(".events-field input[type=checkbox]").all()) await box.uncheck();
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await expect(page.locator("#webhook-events-error")).toHaveText("Choose at least one event.");
    await page.getByLabel(/key\.created/).check();
    await page.getByLabel(/key\.revoked/).check();
    await page.getByRole("button", { name: "Add endpoint" }).click();

    // The secret, once; Done before Copy asks first.
    const reveal = page.getByTestId("webhook-secret");
    await expect(reveal).toBeVisible();
    const whsec = (await reveal.locator(".secret").textContent())!.trim();
    expect(whsec).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    await reveal.getByRole("link", { name: "Done" }).click();
    await expect(reveal.getByTestId("secret-ask")).toContainText("You have not copied this secret. Close anyway?");
    await expect(reveal.getByRole("button", { name: "Keep it open" })).toBeFocused();
    await reveal.getByRole("button", { name: "Keep it open" }).click();
    await expect(reveal.getByTestId("secret-ask")).toBeHidden();
    await reveal.getByRole("button", { name: "Copy signing secret" }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(whsec);
    await reveal.getByRole("link", { name: "Done" }).click();
    await expect(reveal).toBeHidden();
    expect(await page.content()).not.toContain(whsec);

    const endpoint = page.getByTestId("endpoint");
    await expect(endpoint).toHaveCount(1);
    await expect(endpoint).toContainText(hook.url);
    await expect(endpoint).toContainText("key.created, key.revoked");

    // The test event reaches the receiver, signed, and the log shows it delivered
    // without a reload.
    await endpoint.getByRole("button", { name: `Send a test event to ${hook.url}` }).click();
    await expect(page.getByTestId("webhook-notice")).toContainText("queued");
    await expect.poll(() => hook.seen.length, { timeout: 15_000 }).toBe(1);
    const got = hook.seen[0];
    expect(got.signature).toBe(signature(whsec, got));
    expect(JSON.parse(got.body).type).toBe("webhook.test");
    const delivery = page.getByTestId("delivery").first();
    await expect(delivery).toHaveAttribute("data-status", "delivered", { timeout: 15_000 });
    await expect(delivery).toContainText("Delivered");
    await expect(delivery.getByTestId("delivery-response")).toHaveText("HTTP 200");
    await expect(delivery).toContainText(got.id);
    await expect(delivery).toContainText("webhook.test");

    // A developer cannot open the page.
    const dev = pages["developer"];
    await gotoHydrated(dev, webhooksPath);
    await expect(dev.getByTestId("access-denied")).toBeVisible();
    await expect(dev.getByRole("link", { name: "Webhooks" })).toHaveCount(0);

    // Delete asks, then the endpoint goes.
    await endpoint.getByText("Delete", { exact: true }).click();
    await endpoint.getByRole("button", { name: "Delete endpoint" }).click();
    await expect(page.getByTestId("webhooks-empty")).toBeVisible();
  } finally {
    hook.close();
  }
});
