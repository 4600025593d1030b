import { expect, type Page } from "@playwright/test";
import { createKey, gotoHydrated, orgWith, test } from "./helpers";

/** Every control of `table` (buttons, selects, links) within the viewport and within the
 * card around the table, and the table not wider than its card. */
async function assertFits(page: Page, testId: string, width: number) {
  const problems = await page.evaluate((id) => {
    const table = document.querySelector(`[data-testid=${id}]`) as HTMLElement | null;
    if (!table) return [`no table ${id}`];
    const card = table.closest(".card") as HTMLElement;
    const box = card.getBoundingClientRect();
    const out: string[] = [];
    if (table.getBoundingClientRect().right > box.right + 0.5) out.push(`table wider than its card`);
    for (const scroller of Array.from(card.querySelectorAll(".table-scroll")) as HTMLElement[]) {
      if (scroller.scrollWidth > scroller.clientWidth + 1) out.push(`scrolls sideways by ${scroller.scrollWidth - scroller.clientWidth}px`);
    }
    for (const control of Array.from(table.querySelectorAll("button, select, a, input")) as HTMLElement[]) {
      const r = control.getBoundingClientRect();
      // Not rendered (a hidden input, a button needed only without script): nowhere to be.
      if (r.width === 0 && r.height === 0) continue;
      const name = control.getAttribute("aria-label") || control.textContent?.trim() || control.tagName;
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5) out.push(`${name} outside its card`);
      if (r.left < 0 || r.right > window.innerWidth) out.push(`${name} outside the viewport`);
    }
    return out;
  }, testId);
  expect(problems, `${testId} at ${width}px`).toEqual([]);
}

test("the keys and members tables fit their cards at 1280, 1024 and 390 px, with labelled values when stacked", async ({ browser }) => {
  const { keysPath, membersPath, owner: page } = await orgWith(browser, ["developer", "member"]);
  await gotoHydrated(page, keysPath);
  // Long names, every status, a revocation note: the widest rows there are.
  await createKey(page, "Billing service (production, eu-west-1) nightly reconciliation", "never");
  await createKey(page, "Reporting", "7");
  await createKey(page, "Revoked one", "30");
  const revoked = page.locator("tr[data-testid=key-row]").filter({ hasText: "Revoked one" });
  await revoked.getByRole("button", { name: /^Revoke/ }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
  await expect(revoked).toHaveAttribute("data-status", "revoked");

  for (const width of [1280, 1024, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await gotoHydrated(page, keysPath);
    await assertFits(page, "keys", width);
    // Roll and Revoke stay one keyboard step from the row's content.
    const row = page.locator("tr[data-testid=key-row]").filter({ hasText: "Reporting" });
    await expect(row.getByRole("button", { name: "Roll key Reporting" })).toBeVisible();
    await expect(row.getByRole("button", { name: "Revoke key Reporting" })).toBeVisible();
    await gotoHydrated(page, membersPath);
    await assertFits(page, "members", width);
  }

  // At 390 px each stacked value says what it is.
  await page.setViewportSize({ width: 390, height: 900 });
  await gotoHydrated(page, keysPath);
  const labels = await page.locator("tr[data-testid=key-row]").first().locator("td[data-label]").evaluateAll((cells) =>
    cells.map((c) => getComputedStyle(c, "::before").content.replace(/"/g, "")),
  );
  expect(labels).toEqual(["Name", "Created", "Last used", "Expires", "Status"]);
});
