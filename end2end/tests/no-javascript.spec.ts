import { expect, test } from "@playwright/test";
import { createUser, logIn, uniqueUser } from "./helpers";

test.use({ javaScriptEnabled: false });

test("with JavaScript off: a wrong password shows the error, then log in and out", async ({ page }) => {
  const user = uniqueUser("nojs");
  await createUser(page, user);

  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/login\?return=%2Fdashboard$/);
  await logIn(page, user.username, "definitely wrong password");
  await expect(page.getByRole("alert")).toHaveText("invalid credentials");
  await expect(page).toHaveURL(/\/login\?return=%2Fdashboard/);

  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("nav-username")).toHaveText(user.username);

  await page.getByRole("button", { name: "Logout" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/login\?return=/);
});

test("with JavaScript off: sign up with inline errors", async ({ page }) => {
  const user = uniqueUser("nojs");
  await page.goto("/signup");
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  await page.getByLabel("Confirm password").fill("not the same");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator("#password_confirmation-error")).toHaveText("The passwords do not match.");

  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  await page.getByLabel("Confirm password").fill(user.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/login\?created=/);
  await logIn(page, user.email, user.password);
  await expect(page).toHaveURL(/\/dashboard$/);
});
