import { createHmac } from "node:crypto";
import { expect, type Page } from "@playwright/test";

export const ADMIN = { username: "admin", email: "admin@example.com", password: "correct horse battery staple" };

let counter = 0;
/** A username and email no other test uses. */
export function uniqueUser(prefix = "user") {
  counter += 1;
  const id = `${prefix}${Date.now().toString(36)}${counter}`;
  // The password must not contain the username or email (the policy refuses that).
  const digits = Math.floor(Math.random() * 1e9).toString();
  return { username: id, email: `${id}@example.com`, password: `tangerine orbit lantern ${digits}` };
}

/** Waits until the wasm has taken over the page. */
export async function hydrated(page: Page) {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

export async function signUp(page: Page, user: { username: string; email: string; password: string }) {
  await page.goto("/signup");
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  await page.getByLabel("Confirm password").fill(user.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/login/);
}

export async function logIn(page: Page, identifier: string, password: string) {
  await page.getByLabel("Username or email").fill(identifier);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

/**
 * Runs `submit` and waits for its answer: the page's `#main` replaced, by the
 * errors swapped in place or by a new page. An error already shown from an
 * earlier attempt then cannot pass for this attempt's.
 */
export async function answered(page: Page, submit: () => Promise<void>) {
  await page.locator("#main").evaluate((el) => el.setAttribute("data-stale", ""));
  await submit();
  await expect(page.locator("#main[data-stale]")).toHaveCount(0);
}

/** Creates an account through the API (faster than the form). */
export async function createUser(page: Page, user: { username: string; email: string; password: string }) {
  const res = await page.request.post("/api/v1/auth/signup", {
    data: { email: user.email, username: user.username, password: user.password },
  });
  expect(res.status()).toBe(201);
}

type MaildevMail = { id: string; subject: string; text: string; html?: string; to: { address: string }[] };

/** The mail maildev received for `address` with `subject`, waiting until there are `count`. */
export async function mailsTo(address: string, subject: string, count = 1): Promise<MaildevMail[]> {
  const { maildevUrl } = await import("../playwright.config");
  let found: MaildevMail[] = [];
  await expect
    .poll(
      async () => {
        const res = await fetch(`${maildevUrl}/api/email`);
        const all = (await res.json()) as MaildevMail[];
        found = all.filter(
          (m) => m.subject === subject && m.to.some((t) => t.address.toLowerCase() === address.toLowerCase()),
        );
        return found.length;
      },
      { timeout: 15_000, message: `${count} mail(s) "${subject}" to ${address}` },
    )
    .toBeGreaterThanOrEqual(count);
  return found;
}

/** The newest mail to `address` whose subject is `subject`. */
export async function lastMail(address: string, subject: string, count = 1): Promise<MaildevMail> {
  const mails = await mailsTo(address, subject, count);
  return mails[mails.length - 1];
}

/** The link to `path` (e.g. "/reset-password") in a mail's plain-text part. */
export function linkIn(mail: MaildevMail, path: string): string {
  const match = mail.text.match(new RegExp(`https?://[^\\s]+${path}\\?token=[A-Za-z0-9_-]+`));
  expect(match, `a ${path} link in "${mail.subject}"`).not.toBeNull();
  return match![0];
}

/** The current RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret, `offset` steps away. */
export function totp(secretBase32: string, offset = 0): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secretBase32.replace(/=+$/, "").toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const step = Math.floor(Date.now() / 1000 / 30) + offset;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const digest = createHmac("sha1", key).update(counter).digest();
  const o = digest[19] & 0x0f;
  const n = ((digest[o] & 0x7f) << 24) | (digest[o + 1] << 16) | (digest[o + 2] << 8) | digest[o + 3];
  return String(n % 1_000_000).padStart(6, "0");
}

/** Waits until the current 30-second step has at least `margin` seconds left. */
export async function freshStep(margin = 6) {
  const left = 30 - (Math.floor(Date.now() / 1000) % 30);
  if (left < margin) await new Promise((r) => setTimeout(r, (left + 1) * 1000));
}

/** Logs out through the navigation bar's button. */
export async function logOut(page: Page) {
  await page.getByRole("button", { name: "Logout" }).click();
  await expect(page).toHaveURL(/\/login$/);
}

/** A same-origin JSON POST from the page's own origin (a Gatehouse page); its status. */
export async function api(page: Page, path: string, body: unknown): Promise<number> {
  return page.evaluate(
    async ([path, body]) => {
      const res = await fetch(path as string, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      return res.status;
    },
    [path, body],
  );
}
