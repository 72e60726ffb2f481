import { expect, test } from "@playwright/test";
import { createUser, hydrated, logIn, uniqueUser } from "./helpers";

test("change the password: other devices are signed out and the old password stops working", async ({ page, browser }) => {
  const user = uniqueUser("acct");
  await createUser(page, user);

  // Another device, signed in too.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await otherPage.goto("/login");
  await logIn(otherPage, user.username, user.password);
  await expect(otherPage).toHaveURL(/\/dashboard$/);

  await page.goto("/login?return=%2Faccount");
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/account$/);
  await hydrated(page);

  // A wrong current password is reported on its field.
  await page.getByLabel("Current password").fill("not the current one");
  await page.getByLabel("New password", { exact: true }).fill("a different long passphrase");
  await page.getByLabel("Confirm new password").fill("a different long passphrase");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.locator("#current_password-error")).toHaveText("current password is incorrect");

  const newPassword = `${user.password} v2`;
  await page.getByLabel("Current password").fill(user.password);
  await page.getByLabel("New password", { exact: true }).fill(newPassword);
  await page.getByLabel("Confirm new password").fill(newPassword);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page).toHaveURL(/\/account\?changed=password$/);
  await expect(page.getByRole("status")).toContainText("Your password was changed");
  // Only this session is left.
  await expect(page.getByTestId("session")).toHaveCount(1);

  // The other device is signed out at its next request.
  await otherPage.goto("/dashboard");
  await expect(otherPage).toHaveURL(/\/login\?return=%2Fdashboard$/);
  // The old password fails; the new one works.
  await logIn(otherPage, user.username, user.password);
  await expect(otherPage.getByRole("alert")).toHaveText("invalid credentials");
  await logIn(otherPage, user.username, newPassword);
  await expect(otherPage).toHaveURL(/\/dashboard$/);
  await other.close();
});

test("see your sessions and sign one out", async ({ page, browser }) => {
  const user = uniqueUser("sess");
  await createUser(page, user);
  const other = await browser.newContext({ userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/128.0" });
  const otherPage = await other.newPage();
  await otherPage.goto("/login");
  await logIn(otherPage, user.email, user.password);
  await expect(otherPage).toHaveURL(/\/dashboard$/);

  await page.goto("/login");
  await logIn(page, user.email, user.password);
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.getByRole("link", { name: "Account" }).click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId("session")).toHaveCount(2);
  await expect(page.getByTestId("session").filter({ hasText: "This device" })).toHaveCount(1);

  await page.getByRole("button", { name: "Sign out Firefox on Windows" }).click();
  await expect(page.getByRole("status")).toHaveText("The session was signed out.");
  await expect(page.getByTestId("session")).toHaveCount(1);

  await otherPage.reload();
  await expect(otherPage).toHaveURL(/\/login\?return=%2Fdashboard$/);
  await other.close();
});

test("many sessions come 20 a page, this one first", async ({ page, playwright }) => {
  const user = uniqueUser("pages");
  await createUser(page, user);
  // 21 sign-ins elsewhere (scripts, other browsers), through the API.
  const baseURL = test.info().project.use.baseURL;
  for (let i = 0; i < 21; i++) {
    const elsewhere = await playwright.request.newContext({ baseURL });
    const res = await elsewhere.post("/api/v1/auth/login", { data: { username: user.username, password: user.password } });
    expect(res.status()).toBe(200);
    await elsewhere.dispose();
  }
  await page.goto("/login?return=%2Faccount");
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/account$/);
  const sessions = page.getByTestId("session");
  await expect(sessions).toHaveCount(20);
  await expect(sessions.first()).toContainText("This device");
  await expect(page.getByTestId("sessions-shown")).toHaveText("1–20 of 22 sessions");

  await page.getByTestId("sessions-older").click();
  await expect(page).toHaveURL(/\/account\?sessions=2#sessions$/);
  await expect(sessions).toHaveCount(2);
  await expect(sessions.filter({ hasText: "This device" })).toHaveCount(0);
  await expect(page.getByTestId("sessions-shown")).toHaveText("21–22 of 22 sessions");
  await expect(page.getByTestId("sessions-older")).toHaveCount(0);
  await page.getByRole("link", { name: "Newer" }).click();
  await expect(page.getByTestId("sessions-shown")).toHaveText("1–20 of 22 sessions");
});

test("sign out everywhere else", async ({ page, browser }) => {
  const user = uniqueUser("all");
  await createUser(page, user);
  const devices = await Promise.all([browser.newContext(), browser.newContext()]);
  for (const ctx of devices) {
    const p = await ctx.newPage();
    await p.goto("/login");
    await logIn(p, user.username, user.password);
    await expect(p).toHaveURL(/\/dashboard$/);
  }
  await page.goto("/login?return=%2Faccount");
  await logIn(page, user.username, user.password);
  await expect(page.getByTestId("session")).toHaveCount(3);
  await page.getByRole("button", { name: "Sign out everywhere else" }).click();
  await expect(page.getByRole("status")).toHaveText("Every other session was signed out.");
  await expect(page.getByTestId("session")).toHaveCount(1);
  for (const ctx of devices) {
    const p = ctx.pages()[0];
    await p.goto("/account");
    await expect(p).toHaveURL(/\/login\?return=%2Faccount$/);
    await ctx.close();
  }
});
