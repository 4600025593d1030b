// Screenshots of the account forms refused without script, at 1280, 1024 and 390 px:
// BASE=http://127.0.0.1:3000 OUT=/tmp/shots node end2end/shots-noscript.mjs
import { chromium } from "@playwright/test";
const base = process.env.BASE, out = process.env.OUT;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox"] });
for (const width of [1280, 1024, 390]) {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${base}/signup`);
  await page.getByLabel("Email").fill("not-an-email");
  await page.getByLabel("Display name").fill("</textarea><h1>Ada");
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(/\/signup$/);
  await page.screenshot({ path: `${out}/signup-refused-${width}.png`, fullPage: true });
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill("nobody@example.com");
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/login$/);
  await page.screenshot({ path: `${out}/login-refused-${width}.png`, fullPage: true });
  await context.close();
}
await browser.close();
