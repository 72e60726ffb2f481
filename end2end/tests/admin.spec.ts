import { expect, test } from "@playwright/test";
import { ADMIN, createUser, hydrated, logIn, uniqueUser } from "./helpers";

test("an admin disables a user, who is signed out at their next request", async ({ page, browser }) => {
  const user = uniqueUser("victim");
  await createUser(page, user);
  const theirs = await browser.newContext();
  const theirPage = await theirs.newPage();
  await theirPage.goto("/login");
  await logIn(theirPage, user.username, user.password);
  await expect(theirPage).toHaveURL(/\/dashboard$/);

  await page.goto("/login?return=%2Fadmin");
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/\/admin$/);
  await hydrated(page);
  const row = page.locator(`[data-testid=user-row][data-username="${user.username}"]`);
  await expect(row).toContainText("Active");
  await row.getByRole("button", { name: `Disable: ${user.username}` }).click();
  await expect(page.getByRole("status")).toHaveText("The account was disabled and signed out everywhere.");
  await expect(row).toContainText("Disabled");

  // Their next request finds them signed out, and they cannot log in again.
  await theirPage.reload();
  await expect(theirPage).toHaveURL(/\/login\?return=%2Fdashboard$/);
  await logIn(theirPage, user.username, user.password);
  await expect(theirPage.getByRole("alert")).toHaveText("invalid credentials");

  // The audit log shows it, filterable by event.
  await page.getByLabel("Event").selectOption("user_disabled");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/event=user_disabled/);
  await expect(page.getByTestId("audit-row").first()).toContainText(user.username);
  // And by user: their name finds their rows, a name nobody has finds none.
  await page.getByLabel("User", { exact: true }).fill(user.username);
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(new RegExp(`user=${user.username}`));
  await expect(page.getByTestId("audit-row").first()).toContainText(user.username);
  await page.getByLabel("User", { exact: true }).fill(`${user.username}-nobody`);
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/-nobody/);
  await expect(page.getByTestId("audit-row")).toHaveCount(0);

  // Enabled again, they can log in.
  await row.getByRole("button", { name: `Enable: ${user.username}` }).click();
  await expect(page.getByRole("status")).toHaveText("The account was enabled.");
  await logIn(theirPage, user.username, user.password);
  await expect(theirPage).toHaveURL(/\/dashboard$/);
  await theirs.close();
});

test("a non-admin sees the 403 page at /admin and no Admin link", async ({ page }) => {
  const user = uniqueUser("nonadmin");
  await createUser(page, user);
  await page.goto("/login");
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole("link", { name: "Admin" })).toHaveCount(0);
  const res = await page.goto("/admin");
  expect(res?.status()).toBe(403);
  await expect(page.getByRole("heading", { name: "You can’t open this page" })).toBeVisible();
  await expect(page.getByTestId("users")).toHaveCount(0);
});

test("an admin cannot demote or disable themselves from the page, and the last admin gets 409 from the API", async ({ page }) => {
  await page.goto("/login?return=%2Fadmin");
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/\/admin$/);
  // Their own row offers no way to lock themselves out.
  const own = page.locator(`[data-testid=user-row][data-username="${ADMIN.username}"]`);
  await expect(own).toContainText("(you)");
  await expect(own.getByRole("button", { name: /Disable|Make user/ })).toHaveCount(0);
  // The API still refuses it, with 409.
  const users = await (await page.request.get("/api/v1/admin/users")).json();
  const me = users.find((u: { username: string }) => u.username === ADMIN.username);
  const res = await page.request.patch(`/api/v1/admin/users/${me.id}`, { data: { role: "user" } });
  expect(res.status()).toBe(409);
});

test("an admin creates an account from the admin page", async ({ page }) => {
  const user = uniqueUser("made");
  await page.goto("/login?return=%2Fadmin");
  await logIn(page, ADMIN.username, ADMIN.password);
  await hydrated(page);
  const form = page.locator("form").filter({ has: page.getByRole("button", { name: "Create account" }) });
  await form.getByLabel("Username").fill(user.username);
  await form.getByLabel("Email").fill(user.email);
  await form.getByLabel("Password").fill(user.password);
  await form.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("status")).toHaveText("The account was created.");
  await expect(page.locator(`[data-testid=user-row][data-username="${user.username}"]`)).toBeVisible();
});

test("an admin searches, filters and pages the user list", async ({ page }) => {
  await page.goto("/login?return=%2Fadmin");
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/\/admin$/);
  // 101 accounts that share a prefix: one more than a page.
  const prefix = uniqueUser("pg").username;
  const names = Array.from({ length: 101 }, (_, i) => `${prefix}n${String(i).padStart(3, "0")}`);
  for (let i = 0; i < names.length; i += 10) {
    const batch = names.slice(i, i + 10).map((name) =>
      page.request.post("/api/v1/admin/users", {
        data: { username: name, email: `${name}@example.com`, password: "tangerine orbit lantern 42" },
      }),
    );
    for (const res of await Promise.all(batch)) expect(res.status()).toBe(201);
  }
  await hydrated(page);
  const rows = page.locator("[data-testid=users] [data-testid=user-row]");
  const search = page.getByRole("search", { name: "Find users" });
  await search.getByLabel("Search").fill(prefix.toUpperCase());
  await search.getByRole("button", { name: "Find" }).click();
  await expect(page).toHaveURL(new RegExp(`q=${prefix.toUpperCase()}`));
  await expect(rows).toHaveCount(100);
  await expect(rows.first()).toHaveAttribute("data-username", names[0]);
  await expect(rows.last()).toHaveAttribute("data-username", names[99]);
  // The next page holds the one left, and the search stays.
  await page.getByTestId("users-next").click();
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute("data-username", names[100]);
  await expect(page.getByTestId("users-next")).toHaveCount(0);
  await expect(search.getByLabel("Search")).toHaveValue(prefix.toUpperCase());
  await page.getByRole("link", { name: "First page" }).click();
  await expect(rows).toHaveCount(100);
  // Filters: none of them is an admin; an email prefix finds its account.
  await search.getByLabel("Role").selectOption("admin");
  await search.getByRole("button", { name: "Find" }).click();
  await expect(page.getByText("No user matches.")).toBeVisible();
  await search.getByLabel("Role").selectOption("");
  await search.getByLabel("Search").fill(`${names[7]}@example`);
  await search.getByRole("button", { name: "Find" }).click();
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute("data-username", names[7]);
  await page.getByRole("link", { name: "Everyone" }).click();
  await expect(page.locator(`[data-testid=user-row][data-username="${ADMIN.username}"]`)).toBeVisible();
});
