import { expect, test } from "@playwright/test";
import { ADMIN, createUser, hydrated, lastMail, linkIn, logIn, signUp, uniqueUser } from "./helpers";

test("forgot password: the mailed link sets a new password and the old one stops working", async ({ page }) => {
  const user = uniqueUser("forgot");
  await createUser(page, user);

  await page.goto("/login");
  await hydrated(page);
  await page.getByRole("link", { name: "Forgot password?" }).click();
  await expect(page).toHaveURL(/\/forgot-password$/);
  await page.getByLabel("Email").fill(user.email);
  await page.getByRole("button", { name: "Send me a link" }).click();
  await expect(page.getByTestId("forgot-sent")).toContainText("If an account has this address");

  const mail = await lastMail(user.email, "Reset your password");
  expect(mail.html).toContain("Choose a new password");
  const link = linkIn(mail, "/reset-password");
  expect(link.startsWith("http://localhost:")).toBe(true);

  // The page's own requests carry no Referer with the token.
  const referers: string[] = [];
  page.on("request", (req) => {
    const referer = req.headers()["referer"];
    if (referer) referers.push(referer);
  });
  const res = await page.goto(link);
  expect(res?.headers()["referrer-policy"]).toBe("no-referrer");
  await hydrated(page);
  const newPassword = `${user.password} renewed`;
  await page.getByLabel("New password", { exact: true }).fill(newPassword);
  await page.getByLabel("Confirm new password").fill("not the same at all");
  await page.getByRole("button", { name: "Set new password" }).click();
  await expect(page.locator("#new_password_confirmation-error")).toHaveText("The passwords do not match.");
  await page.getByLabel("Confirm new password").fill(newPassword);
  await page.getByRole("button", { name: "Set new password" }).click();
  await expect(page).toHaveURL(/\/login\?reset=1$/);
  await expect(page.getByRole("status")).toContainText("Your password was changed");
  expect(referers.filter((r) => r.includes("token="))).toEqual([]);

  await logIn(page, user.username, user.password);
  await expect(page.getByRole("alert")).toHaveText("invalid credentials");
  await logIn(page, user.username, newPassword);
  await expect(page).toHaveURL(/\/dashboard$/);
  await lastMail(user.email, "Your password was changed");

  // The link is spent.
  await page.goto(link);
  await expect(page.getByRole("alert")).toHaveText("invalid or expired link");
});

test("sign up, then verify the address from the mail", async ({ page }) => {
  const user = uniqueUser("verify");
  await signUp(page, user);
  const link = linkIn(await lastMail(user.email, "Verify your email address"), "/verify-email");
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.goto("/account");
  await expect(page.getByTestId("email-status")).toHaveText("Not verified");

  // Opening the link changes nothing until the button is pressed.
  await page.goto(link);
  await hydrated(page);
  await page.goto("/account");
  await expect(page.getByTestId("email-status")).toHaveText("Not verified");
  await page.goto(link);
  await hydrated(page);
  await page.getByRole("button", { name: "Verify my email" }).click();
  await expect(page).toHaveURL(/\/account\?changed=verified$/);
  await expect(page.getByRole("status")).toContainText("Your email address is verified.");
  await expect(page.getByTestId("email-status")).toHaveText("Verified");
});

test("an admin invites someone, who accepts and is signed in with the role", async ({ page, browser }) => {
  const invitee = uniqueUser("invitee");
  await page.goto("/login?return=%2Fadmin");
  await logIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/\/admin$/);
  await hydrated(page);
  const form = page.locator("section", { has: page.getByRole("heading", { name: "Invite someone" }) });
  await form.getByLabel("Email").fill(invitee.email);
  await form.getByLabel("Role").selectOption("admin");
  await form.getByRole("button", { name: "Send invitation" }).click();
  await expect(page.getByRole("status")).toHaveText("The invitation is on its way.");
  await expect(page.locator(`[data-testid=invitation-row][data-email="${invitee.email}"]`)).toBeVisible();

  const link = linkIn(await lastMail(invitee.email, "You are invited to Gatehouse"), "/invite");
  const theirs = await browser.newContext();
  const theirPage = await theirs.newPage();
  await theirPage.goto(link);
  await hydrated(theirPage);
  await expect(theirPage.getByRole("heading", { name: "Join Gatehouse" })).toBeVisible();
  await theirPage.getByLabel("Username").fill(invitee.username);
  await theirPage.getByLabel("Password", { exact: true }).fill(invitee.password);
  await theirPage.getByLabel("Confirm password").fill(invitee.password);
  await theirPage.getByRole("button", { name: "Create my account" }).click();
  await expect(theirPage).toHaveURL(/\/dashboard\?welcome=1$/);
  await expect(theirPage.getByTestId("dashboard-username")).toHaveText(invitee.username);
  await expect(theirPage.getByTestId("dashboard-role")).toHaveText("admin");
  await theirs.close();

  await page.reload();
  await expect(page.locator(`[data-testid=invitation-row][data-email="${invitee.email}"]`)).toHaveCount(0);
});

test("change the email address: confirm from the new inbox, notice to the old one", async ({ page }) => {
  const user = uniqueUser("move");
  await createUser(page, user);
  const newEmail = `new.${user.email}`;
  await page.goto("/login?return=%2Faccount");
  await logIn(page, user.username, user.password);
  await expect(page).toHaveURL(/\/account$/);
  await hydrated(page);
  await page.getByLabel("New email").fill(newEmail);
  await page.getByLabel("Your password").fill("not my password");
  await page.getByRole("button", { name: "Send confirmation link" }).click();
  await expect(page.locator("#password-error")).toHaveText("current password is incorrect");
  await page.getByLabel("Your password").fill(user.password);
  await page.getByRole("button", { name: "Send confirmation link" }).click();
  await expect(page).toHaveURL(/\/account\?changed=email_requested$/);
  await expect(page.getByTestId("account-email")).toHaveText(user.email);

  const notice = await lastMail(user.email, "A change of your email address was requested");
  expect(notice.text).toContain(newEmail);
  await page.goto(linkIn(await lastMail(newEmail, "Confirm your new email address"), "/confirm-email"));
  await hydrated(page);
  await page.getByRole("button", { name: "Confirm my new address" }).click();
  await expect(page).toHaveURL(/\/account\?changed=email$/);
  await expect(page.getByTestId("account-email")).toHaveText(newEmail);
  await expect(page.getByTestId("email-status")).toHaveText("Verified");
});

test.describe("with JavaScript off", () => {
  test.use({ javaScriptEnabled: false });

  test("forgot, reset (with an error on the way) and sign in", async ({ page }) => {
    const user = uniqueUser("nojsreset");
    await createUser(page, user);
    await page.goto("/forgot-password");
    await page.getByLabel("Email").fill(user.email);
    await page.getByRole("button", { name: "Send me a link" }).click();
    await expect(page).toHaveURL(/\/forgot-password\?sent=1$/);
    await expect(page.getByTestId("forgot-sent")).toBeVisible();

    const link = linkIn(await lastMail(user.email, "Reset your password"), "/reset-password");
    await page.goto(link);
    await page.getByLabel("New password", { exact: true }).fill("short");
    await page.getByLabel("Confirm new password").fill("short");
    await page.getByRole("button", { name: "Set new password" }).click();
    await expect(page.locator("#new_password-error")).toContainText("Use at least");
    const newPassword = `${user.password} nojs`;
    await page.getByLabel("New password", { exact: true }).fill(newPassword);
    await page.getByLabel("Confirm new password").fill(newPassword);
    await page.getByRole("button", { name: "Set new password" }).click();
    await expect(page).toHaveURL(/\/login\?reset=1$/);
    await logIn(page, user.username, newPassword);
    await expect(page).toHaveURL(/\/dashboard$/);
  });
});
