import { expect, test, type Page } from "@playwright/test";
import { createUser, freshStep, hydrated, logIn, logOut, totp, uniqueUser } from "./helpers";

/** Turns on the authenticator app on /account; returns its key and the recovery codes. */
async function enableTotp(page: Page): Promise<{ secret: string; codes: string[] }> {
  await page.goto("/account");
  await hydrated(page);
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  await expect(page).toHaveURL(/\/account\?totp=setup/);
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  await expect(page.getByAltText("QR code of the authenticator key")).toBeVisible();
  await freshStep();
  await page.getByLabel("Code from the app").fill(totp(secret));
  await page.getByRole("button", { name: "Turn on" }).click();
  await expect(page).toHaveURL(/\/account\/recovery-codes$/);
  const codes = (await page.getByTestId("recovery-codes").locator("code").allTextContents()).map((c) => c.trim());
  expect(codes).toHaveLength(10);
  await expect(page.getByRole("link", { name: "Download" })).toHaveAttribute("download", "gatehouse-recovery-codes.txt");
  // Shown once.
  await page.reload();
  await expect(page.getByTestId("recovery-codes")).toHaveCount(0);
  return { secret, codes };
}

test("an authenticator app: enable it, then sign in with a code or a recovery code", async ({ page }) => {
  const user = uniqueUser("totp");
  await createUser(page, user);
  await page.goto("/login?return=%2Faccount");
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/account$/);
  const { secret, codes } = await enableTotp(page);
  await page.goto("/account");
  await expect(page.getByTestId("totp-on")).toBeVisible();
  await expect(page.getByTestId("recovery-left")).toHaveText("Recovery codes left: 10 of 10.");
  await logOut(page);

  // The password alone reaches nothing.
  await page.goto("/login?return=%2Fdashboard");
  await hydrated(page);
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/login\/mfa\?return=%2Fdashboard$/);
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/login\?return=%2Fdashboard$/);

  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/login\/mfa/);
  await hydrated(page);
  await page.getByLabel(/Code from your app/).fill("000000");
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page.locator("#code-error")).toHaveText("invalid code");
  await freshStep();
  await page.getByLabel(/Code from your app/).fill(totp(secret, 1));
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await logOut(page);

  // A recovery code works once.
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/login\/mfa/);
  await page.getByLabel(/recovery code/).fill(codes[0]);
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.goto("/account");
  await expect(page.getByTestId("recovery-left")).toHaveText("Recovery codes left: 9 of 10.");
});

test.describe("with JavaScript off", () => {
  test.use({ javaScriptEnabled: false });

  test("enable the app and sign in with a code", async ({ page }) => {
    const user = uniqueUser("nojstotp");
    await createUser(page, user);
    await page.goto("/login?return=%2Faccount");
    await logIn(page, user.username, user.password);
    await expect(page).toHaveURL(/\/account$/);
    await expect(page.getByText("Adding a passkey needs JavaScript")).toBeVisible();
    await page.getByRole("button", { name: "Set up an authenticator app" }).click();
    const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
    await freshStep();
    await page.getByLabel("Code from the app").fill(totp(secret));
    await page.getByRole("button", { name: "Turn on" }).click();
    await expect(page).toHaveURL(/\/account\/recovery-codes$/);
    await expect(page.getByTestId("recovery-codes").locator("li")).toHaveCount(10);
    await page.getByRole("button", { name: "Logout" }).click();

    await page.goto("/login?return=%2Faccount");
    await logIn(page, user.username, user.password);
    await expect(page).toHaveURL(/\/login\/mfa\?return=%2Faccount$/);
    await expect(page.getByText("Passkeys need JavaScript")).toHaveCount(0);
    await page.getByLabel(/Code from your app/).fill("123 456");
    await page.getByRole("button", { name: "Continue" }).click();
    await expect(page.locator("#code-error")).toHaveText("invalid code");
    await freshStep();
    await page.getByLabel(/Code from your app/).fill(totp(secret, 1));
    await page.getByRole("button", { name: "Continue" }).click();
    await expect(page).toHaveURL(/\/account$/);
  });
});

test("passkeys: register one, sign in with it and no password, use it after a password, delete it", async ({ page }) => {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const user = uniqueUser("passkey");
  await createUser(page, user);
  await page.goto("/login?return=%2Faccount");
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/account$/);
  await hydrated(page);
  await expect(page.locator("html")).toHaveClass(/\bjs\b/);

  await page.getByLabel("Name for a new passkey").fill("Virtual key");
  await page.getByRole("button", { name: "Add a passkey" }).click();
  await expect(page).toHaveURL(/\/account\?changed=passkey_added/);
  await expect(page.getByTestId("passkey")).toHaveCount(1);
  await expect(page.getByTestId("passkey").first()).toHaveAttribute("data-name", "Virtual key");

  // Signed out, the login page offers the passkey in the username field's
  // autofill; Chromium's virtual authenticator accepts at once, so the
  // browser signs in without anything typed.
  await page.getByRole("button", { name: "Logout" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("nav-username")).toHaveText(user.username);

  // Without autofill, the button: no password either (the passkey verified the user).
  await page.addInitScript(() => {
    PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
  await logOut(page);
  await page.goto("/login?return=%2Faccount");
  await hydrated(page);
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.getByTestId("nav-username")).toHaveText(user.username);
  await logOut(page);

  // After the password, the passkey is the second factor.
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/login\/mfa/);
  await hydrated(page);
  await page.getByRole("button", { name: "Use a passkey" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);

  // Delete it: then the password alone signs in again.
  await page.goto("/account");
  await hydrated(page);
  // The last second factor goes only with the password.
  await page.getByLabel("Password, to remove your last second factor").fill(user.password);
  await page.getByRole("button", { name: "Remove the passkey Virtual key" }).click();
  await expect(page).toHaveURL(/\/account\?changed=passkey_deleted/);
  await expect(page.getByTestId("passkey")).toHaveCount(0);
  await logOut(page);
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/dashboard$/);
});
