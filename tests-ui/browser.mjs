// Browser tests of the web UI in real headless Chromium (Debian's /usr/bin/chromium driven
// by playwright-core), against `jira-sync demo --serve` started by scripts/ui-test.sh.
//
// Environment (set by scripts/ui-test.sh from the demo's output):
//   UI_BASE        http://127.0.0.1:PORT
//   ADMIN_TOKEN    the demo's admin token
//   READ_TOKEN     the demo's read-only token
//   CONFLICT_ITEM  the work item with the open conflict
//   UNPUSHED_ITEM  a work item not pushed to Jira yet
//   SHOTS          where screenshots go
//   PW_MODULE      path of the installed playwright-core
//
// Prints one line per flow and a closing "N passed, M failed" line; exits 1 on a failure.

import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PW_MODULE || "playwright-core");

const BASE = process.env.UI_BASE;
const ADMIN = process.env.ADMIN_TOKEN;
const READER = process.env.READ_TOKEN;
const CONFLICT_ITEM = process.env.CONFLICT_ITEM;
const UNPUSHED_ITEM = process.env.UNPUSHED_ITEM;
const SHOTS = process.env.SHOTS || "target/ui-screenshots";
mkdirSync(SHOTS, { recursive: true });

const MERGED =
  "Users sign in with email and password.\n\nShow a **captcha** after 3 failed attempts; lock the account after 5.";

let passed = 0;
let failed = 0;

function check(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

async function flow(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

async function shot(page, name, fullPage = true) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

async function signIn(page, token) {
  await page.goto(`${BASE}/ui`);
  // Sent to the sign-in page; the form works from the keyboard.
  check(page.url().includes("/ui/login"), "redirected to the sign-in page");
  await page.getByLabel("API token").focus();
  await page.keyboard.type(token);
  await page.keyboard.press("Enter");
  await page.waitForURL(`${BASE}/ui`);
}

// Each session is its own Chromium with a fresh --user-data-dir (playwright passes it as
// launchPersistentContext's first argument).
const dirs = [];
const contexts = [];
async function launch(options = {}) {
  const dir = mkdtempSync(join(tmpdir(), "jira-sync-ui-chromium-"));
  dirs.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
    ],
    viewport: { width: 1280, height: 900 },
    ...options,
  });
  contexts.push(context);
  return context;
}

try {
  const admin = await launch();
  const page = await admin.newPage();
  page.setDefaultTimeout(20000);

  await flow("sign in with the admin token", async () => {
    await page.goto(`${BASE}/ui/login`);
    await shot(page, "01-sign-in");
    await signIn(page, ADMIN);
    check(await page.getByText("Signed in as").isVisible(), "signed in");
    check((await page.locator("h1").textContent()).includes("Dashboard"), "dashboard");
    check(await page.getByText("Connected: Jira answers").isVisible(), "site connected");
    check(await page.locator("svg.chart").isVisible(), "the chart");
    await shot(page, "02-dashboard");
  });

  await flow("open the conflict from the list", async () => {
    await page.getByRole("link", { name: "View conflicts" }).first().click();
    await page.waitForURL(/\/conflicts$/);
    await shot(page, "03-conflicts");
    await page.getByRole("link", { name: "Open conflict on description" }).click();
    await page.waitForURL(/\/ui\/conflicts\//);
    check(await page.getByRole("heading", { name: "Handoff version" }).isVisible(), "Handoff side");
    check(await page.getByRole("heading", { name: "Jira version" }).isVisible(), "Jira side");
    check((await page.locator('[data-side="jira"] strong').textContent()) === "captcha", "rich text rendered");
    check((await page.locator("#merged").inputValue()).includes("<<<<<<< Handoff"), "merge proposal with markers");
    await shot(page, "04-conflict");
  });

  await flow("resolve by an edited merge, then see both sides equal", async () => {
    await page.locator("#merged").fill(MERGED);
    await page.getByRole("button", { name: "Use merged" }).click();
    await page.getByText("Resolved the conflict on description").waitFor();
    await page.locator(".sync-badge", { hasText: "Synced" }).waitFor();
    await shot(page, "05-resolved");
    await page.goto(`${BASE}/ui/items/${CONFLICT_ITEM}`);
    await page.locator(".sync-badge", { hasText: "Synced" }).waitFor();
    const desc = page.locator("tr", { has: page.locator("td", { hasText: /^description$/ }) });
    check((await desc.locator("[data-equal]").getAttribute("data-equal")) === "true", "description equal on both sides");
    check((await page.locator('[data-equal="false"]').count()) === 0, "every field equal");
    check(await page.getByText("conflict on description resolved: merged by demo-admin").isVisible(), "timeline in words");
    await shot(page, "06-work-item");
  });

  await flow("change a mapping after a test run", async () => {
    await page.goto(`${BASE}/ui/projects/HANDOFF/settings`);
    await shot(page, "07-settings");
    await page.getByRole("link", { name: "Edit title" }).click();
    await page.getByLabel("Direction").selectOption("push");
    await page.getByLabel("Work item").fill(CONFLICT_ITEM);
    await page.getByRole("button", { name: "Test mapping" }).click();
    await page.getByText("Test result: nothing was written").waitFor();
    check(await page.locator("td", { hasText: "User Login" }).first().isVisible(), "the item's title in the test run");
    await shot(page, "08-settings-test");
    await page.getByRole("button", { name: "Save mapping" }).click();
    await page.getByText("saved as a new version by demo-admin").waitFor();
    await page.goto(`${BASE}/ui/projects/HANDOFF/settings`);
    const row = page.locator("tr", { has: page.locator("td", { hasText: /^title$/ }) });
    check((await row.textContent()).includes("→ Push only"), "title is push-only now");
    check(await page.getByText(/version 1: by demo-admin/).isVisible(), "the version with who");
  });

  await flow("a badge goes from Pending to Synced", async () => {
    await page.goto(`${BASE}/ui/links`);
    await shot(page, "09-links");
    await page.getByLabel("Work item", { exact: true }).first().fill(UNPUSHED_ITEM);
    await page.getByRole("button", { name: "Push" }).click();
    await page.getByText("pushed to Jira").waitFor();
    const first = await page.locator(".sync-badge").first().textContent();
    check(first.includes("Pending"), `the badge first reads Pending (read: ${first})`);
    await page.locator(".sync-badge", { hasText: "Synced" }).waitFor();
    await shot(page, "10-pushed");
    // The SVG badge as a host embeds it: an <img> on another page.
    const host = await admin.newPage();
    await host.setViewportSize({ width: 420, height: 120 });
    await host.setContent(
      `<body style="font:15px sans-serif;padding:16px">User Login &nbsp; <img alt="sync status" src="${BASE}/ui/badge/${UNPUSHED_ITEM}.svg?token=${READER}"></body>`,
    );
    await host.locator("img").evaluate((img) => img.complete || new Promise((r) => (img.onload = r)));
    check((await host.locator("img").evaluate((img) => img.naturalWidth)) > 0, "the SVG badge loads with a read token");
    await shot(host, "11-badge-svg", false);
    await host.close();
  });

  const viewer = await launch();
  const vpage = await viewer.newPage();
  vpage.setDefaultTimeout(20000);
  await flow("a read-only session sees no action buttons", async () => {
    await signIn(vpage, READER);
    check(await vpage.getByText("(read-only)").isVisible(), "read-only");
    check((await vpage.getByRole("button", { name: "Force full sync" }).count()) === 0, "no Force full sync");
    check((await vpage.getByRole("button", { name: "Retry failed" }).count()) === 0, "no Retry failed");
    await vpage.goto(`${BASE}/ui/items/${CONFLICT_ITEM}`);
    check((await vpage.getByRole("button", { name: "Sync now" }).count()) === 0, "no Sync now");
    await vpage.goto(`${BASE}/ui/projects/HANDOFF/settings`);
    check((await vpage.getByRole("button", { name: "Save mapping" }).count()) === 0, "no Save");
    await vpage.goto(`${BASE}/ui/links`);
    check((await vpage.getByRole("button", { name: "Push" }).count()) === 0, "no Push");
    await shot(vpage, "12-read-only");
  });

  const nojs = await launch({ javaScriptEnabled: false });
  const npage = await nojs.newPage();
  npage.setDefaultTimeout(20000);
  await flow("pages are readable without JavaScript", async () => {
    await npage.goto(`${BASE}/ui/login`);
    await npage.getByLabel("API token").fill(READER);
    await npage.getByRole("button", { name: "Sign in" }).click();
    await npage.waitForURL(`${BASE}/ui`);
    check(await npage.getByText("Links by status").first().isVisible(), "dashboard without JavaScript");
    await npage.goto(`${BASE}/ui/items/${CONFLICT_ITEM}`);
    check(await npage.getByText("Timeline").isVisible(), "item page without JavaScript");
  });
} finally {
  for (const c of contexts) await c.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

console.log(`ui browser tests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
