import { expect, test } from "@playwright/test";
import { ADMIN, createUser, hydrated, logIn, signUp, uniqueUser } from "./helpers";

test("sign up, log in, see the dashboard, log out", async ({ page }) => {
  const user = uniqueUser();
  await signUp(page, user);
  await expect(page.getByRole("status")).toContainText(user.username);

  await logIn(page, user.email, user.password);
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("nav-username")).toHaveText(user.username);
  await expect(page.getByTestId("dashboard-role")).toHaveText("user");

  await page.getByRole("button", { name: "Logout" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByTestId("nav-username")).toHaveCount(0);
  // The session is gone server-side: the private page sends us back.
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/login\?return=%2Fdashboard$/);
});

test("a private page sends you to log in, then back to it", async ({ page }) => {
  const user = uniqueUser();
  await createUser(page, user);
  const res = await page.goto("/dashboard?from=e2e");
  expect(res?.status()).toBe(200);
  await expect(page).toHaveURL(/\/login\?return=%2Fdashboard%3Ffrom%3De2e$/);
  await hydrated(page);
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/dashboard\?from=e2e$/);
  await expect(page.getByTestId("dashboard-username")).toHaveText(user.username);
});

test("/private leads to the dashboard through the login page", async ({ page }) => {
  await page.goto("/private");
  await expect(page).toHaveURL(/\/login\?return=%2Fprivate$/);
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/\/dashboard$/);
});

test("a foreign return target is ignored", async ({ page }) => {
  await page.goto("/login?return=%2F%2Fevil.example%2Fsteal");
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/localhost:\d+\/dashboard$/);
});

test("a wrong password shows an error and keeps you on the login page", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  await logIn(page, ADMIN.username, "not the password at all");
  await expect(page.getByRole("alert")).toHaveText("invalid credentials");
  await expect(page).toHaveURL(/\/login/);
  // The form kept what was typed (no page reload with the wasm running).
  await expect(page.getByLabel("Username or email")).toHaveValue(ADMIN.username);
  // An unknown user gets exactly the same message.
  await logIn(page, "nobody-here", "not the password at all");
  await expect(page.getByRole("alert")).toHaveText("invalid credentials");
});

test("signed in, the login and signup pages lead to the dashboard", async ({ page }) => {
  await page.goto("/login");
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.goto("/login");
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.goto("/signup");
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/dashboard$/);
});

test("signup shows inline errors from the server", async ({ page }) => {
  await page.goto("/signup");
  await hydrated(page);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password", { exact: true }).fill("a long enough password");
  await page.getByLabel("Confirm password").fill("a long enough password");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator("#email-error")).toHaveText("An account with this email already exists.");
  await page.getByLabel("Email").fill(uniqueUser().email);
  await page.getByLabel("Password", { exact: true }).fill("short");
  await page.getByLabel("Confirm password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator("#password-error")).toContainText("at least 10 characters");
});

test("the app hydrates: links navigate inside the running app", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  await page.evaluate(() => ((window as unknown as { probe: number }).probe = 42));
  await page.getByRole("link", { name: "Create an account" }).click();
  await expect(page).toHaveURL(/\/signup$/);
  await expect(page.getByRole("heading", { name: "Create an account" })).toBeVisible();
  // Same document: the router changed the page without a reload.
  expect(await page.evaluate(() => (window as unknown as { probe?: number }).probe)).toBe(42);
});

test("the submit button shows a pending state while the request runs", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  await page.route("**/fn/login", async (route) => {
    await new Promise((r) => setTimeout(r, 800));
    await route.continue();
  });
  await page.getByLabel("Username or email").fill(ADMIN.username);
  await page.getByLabel("Password", { exact: true }).fill("wrong password, slowly");
  await page.getByRole("button", { name: "Log in" }).click();
  const busy = page.getByRole("button", { name: "Logging in…" });
  await expect(busy).toBeDisabled();
  await expect(busy).toHaveAttribute("aria-busy", "true");
  await expect(page.getByRole("alert")).toHaveText("invalid credentials");
  await expect(page.getByRole("button", { name: "Log in" })).toBeEnabled();
});

test("unknown pages show a 404 page", async ({ page }) => {
  const res = await page.goto("/no/such/page");
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});

test("navigation inside the running app is guarded too", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  await page.evaluate(() => ((window as unknown as { probe: number }).probe = 7));
  const documents: string[] = [];
  page.on("request", (req) => {
    if (req.resourceType() === "document") documents.push(req.url());
  });
  // A client-side route change (what the router does for in-app links and
  // the back button), to a private page, while signed out.
  await page.evaluate(() => {
    history.pushState(null, "", "/account?tab=sessions");
    window.dispatchEvent(new PopStateEvent("popstate", { state: null }));
  });
  await expect(page).toHaveURL(/\/login\?return=%2Faccount%3Ftab%3Dsessions$/);
  await expect(page.getByRole("heading", { name: "Change password" })).toHaveCount(0);
  // The wasm guard did it: same document, no page load.
  expect(await page.evaluate(() => (window as unknown as { probe?: number }).probe)).toBe(7);
  expect(documents).toEqual([]);
});

test("forms label every field and tell password managers what it is", async ({ page }) => {
  await page.goto("/login");
  // "webauthn" too: the browser offers passkeys in this field's autofill.
  await expect(page.getByLabel("Username or email")).toHaveAttribute("autocomplete", "username webauthn");
  await expect(page.getByLabel("Password", { exact: true })).toHaveAttribute("autocomplete", "current-password");
  await page.goto("/signup");
  await expect(page.getByLabel("Email")).toHaveAttribute("autocomplete", "email");
  await expect(page.getByLabel("Username")).toHaveAttribute("autocomplete", "username");
  await expect(page.getByLabel("Password", { exact: true })).toHaveAttribute("autocomplete", "new-password");
  await expect(page.getByLabel("Confirm password")).toHaveAttribute("autocomplete", "new-password");
  await expect(page.getByLabel("Email")).toHaveAttribute("type", "email");
  await expect(page.getByLabel("Password", { exact: true })).toHaveAttribute("type", "password");
});
