import { expect, test, type Page } from "@playwright/test";
import { forwardGatehouse, nginxPort } from "../playwright.config";
import { ADMIN, api, hydrated, logIn, uniqueUser } from "./helpers";

// An app with no login of its own behind a real nginx, which asks Gatehouse
// about every request (auth_request). Gatehouse's pages are on
// id.gatehouse.test, the apps on app. and admin.gatehouse.test: one sign-in
// covers them all (GATEHOUSE_COOKIE_DOMAIN).

const app = `http://app.gatehouse.test:${nginxPort}`;
const adminApp = `http://admin.gatehouse.test:${nginxPort}`;

async function ensureAccounts(page: Page, user: { username: string; email: string; password: string }) {
  await page.goto(`${forwardGatehouse}/login`);
  // First run of this instance: create the admin (this signs them in; sign out again).
  if (page.url().includes("/setup")) {
    expect(await api(page, "/api/v1/auth/setup", { username: ADMIN.username, password: ADMIN.password, email: ADMIN.email })).toBe(201);
    expect(await api(page, "/api/v1/auth/logout", {})).toBe(200);
  }
  expect(await api(page, "/api/v1/auth/signup", { email: user.email, username: user.username, password: user.password })).toBe(201);
}

test("an app behind nginx sends visitors to sign in, then sees who they are", async ({ page }) => {
  const user = uniqueUser("fwd");
  await ensureAccounts(page, user);

  // Not signed in: the app is out of reach, and the browser goes to the login page.
  await page.goto(`${app}/notes?id=7`);
  await expect(page).toHaveURL(`${forwardGatehouse}/login?return=${encodeURIComponent(`${app}/notes?id=7`)}`);
  await hydrated(page);
  await logIn(page, user.username, user.password);
  // Back at the app, which sees the user in the proxy's headers.
  await expect(page).toHaveURL(`${app}/notes?id=7`);
  await expect(page.locator('[data-header="x-gatehouse-user"]')).toHaveText(user.username);
  await expect(page.locator('[data-header="x-gatehouse-email"]')).toHaveText(user.email);
  await expect(page.locator('[data-header="remote-groups"]')).toHaveText("user");

  // A header the client sends under the same name is not what the app sees.
  await page.setExtraHTTPHeaders({ "X-Gatehouse-User": ADMIN.username, "Remote-User": ADMIN.username });
  await page.reload();
  await expect(page.locator('[data-header="x-gatehouse-user"]')).toHaveText(user.username);
  await expect(page.locator('[data-header="remote-user"]')).toHaveText(user.username);
  await page.setExtraHTTPHeaders({});

  // An admin-only host refuses a plain user.
  const refused = await page.goto(`${adminApp}/`);
  expect(refused?.status()).toBe(403);

  // Signing out of Gatehouse locks the app again, at once.
  await page.goto(`${forwardGatehouse}/dashboard`);
  await hydrated(page);
  await page.getByRole("button", { name: "Logout" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto(`${app}/notes`);
  await expect(page).toHaveURL(new RegExp(`^${forwardGatehouse.replaceAll(".", "\\.")}/login\\?return=`));
});

test("without JavaScript, the sign-in returns to the app too; the admin reaches the admin host", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${forwardGatehouse}/login`);
  await page.goto(`${adminApp}/settings`);
  await expect(page).toHaveURL(/id\.gatehouse\.test:\d+\/login\?return=/);
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(`${adminApp}/settings`);
  await expect(page.locator('[data-header="x-gatehouse-roles"]')).toHaveText("admin");
  // The same sign-in reaches the other app of the domain.
  await page.goto(`${app}/`);
  await expect(page.locator('[data-header="x-gatehouse-user"]')).toHaveText(ADMIN.username);
  await context.close();
});
