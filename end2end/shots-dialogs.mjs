// Screenshots of the keys page's dialogs with script (create, a refusal in it, the
// reveal, the roll and pause confirmations) and the webhooks page's in-place answers, at
// 1280, 1024 and 390 px:
// BASE=http://127.0.0.1:3000 OUT=/tmp/shots node end2end/shots-dialogs.mjs
import { chromium } from "@playwright/test";
import { copyAndClose, signUp } from "./shots-common.mjs";
const base = process.env.BASE, out = process.env.OUT;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox"] });
const stamp = Date.now();

for (const width of [1280, 1024, 390]) {
  const context = await browser.newContext({ viewport: { width, height: 800 }, permissions: ["clipboard-read", "clipboard-write"] });
  const page = await context.newPage();
  const shot = (name) => page.screenshot({ path: `${out}/${name}-${width}.png` });
  await signUp(page, base, `shots-${stamp}-${width}@example.com`, "Dee </textarea><h1>Dialogs");
  await page.getByLabel("Organization name").fill("Dialog Corp");
  await page.getByRole("button", { name: "Create organization" }).click();
  await page.waitForURL(/\/settings$/);
  const orgPath = new URL(page.url()).pathname;
  await page.goto(`${base}${orgPath}/keys`);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.getByRole("link", { name: "Create key", exact: true }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Name").waitFor();
  await shot("dialog-create");
  await dialog.getByLabel("Name").fill("x".repeat(101));
  await dialog.getByLabel("Expiration").selectOption("custom");
  await dialog.getByRole("button", { name: "Create key" }).click();
  await dialog.locator("[aria-invalid=true]").first().waitFor();
  await shot("dialog-create-refused");
  await dialog.getByLabel("Name").fill("Billing </textarea><h1> key");
  await dialog.getByLabel("Expiration").selectOption("30");
  await dialog.getByRole("button", { name: "Create key" }).click();
  await dialog.getByTestId("secret").waitFor();
  await shot("dialog-reveal");
  await dialog.getByRole("link", { name: "Done" }).click();
  await dialog.getByTestId("close-anyway").waitFor();
  await shot("dialog-reveal-ask");
  await copyAndClose(page);
  await shot("keys-after-create");
  const row = page.getByTestId("key-row").first();
  await row.getByRole("button", { name: /^Pause key/ }).click();
  await dialog.getByLabel("Pause").selectOption("until");
  await dialog.getByLabel("Resume at (your local time)").fill("2020-01-01T10:00");
  await dialog.getByRole("button", { name: "Pause key" }).click();
  await dialog.getByText("Pick a time in the future.").waitFor();
  await shot("dialog-pause-refused");
  await dialog.getByRole("link", { name: "Cancel" }).click();
  await row.getByRole("button", { name: /^Roll key/ }).click();
  await dialog.getByRole("radio", { name: "In 24 hours" }).check();
  await shot("dialog-roll");
  await dialog.getByRole("button", { name: "Roll key" }).click();
  await copyAndClose(page);
  await shot("keys-after-roll");
  await page.goto(`${base}${orgPath}/webhooks`);
  await page.waitForSelector("body[data-hydrated=true]");
  await page.getByLabel("Endpoint URL").fill("http://127.0.0.1:9/</textarea><h1>");
  await page.getByRole("button", { name: "Add endpoint" }).click();
  await page.getByTestId("webhook-secret").waitFor();
  await page.screenshot({ path: `${out}/webhooks-added-${width}.png`, fullPage: true });
  await context.close();
}
await browser.close();
