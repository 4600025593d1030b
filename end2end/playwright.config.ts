import { defineConfig } from "@playwright/test";
import * as os from "os";
import * as path from "path";
import * as fs from "fs";

// `.ci/test.sh` starts the release server itself (to measure it) and passes its URL.
// Run alone (`npx playwright test` after `cargo leptos build --release`), this config
// starts the release binary on a fresh data directory.
const external = process.env.KEYGATE_E2E_URL;
const port = 3100;
const baseURL = external ?? `http://127.0.0.1:${port}`;
const dataDir = external ? "" : fs.mkdtempSync(path.join(os.tmpdir(), "keygate-e2e-"));
// The import test runs the CLI on the server's data directory, as an operator would.
if (!external) {
  process.env.KEYGATE_E2E_DATA_DIR = dataDir;
  process.env.KEYGATE_E2E_BIN = path.resolve(__dirname, "../target/release/keygate");
}

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: external
    ? undefined
    : {
        command: "../target/release/keygate",
        cwd: "..",
        url: `${baseURL}/readyz`,
        reuseExistingServer: false,
        env: {
          KEYGATE_ADDR: `127.0.0.1:${port}`,
          KEYGATE_DATA_DIR: dataDir,
          KEYGATE_SIGNUP_LIMIT: "1000",
          // The webhook test's receiver listens on loopback.
          KEYGATE_WEBHOOK_ALLOWED_HOSTS: "127.0.0.1",
          // The host the permissions test's upstream names.
          KEYGATE_UPSTREAM_HOSTS: "billing.internal",
        },
      },
});
