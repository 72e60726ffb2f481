import { expect, test } from "@playwright/test";
import { ADMIN, answered, createUser, hydrated, logIn, signUp, uniqueUser } from "./helpers";

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
  await answered(page, () => logIn(page, "nobody-here", "not the password at all"));
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

test("a form's errors come back in place: the same document, and what was typed stays", async ({ page }) => {
  const user = uniqueUser("inplace");
  await page.goto("/signup");
  await hydrated(page);
  await page.evaluate(() => ((window as unknown as { probe: number }).probe = 42));
  const documents: string[] = [];
  page.on("request", (req) => {
    if (req.resourceType() === "document") documents.push(req.url());
  });
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  await page.getByLabel("Confirm password").fill("not the same at all");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator("#password_confirmation-error")).toHaveText("The passwords do not match.");
  // The field in error has the focus, and the address stays clean.
  await expect(page.getByLabel("Confirm password")).toBeFocused();
  await expect(page).toHaveURL(/\/signup$/);
  expect(await page.evaluate(() => (window as unknown as { probe?: number }).probe)).toBe(42);
  expect(documents).toEqual([]);
  // Everything typed is still there, the password too: fix the one field.
  await expect(page.getByLabel("Email")).toHaveValue(user.email);
  await expect(page.getByLabel("Username")).toHaveValue(user.username);
  await expect(page.getByLabel("Password", { exact: true })).toHaveValue(user.password);
  // The new content's islands work: the strength meter follows the field.
  await page.getByLabel("Password", { exact: true }).fill("short");
  await expect(page.locator("#password-strength")).toHaveText("Too short. 5 more characters to go.");
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  await page.getByLabel("Confirm password").fill(user.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/login\?created=/);
});

test("the submit button shows a pending state while the request runs", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  // The request waits until the pending state has been seen.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route("**/fn/login", async (route) => {
    await held;
    await route.continue();
  });
  await page.getByLabel("Username or email").fill(ADMIN.username);
  await page.getByLabel("Password", { exact: true }).fill("wrong password, slowly");
  await page.getByRole("button", { name: "Log in" }).click();
  const busy = page.getByRole("button", { name: "Logging in…" });
  await expect(busy).toBeDisabled();
  await expect(busy).toHaveAttribute("aria-busy", "true");
  release();
  await expect(page.getByRole("alert")).toHaveText("invalid credentials");
  await expect(page.getByRole("button", { name: "Log in" })).toBeEnabled();
});

test("unknown pages show a 404 page", async ({ page }) => {
  const res = await page.goto("/no/such/page");
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
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
