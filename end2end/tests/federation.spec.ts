import { expect, test, type Page } from "@playwright/test";
import { federatedGatehouse, idpPort } from "../playwright.config";
import { ADMIN, api, hydrated, logIn, uniqueUser } from "./helpers";

// Signing in through another identity provider: a real OpenID Connect
// provider (panva's oidc-provider, with its development login and consent
// pages) and a Gatehouse that offers "Continue with Test IdP".

const idp = `http://127.0.0.1:${idpPort}`;

/** This Gatehouse has its first admin (the first test to come creates it). */
async function ensureSetUp(page: Page) {
  await page.goto(`${federatedGatehouse}/login`);
  if (page.url().includes("/setup")) {
    const headers = { Origin: federatedGatehouse };
    const setup = await page.request.post(`${federatedGatehouse}/api/v1/auth/setup`, {
      headers,
      data: { username: ADMIN.username, password: ADMIN.password, email: ADMIN.email },
    });
    expect(setup.status()).toBe(201);
    const out = await page.request.post(`${federatedGatehouse}/api/v1/auth/logout`, { headers, data: {} });
    expect(out.status()).toBe(200);
    await page.goto(`${federatedGatehouse}/login`);
  }
}

/** What the provider says about `sub`. */
async function providerAccount(page: Page, sub: string, email: string) {
  const res = await page.request.post(`${idp}/_test/accounts`, {
    data: { sub, email, email_verified: true, preferred_username: sub, name: `Test ${sub}` },
  });
  expect(res.status()).toBe(204);
}

/**
 * At the provider: signs in as `login` (any password) when it asks, then
 * consents when it asks. (A provider that remembers the person asks less.)
 */
async function atProvider(page: Page, login: string) {
  await expect(page).toHaveURL(new RegExp(`^${idp}/interaction/`));
  await page.waitForLoadState("domcontentloaded");
  const loginBox = page.locator('input[name="login"]');
  if ((await loginBox.count()) > 0) {
    await loginBox.fill(login);
    await page.locator('input[name="password"]').fill("any password");
    await page.getByRole("button", { name: "Sign-in" }).click();
    await expect(loginBox).toHaveCount(0);
    await page.waitForLoadState("domcontentloaded");
  }
  if (page.url().startsWith(`${idp}/interaction/`)) {
    await page.getByRole("button", { name: "Continue" }).click();
  }
}

async function whoami(page: Page): Promise<{ username: string; email: string } | null> {
  const res = await page.request.get(`${federatedGatehouse}/api/v1/auth/session`);
  return (await res.json()).user ?? null;
}

test("a person signs up through another provider, then signs in with it again", async ({ page }) => {
  await ensureSetUp(page);
  const sub = uniqueUser("idp").username;
  await providerAccount(page, sub, `${sub}@example.com`);

  await hydrated(page);
  const button = page.getByRole("link", { name: "Continue with Test IdP" });
  await expect(button).toBeVisible();
  await page.screenshot({ path: "test-results/federation-login.png", fullPage: true });
  await button.click();
  await atProvider(page, sub);
  await expect(page).toHaveURL(`${federatedGatehouse}/dashboard`);
  expect(await whoami(page)).toMatchObject({ username: sub, email: `${sub}@example.com` });

  // The account has no password yet: the account page offers to set one.
  await page.goto(`${federatedGatehouse}/account`);
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Set a password" })).toBeVisible();
  await expect(page.getByLabel("Current password")).toHaveCount(0);
  await expect(page.locator('[data-testid="identity"][data-provider="testidp"]')).toContainText("Linked");

  // Signed out, it signs in again through the provider (whose own session
  // may still be there: no second login at the provider then).
  await page.getByRole("button", { name: "Logout" }).click();
  await expect(page).toHaveURL(/\/login$/);
  expect(await whoami(page)).toBeNull();
  await hydrated(page);
  await page.getByRole("link", { name: "Continue with Test IdP" }).click();
  await page.waitForURL((u) => u.href.startsWith(`${idp}/interaction/`) || u.href === `${federatedGatehouse}/dashboard`);
  if (page.url().startsWith(`${idp}/interaction/`)) await atProvider(page, sub);
  await expect(page).toHaveURL(`${federatedGatehouse}/dashboard`);
  expect(await whoami(page)).toMatchObject({ username: sub });
});

test("a user links a provider from the account page, signs in with it, and unlinks it", async ({ page, browser }) => {
  await ensureSetUp(page);
  const user = uniqueUser("link");
  expect(await api(page, "/api/v1/auth/signup", { email: user.email, username: user.username, password: user.password })).toBe(201);
  await hydrated(page);
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(`${federatedGatehouse}/dashboard`);

  const sub = uniqueUser("elsewhere").username;
  await providerAccount(page, sub, `${sub}@elsewhere.example`);
  await page.goto(`${federatedGatehouse}/account`);
  await hydrated(page);
  const card = page.locator("#providers");
  await expect(card.locator('[data-testid="identity"]')).toContainText("Not linked");
  await card.getByRole("link", { name: "Link Test IdP" }).click();
  await atProvider(page, sub);
  await expect(page).toHaveURL(`${federatedGatehouse}/account?linked=testidp`);
  await expect(page.getByText("The provider was linked")).toBeVisible();
  await expect(card.locator('[data-testid="identity"]')).toContainText(`Linked as ${sub}@elsewhere.example`);
  await card.screenshot({ path: "test-results/federation-account.png" });
  // A linked provider may confirm it is them before a sensitive change.
  const reauthButton = async (count: number) => {
    const tab = await page.context().newPage();
    await tab.goto(`${federatedGatehouse}/reauth?return=%2Faccount`);
    await hydrated(tab);
    await expect(tab.getByRole("heading", { name: "Confirm it’s you" })).toBeVisible();
    await expect(tab.getByRole("link", { name: "Continue with Test IdP" })).toHaveCount(count);
    await tab.close();
  };
  await reauthButton(1);

  // In another browser, the provider account signs in to this user's account.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await otherPage.goto(`${federatedGatehouse}/login`);
  await hydrated(otherPage);
  await otherPage.getByRole("link", { name: "Continue with Test IdP" }).click();
  await atProvider(otherPage, sub);
  await expect(otherPage).toHaveURL(`${federatedGatehouse}/dashboard`);
  expect(await whoami(otherPage)).toMatchObject({ username: user.username });
  await other.close();

  // Unlinked, it no longer does (it would make a new account instead).
  await card.getByRole("button", { name: "Unlink Test IdP" }).click();
  await expect(page.getByText("The provider was unlinked")).toBeVisible();
  await expect(card.locator('[data-testid="identity"]')).toContainText("Not linked");
  await reauthButton(0);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("Continue with the provider works as a plain link", async ({ page }) => {
    await ensureSetUp(page);
    const sub = uniqueUser("nojs").username;
    await providerAccount(page, sub, `${sub}@example.com`);
    await page.goto(`${federatedGatehouse}/signup`);
    await page.getByRole("link", { name: "Continue with Test IdP" }).click();
    await atProvider(page, sub);
    await expect(page).toHaveURL(`${federatedGatehouse}/dashboard`);
    expect(await whoami(page)).toMatchObject({ username: sub });
  });
});

test("an answer this browser did not ask for is a page that says so, with a way back", async ({ page }) => {
  await ensureSetUp(page);
  const res = await page.goto(`${federatedGatehouse}/auth/testidp/callback?code=stolen&state=forged`);
  expect(res?.status()).toBe(400);
  await expect(page.getByRole("heading", { name: "You are not signed in" })).toBeVisible();
  await expect(page.getByRole("alert")).toContainText("not started in this browser");
  await page.setViewportSize({ width: 390, height: 700 });
  await page.screenshot({ path: "test-results/federation-refused.png" });
  await page.getByRole("link", { name: "Back to sign in" }).click();
  await expect(page).toHaveURL(`${federatedGatehouse}/login`);
});
