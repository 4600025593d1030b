// Screenshots of the Webhooks page (endpoints, the one-time secret, deliveries delivered,
// retrying and failed to connect) at three widths. Needs a server started with
// KEYGATE_WEBHOOK_ALLOWED_HOSTS=127.0.0.1.
//   BASE=http://127.0.0.1:3000 OUT=/tmp/shots node end2end/shots-webhooks.mjs
import { ownerWithOrg } from "./shots-setup.mjs";
import * as http from "http";
const base = process.env.BASE;
const out = process.env.OUT || "/tmp/shots";
const ok = http.createServer((req, res) => { req.resume(); res.end('{"received":true}'); });
const failing = http.createServer((req, res) => { req.resume(); res.writeHead(503); res.end("upstream maintenance, try later"); });
await new Promise((r) => ok.listen(0, "127.0.0.1", r));
await new Promise((r) => failing.listen(0, "127.0.0.1", r));
const { browser, ctx, page, settings, orgId, rpc } = await ownerWithOrg(base, { clipboard: true });
const good = await rpc("create_webhook", { url: `http://127.0.0.1:${ok.address().port}/hooks/keygate?team=platform-security`, events: "key.created,key.rolled,key.revoked,key.paused,key.expiring,key.expired,member.removed" });
const bad = await rpc("create_webhook", { url: `http://127.0.0.1:${failing.address().port}/events`, events: "key.revoked,member.removed" });
const closed = await rpc("create_webhook", { url: "http://127.0.0.1:9/nothing-listens-here", events: "key.created" });
await rpc("create_api_key", { name: "Billing service", expiry: "90", scopes: "gateway" });
await rpc("send_test_webhook", { endpoint_id: good.endpoint.id });
await rpc("send_test_webhook", { endpoint_id: bad.endpoint.id });
await rpc("send_test_webhook", { endpoint_id: closed.endpoint.id });
await new Promise((r) => setTimeout(r, 3000));
for (const width of [1280, 1024, 390]) {
  await page.setViewportSize({ width, height: 900 });
  await page.goto(base + settings + "/webhooks");
  await page.waitForSelector("body[data-hydrated=true]");
  await page.screenshot({ path: `${out}/webhooks-${width}.png`, fullPage: true });
  await page.getByLabel("Endpoint URL").fill(`https://example.com/shot-${width}`);
  await page.getByRole("button", { name: "Add endpoint" }).click();
  await page.getByTestId("webhook-secret").waitFor();
  await page.getByTestId("webhook-secret").getByRole("button", { name: "Done" }).click();
  await page.screenshot({ path: `${out}/webhook-secret-${width}.png` });
  await page.getByTestId("webhook-secret").getByRole("button", { name: "Close anyway" }).click();
}
await browser.close();
ok.close();
failing.close();
