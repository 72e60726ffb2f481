import { expect, test, type Page } from "@playwright/test";
import { ADMIN, hydrated, logIn } from "./helpers";

// Each page's code is a wasm chunk of its own: a visitor who only logs in
// never downloads the admin area, and a page that needs a chunk still
// hydrates when it is the first page loaded.

function wasmRequests(page: Page): string[] {
  const seen: string[] = [];
  page.on("request", (req) => {
    const path = new URL(req.url()).pathname;
    if (path.endsWith(".wasm")) seen.push(path);
  });
  return seen;
}

test("the login page downloads its own code and not the admin area's", async ({ page }) => {
  const wasm = wasmRequests(page);
  await page.goto("/login?return=%2Fadmin");
  await hydrated(page);
  expect(wasm).toContain("/pkg/gatehouse.wasm");
  expect(wasm.some((p) => p.includes("login_route_view"))).toBe(true);
  expect(wasm.filter((p) => /admin_route_view|account_route_view/.test(p))).toEqual([]);

  // The admin page's code arrives with the admin page, which works.
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/\/admin$/);
  await hydrated(page);
  expect(wasm.some((p) => p.includes("admin_route_view"))).toBe(true);
  const search = page.getByRole("search", { name: "Find users" });
  await search.getByLabel("Search").fill(ADMIN.username);
  await search.getByRole("button", { name: "Find" }).click();
  await expect(page).toHaveURL(new RegExp(`q=${ADMIN.username}`));
  await expect(page.locator(`[data-testid=user-row][data-username="${ADMIN.username}"]`)).toBeVisible();
});
