import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { ADMIN, createUser, freshStep, hydrated, logIn, totp, uniqueUser } from "./helpers";

// Gatehouse as the OpenID Connect provider of another app: the example app
// (examples/oidc-rp) signs its users in with panva's openid-client, an
// OpenID Certified relying party, which verifies every answer (issuer,
// signature against the JWKS, audience, nonce, state, PKCE, at_hash) and
// refuses the sign-in if anything is off.

const root = path.resolve(__dirname, "..", "..");
const gatehouse = `http://localhost:${Number(process.env.GATEHOUSE_E2E_PORT ?? 3100)}`;
const rpPort = Number(process.env.GATEHOUSE_E2E_PORT ?? 3100) + 75;
const rp = `http://localhost:${rpPort}`;

let rpProcess: ChildProcess | undefined;
let rpLog = "";

async function adminRequest(request: APIRequestContext) {
  const res = await request.post(`${gatehouse}/api/v1/auth/login`, {
    data: { username: ADMIN.username, password: ADMIN.password },
  });
  expect(res.status()).toBe(200);
}

test.beforeAll(async ({ playwright }) => {
  const request = await playwright.request.newContext({ baseURL: gatehouse });
  await adminRequest(request);
  const res = await request.post("/api/v1/admin/clients", {
    data: {
      name: "Example app",
      redirect_uris: [`${rp}/callback`],
      post_logout_redirect_uris: [`${rp}/`],
      scopes: ["openid", "profile", "email", "offline_access"],
    },
  });
  expect(res.status(), await res.text()).toBe(201);
  const client = await res.json();
  await request.dispose();
  rpProcess = spawn(
    process.execPath,
    [
      path.join(root, "examples", "oidc-rp", "server.mjs"),
      "--issuer", gatehouse,
      "--client-id", client.client_id,
      "--client-secret", client.client_secret,
      "--port", String(rpPort),
      "--host", "127.0.0.1",
    ],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  rpProcess.stdout!.on("data", (d) => (rpLog += d));
  rpProcess.stderr!.on("data", (d) => (rpLog += d));
  let exited: string | null = null;
  rpProcess.on("exit", (code, signal) => (exited = `exited (${code ?? signal})`));
  await expect
    .poll(
      async () => {
        if (exited) throw new Error(`the example app ${exited}: ${rpLog}`);
        return fetch(`http://127.0.0.1:${rpPort}/`).then((r) => r.status).catch(() => 0);
      },
      { timeout: 20_000, message: "the example app starts (its output follows)" },
    )
    .toBe(200)
    .catch((e) => {
      throw new Error(`${e}\nthe example app's output: ${rpLog}`);
    });
});

test.afterAll(() => {
  rpProcess?.kill();
});

async function startAtTheApp(page: Page) {
  await page.goto(`${rp}/`);
  await expect(page.getByText("You are not signed in.")).toBeVisible();
  await page.getByRole("link", { name: "Sign in with Gatehouse" }).click();
  await expect(page).toHaveURL(/^http:\/\/localhost:\d+\/login\?return=%2Foauth2%2Fauthorize%3F/);
}

test("another app signs a user in through Gatehouse, with consent once, and signs them out", async ({ page }) => {
  const user = uniqueUser("rp");
  await createUser(page, user);
  await startAtTheApp(page);
  await hydrated(page);
  await logIn(page, user.username, user.password);
  // The consent page: the app's name, what it asks for, Allow / Deny.
  await expect(page).toHaveURL(/\/oauth2\/consent\?/);
  await expect(page.getByRole("heading", { name: "Allow Example app to sign you in?" })).toBeVisible();
  await expect(page.getByText("your email address")).toBeVisible();
  await hydrated(page);
  await page.screenshot({ path: "test-results/consent.png", fullPage: true });
  await page.getByRole("button", { name: "Allow" }).click();
  // Back at the app, which verified the ID token and called userinfo.
  await expect(page).toHaveURL(`${rp}/`);
  await expect(page.locator("#who")).toHaveText(`Signed in as ${user.username}`, { timeout: 15_000 });
  await expect(page.locator("#email")).toHaveText(user.email);
  await expect(page.locator("#amr")).toHaveText("pwd");
  await expect(page.locator("#userinfo")).toContainText(`"preferred_username":"${user.username}"`);
  // The refresh grant, through the certified client.
  await page.getByRole("link", { name: "Refresh the tokens" }).click();
  await expect(page.locator("#refreshed")).toHaveText("1");

  // The app is listed on /account, and a second sign-in asks nothing.
  await page.goto(`${gatehouse}/account`);
  await expect(page.getByRole("heading", { name: "Connected apps" })).toBeVisible();
  await expect(page.getByText("Example app")).toBeVisible();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: "test-results/account-apps-phone.png", fullPage: true });
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.goto(`${rp}/login`);
  await expect(page).toHaveURL(`${rp}/`);
  await expect(page.locator("#who")).toHaveText(`Signed in as ${user.username}`);

  // Signing out at the app signs out of Gatehouse (the ID token proves who).
  await page.getByRole("link", { name: "Sign out" }).click();
  await expect(page).toHaveURL(`${rp}/`);
  await expect(page.getByText("You are not signed in.")).toBeVisible();
  await page.goto(`${gatehouse}/dashboard`);
  await expect(page).toHaveURL(/\/login\?return=%2Fdashboard/);
});

test("a second factor applies unchanged and the app sees it in amr", async ({ page }) => {
  const user = uniqueUser("rpmfa");
  await createUser(page, user);
  // Turn on TOTP through the API as the user.
  const login = await page.request.post(`${gatehouse}/api/v1/auth/login`, {
    data: { username: user.username, password: user.password },
  });
  expect(login.status()).toBe(200);
  const started = await page.request.post(`${gatehouse}/api/v1/users/me/mfa/totp`, { data: {} });
  expect(started.status()).toBe(200);
  const { secret } = await started.json();
  await freshStep();
  const confirmed = await page.request.post(`${gatehouse}/api/v1/users/me/mfa/totp/confirm`, {
    data: { code: totp(secret) },
  });
  expect(confirmed.status()).toBe(200);
  await page.request.post(`${gatehouse}/api/v1/auth/logout`, { headers: { origin: gatehouse } });
  await page.context().clearCookies();

  await startAtTheApp(page);
  await hydrated(page);
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/login\/mfa\?return=%2Foauth2%2Fauthorize%3F/);
  await hydrated(page);
  await page.getByLabel(/Code from your app/).fill(totp(secret, 1));
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page).toHaveURL(/\/oauth2\/consent\?/);
  await hydrated(page);
  await page.getByRole("button", { name: "Allow" }).click();
  await expect(page.locator("#who")).toHaveText(`Signed in as ${user.username}`, { timeout: 15_000 });
  await expect(page.locator("#amr")).toHaveText("pwd otp mfa");
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the consent page works, and Deny sends the app access_denied", async ({ page }) => {
    const user = uniqueUser("rpnojs");
    await createUser(page, user);
    await startAtTheApp(page);
    await logIn(page, user.username, user.password);
    await expect(page).toHaveURL(/\/oauth2\/consent\?/);
    await page.getByRole("button", { name: "Deny" }).click();
    await expect(page).toHaveURL(new RegExp(`^${rp}/callback\\?error=access_denied`));
    await expect(page.locator("#error")).toHaveText("access_denied");
    // Allowing, the next time, signs in.
    await page.goto(`${rp}/login`);
    await expect(page).toHaveURL(/\/oauth2\/consent\?/);
    await page.getByRole("button", { name: "Allow" }).click();
    await expect(page.locator("#who")).toHaveText(`Signed in as ${user.username}`);
  });
});

test("an admin registers an app at /admin/clients and sees its secret once", async ({ page }) => {
  await page.goto("/login?return=%2Fadmin%2Fclients");
  await hydrated(page);
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/\/admin\/clients$/);
  await expect(page.getByRole("heading", { name: "Apps that sign in with Gatehouse" })).toBeVisible();
  await hydrated(page);
  const form = page.locator("section", { has: page.getByRole("heading", { name: "Register an app" }) });
  // A redirect address that is not https (nor loopback) is refused inline.
  await form.getByLabel("Name", { exact: true }).fill("Team wiki");
  await form.getByLabel("Redirect URIs (one per line)").fill("http://wiki.example.com/callback");
  await form.getByRole("button", { name: "Register app" }).click();
  await expect(form.locator(".field-error").first()).toContainText("https");
  await form.getByLabel("Redirect URIs (one per line)").fill("https://wiki.example.com/callback");
  await form.getByRole("button", { name: "Register app" }).click();
  const secret = page.getByTestId("new-client-secret");
  await expect(secret).toHaveText(/^[A-Za-z0-9_-]{43,}$/);
  const clientId = (await page.getByTestId("new-client-id").textContent())!.trim();
  await expect(page.locator(`[data-client-id="${clientId}"]`)).toContainText("Team wiki");
  // Shown once: a reload shows the app, not the secret.
  await page.reload();
  await expect(page.getByTestId("new-client-secret")).toHaveCount(0);
  await expect(page.locator(`[data-client-id="${clientId}"]`)).toBeVisible();
  await page.screenshot({ path: "test-results/admin-clients.png", fullPage: true });
});
