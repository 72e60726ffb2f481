import { expect, test } from "@playwright/test";
import { ADMIN, hydrated } from "./helpers";
import { limitedPort } from "../playwright.config";

test("first run: every page leads to setup, which creates the admin and signs them in", async ({ page }) => {
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/setup$/);
  await page.goto("/login");
  await expect(page).toHaveURL(/\/setup$/);
  await hydrated(page);

  await expect(page.getByRole("heading", { name: "Create the admin account" })).toBeVisible();
  // A mismatched confirmation is caught inline, and nothing is created.
  await page.getByLabel("Username").fill(ADMIN.username);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await page.getByLabel("Confirm password").fill("something else entirely");
  await page.getByRole("button", { name: "Create admin account" }).click();
  await expect(page.locator("#password_confirmation-error")).toHaveText("The passwords do not match.");
  await expect(page.getByLabel("Confirm password")).toHaveAttribute("aria-invalid", "true");

  await page.getByLabel("Confirm password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Create admin account" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("nav-username")).toHaveText(ADMIN.username);
  await expect(page.getByTestId("dashboard-role")).toHaveText("admin");
  await expect(page.getByRole("button", { name: "Logout" })).toBeVisible();

  // Setup happens once.
  await page.goto("/setup");
  await expect(page).not.toHaveURL(/\/setup/);
});

test("with JavaScript off, setup works too (on the second instance)", async ({ browser }) => {
  const context = await browser.newContext({
    javaScriptEnabled: false,
    baseURL: `http://127.0.0.1:${limitedPort}`,
  });
  const page = await context.newPage();
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/setup$/);
  await page.getByLabel("Username").fill(ADMIN.username);
  await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await page.getByLabel("Confirm password").fill("not the same at all");
  await page.getByRole("button", { name: "Create admin account" }).click();
  await expect(page.locator("#password_confirmation-error")).toHaveText("The passwords do not match.");
  await page.getByLabel("Username").fill(ADMIN.username);
  await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await page.getByLabel("Confirm password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Create admin account" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("dashboard-role")).toHaveText("admin");
  await context.close();
});
