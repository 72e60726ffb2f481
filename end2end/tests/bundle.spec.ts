import { expect, test, type Page } from "@playwright/test";
import { ADMIN, hydrated, logIn } from "./helpers";

// Pages are HTML from the server; the browser downloads one small wasm with
// the islands (the parts that run in the browser) and nothing for the rest.

function downloads(page: Page): { path: string; bytes: number }[] {
  const seen: { path: string; bytes: number }[] = [];
  page.on("response", async (res) => {
    const path = new URL(res.url()).pathname;
    if (path.endsWith(".wasm") || path.endsWith(".js")) {
      const sizes = await res.request().sizes().catch(() => null);
      seen.push({ path, bytes: sizes?.responseBodySize ?? 0 });
    }
  });
  return seen;
}

test("the login page downloads one small bundle of islands, and the admin area works with it", async ({ page }) => {
  const seen = downloads(page);
  await page.goto("/login?return=%2Fadmin");
  await hydrated(page);
  const wasm = seen.filter((d) => d.path.endsWith(".wasm"));
  expect(wasm.map((d) => d.path)).toEqual(["/pkg/gatehouse.wasm"]);
  // Compressed on the wire (brotli): well under the 150 KB budget for the page.
  expect(wasm[0].bytes).toBeGreaterThan(0);
  expect(wasm[0].bytes).toBeLessThan(100_000);

  // The admin page needs nothing more, and works.
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/\/admin$/);
  await hydrated(page);
  const search = page.getByRole("search", { name: "Find users" });
  await search.getByLabel("Search").fill(ADMIN.username);
  await search.getByRole("button", { name: "Find" }).click();
  await expect(page).toHaveURL(new RegExp(`q=${ADMIN.username}`));
  await expect(page.locator(`[data-testid=user-row][data-username="${ADMIN.username}"]`)).toBeVisible();
});
