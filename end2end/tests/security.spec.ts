import { expect, test } from "@playwright/test";
import { ADMIN, answered, hydrated, logIn } from "./helpers";
import { limitedPort } from "../playwright.config";

test("the app hydrates and works under the Content-Security-Policy (ASVS 3.4.3)", async ({ page }) => {
  const violations: string[] = [];
  page.on("console", (msg) => {
    if (/Content.Security.Policy|Refused to/i.test(msg.text())) violations.push(msg.text());
  });
  const res = await page.goto("/login");
  const csp = res?.headers()["content-security-policy"] ?? "";
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toMatch(/script-src [^;]*'nonce-[A-Za-z0-9_-]+'/);
  expect(csp).not.toContain("unsafe-inline");
  await hydrated(page);
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/\/dashboard$/);
  await hydrated(page);
  expect(violations).toEqual([]);
});

test("a rate-limited login says how long to wait (ASVS 6.3.1)", async ({ page, request }) => {
  const base = `http://127.0.0.1:${limitedPort}`;
  // This instance allows 2 failed logins per address per 15 minutes.
  const setup = await request.post(`${base}/api/v1/auth/setup`, {
    data: { username: ADMIN.username, password: ADMIN.password },
  });
  expect([201, 403]).toContain(setup.status());

  await page.goto(`${base}/login`);
  await hydrated(page);
  for (let i = 0; i < 2; i++) {
    await answered(page, () => logIn(page, ADMIN.username, `wrong password ${i}`));
    await expect(page.getByRole("alert")).toHaveText("invalid credentials");
  }
  await logIn(page, ADMIN.username, ADMIN.password);
  const alert = page.getByRole("alert");
  await expect(alert).toContainText("too many failed attempts; try again in 15 minutes");
  await expect(alert).toHaveAttribute("data-retry-after", /^\d+$/);
  await expect(page).toHaveURL(/\/login/);
});

test("a new password gets a strength hint as it is typed", async ({ page }) => {
  await page.goto("/signup");
  await hydrated(page);
  const password = page.getByLabel("Password", { exact: true });
  // The marker says the app has hydrated; the page's own part (under the
  // site state's Suspense) may take a moment more, and typing before it
  // listens shows nothing until the next keystroke, as for a person: type
  // again until it answers.
  await expect(async () => {
    await password.fill("");
    await password.fill("short");
    await expect(page.locator("#password-strength")).toHaveText("Too short. 5 more characters to go.", { timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await password.fill("aaaaaaaaaaaa");
  await expect(page.locator("#password-strength")).toContainText("Weak");
  await password.fill("tangerine orbit lantern 42");
  await expect(page.locator("#password-strength")).toContainText(/Good|Strong/);
});

test("a common password is refused with a reason", async ({ page }) => {
  await page.goto("/signup");
  await hydrated(page);
  await page.getByLabel("Email").fill(`common${Date.now()}@example.com`);
  await page.getByLabel("Password", { exact: true }).fill("qwertyuiop");
  await page.getByLabel("Confirm password").fill("qwertyuiop");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator("#password-error")).toContainText("too common");
});
