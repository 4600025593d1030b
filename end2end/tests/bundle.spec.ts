import { expect } from "@playwright/test";
import { gotoHydrated, newContext, test } from "./helpers";

test("the bundle arrives brotli-compressed under hashed names, and cached for a year; pages are never stored", async ({ browser }) => {
  const context = await newContext(browser);
  const page = await context.newPage();
  const bundle: { url: string; encoding?: string; cache?: string; length: number }[] = [];
  page.on("response", async (response) => {
    const url = new URL(response.url());
    if (!url.pathname.startsWith("/pkg/")) return;
    const headers = await response.allHeaders();
    bundle.push({
      url: url.pathname,
      encoding: headers["content-encoding"],
      cache: headers["cache-control"],
      length: Number(headers["content-length"] ?? "0"),
    });
  });
  const first = await gotoHydrated(page, "/");
  expect(first!.headers()["cache-control"]).toBe("no-store");
  const names = bundle.map((b) => b.url).sort();
  expect(names).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^\/pkg\/keygate\.[A-Za-z0-9_-]{22}\.js$/),
      expect.stringMatching(/^\/pkg\/keygate\.[A-Za-z0-9_-]{22}\.wasm$/),
      expect.stringMatching(/^\/pkg\/keygate\.[A-Za-z0-9_-]{22}\.css$/),
    ]),
  );
  for (const file of bundle) {
    expect(file.encoding, file.url).toBe("br");
    expect(file.cache, file.url).toBe("public, max-age=31536000, immutable");
  }
  const wasm = bundle.find((b) => b.url.endsWith(".wasm"))!;
  // Far below the 1.4 MB a first visit used to download: only the islands are in it
  // (136 KB brotli on 2026-12-02, 472 KB when the whole app hydrated).
  expect(wasm.length).toBeGreaterThan(0);
  expect(wasm.length).toBeLessThan(200_000);

  await context.close();
});
