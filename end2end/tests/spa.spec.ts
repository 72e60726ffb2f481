import { expect, test } from "@playwright/test";
import { ADMIN, createUser, uniqueUser } from "./helpers";
import { foreignSpaPort, spaPort } from "../playwright.config";

// The seeds' pattern: a single-page app on another origin signs in against
// Gatehouse with the TypeScript client (access token in memory, refresh
// token in the HttpOnly cookie) and survives its access token's expiry.

test("an app on an allowed origin signs in, refreshes transparently once, and signs out", async ({ page }) => {
  const user = uniqueUser("spa");
  await createUser(page, user);
  const refreshes: string[] = [];
  page.on("request", (req) => {
    if (req.url().endsWith("/api/v1/auth/refresh") && req.method() === "POST") refreshes.push(req.url());
  });
  // The page's clock stands still, so the client never thinks its access
  // token old and refreshes it before sending: the server's refusal (real
  // time) is what makes it refresh, as the waits below intend, however slow
  // this machine is between the steps.
  await page.clock.setFixedTime(Date.now());
  await page.goto(`http://localhost:${spaPort}/`);
  await page.getByLabel("Username or email").fill(user.username);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("who")).toContainText(user.username);
  // (Loading the page tried the cookie once, to restore a session.)
  refreshes.length = 0;
  // Never in storage.
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  expect(stored).not.toContain("ey");

  // The button stays disabled until its call (with any refresh and retry)
  // has finished, so the counts below are final, not a race with the call.
  const callMe = page.getByRole("button", { name: "Call /users/me" });
  await callMe.click();
  await expect(callMe).toBeEnabled();
  await expect(page.getByTestId("me")).toContainText(`"username": "${user.username}"`);
  expect(refreshes).toHaveLength(0);

  // The access token (3 s, plus the server's 2 s of clock leeway, in whole
  // seconds) runs out: the next call refreshes once and succeeds.
  await page.waitForTimeout(6_500);
  await page.getByTestId("me").evaluate((el) => (el.textContent = ""));
  await callMe.click();
  await expect(callMe).toBeEnabled();
  await expect(page.getByTestId("calls")).toHaveText("2");
  await expect(page.getByTestId("me")).toContainText(user.username);
  expect(refreshes).toHaveLength(1);

  // Five calls at once after expiry: still one refresh.
  await page.waitForTimeout(6_500);
  await page.getByRole("button", { name: "Call five times at once" }).click();
  await expect(page.getByTestId("burst")).toHaveText(/5 of 5/);
  expect(refreshes).toHaveLength(2);

  // Signing out revokes the family: the refresh cookie no longer works.
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  const status = await page.evaluate(async (base) => {
    const res = await fetch(`${base}/api/v1/auth/refresh`, {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    return res.status;
  }, `http://localhost:${spaPort - 73}`);
  expect(status).toBe(401);
});

test("the same app on an origin that is not allowed cannot sign in", async ({ page }) => {
  const user = uniqueUser("spaforeign");
  const created = await page.request.post("/api/v1/auth/signup", {
    data: { email: user.email, username: user.username, password: user.password },
  });
  expect(created.status()).toBe(201);
  const userId = (await created.json()).user.id as string;
  const sent: string[] = [];
  const failed: string[] = [];
  const answered: number[] = [];
  const isToken = (url: string) => url.endsWith("/api/v1/auth/token");
  page.on("request", (req) => isToken(req.url()) && sent.push(req.method()));
  page.on("requestfailed", (req) => isToken(req.url()) && failed.push(req.failure()?.errorText ?? "failed"));
  page.on("response", (res) => isToken(res.url()) && answered.push(res.status()));
  await page.goto(`http://localhost:${foreignSpaPort}/`);
  await page.getByLabel("Username or email").fill(user.username);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("error")).not.toBeEmpty();
  await expect(page.getByTestId("who")).not.toContainText(user.username);
  // The app tried; the browser stopped the request at its CORS preflight, so
  // no answer reached the page.
  expect(sent).toEqual(["POST"]);
  expect(failed).toHaveLength(1);
  expect(answered).toEqual([]);

  // The preflight itself, as the browser sent it: no CORS grant for this origin.
  const preflight = await page.request.fetch("/api/v1/auth/token", {
    method: "OPTIONS",
    headers: {
      Origin: `http://localhost:${foreignSpaPort}`,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type",
    },
  });
  expect(preflight.headers()["access-control-allow-origin"]).toBeUndefined();
  expect(preflight.headers()["access-control-allow-credentials"]).toBeUndefined();
  // And had the page skipped the preflight, the write itself is refused.
  const write = await page.request.post("/api/v1/auth/token", {
    headers: { Origin: `http://localhost:${foreignSpaPort}` },
    data: { username: user.username, password: user.password },
  });
  expect(write.status()).toBe(403);

  // No sign-in reached the server: the user's audit log has no token and no login.
  const admin = await page.request.post("/api/v1/auth/login", {
    data: { username: ADMIN.username, password: ADMIN.password },
  });
  expect(admin.status()).toBe(200);
  const rows = await (await page.request.get(`/api/v1/admin/audit?user_id=${userId}&limit=100`)).json();
  const events = (rows as { event: string }[]).map((r) => r.event);
  expect(events).toContain("signup");
  expect(events).not.toContain("token_issued");
  expect(events).not.toContain("login_succeeded");
});

test("a page on any origin can read the OpenID Connect provider's public answers (a public client's calls)", async ({ page }) => {
  // The foreign origin is not in GATEHOUSE_ALLOWED_ORIGINS: the provider's
  // endpoints answer any origin, without credentials, while the JSON API
  // does not.
  await page.goto(`http://localhost:${foreignSpaPort}/`);
  const answers = await page.evaluate(async (base) => {
    const read = async (res: Response) => ({ status: res.status, body: await res.json() });
    const discovery = await read(await fetch(`${base}/.well-known/openid-configuration`));
    const jwks = await read(await fetch(`${base}/.well-known/jwks.json`));
    // A code exchange as a public client sends it (a form post, no preflight).
    const token = await read(
      await fetch(`${base}/oauth2/token`, {
        method: "POST",
        body: new URLSearchParams({ grant_type: "authorization_code", code: "stale", client_id: "nobody", code_verifier: "x".repeat(43) }),
      }),
    );
    // userinfo with a bearer token: preflighted.
    const userinfo = await fetch(`${base}/oauth2/userinfo`, { headers: { Authorization: "Bearer not-a-token" } });
    let api = "read";
    try {
      await fetch(`${base}/api/v1/auth/session`);
    } catch {
      api = "blocked";
    }
    return {
      issuer: discovery.body.issuer,
      keys: jwks.body.keys.length,
      token,
      userinfo: { status: userinfo.status, challenge: userinfo.headers.get("www-authenticate") },
      api,
    };
  }, `http://localhost:${spaPort - 73}`);
  expect(answers.issuer).toBeTruthy();
  expect(answers.keys).toBeGreaterThan(0);
  expect(answers.token.status).toBeGreaterThanOrEqual(400);
  expect(answers.token.body.error).toMatch(/invalid_client|invalid_grant/);
  expect(answers.userinfo.status).toBe(401);
  expect(answers.userinfo.challenge).toContain("Bearer");
  expect(answers.api).toBe("blocked");
});
