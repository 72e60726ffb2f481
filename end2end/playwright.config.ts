import { defineConfig } from "@playwright/test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

// The release build, started by Playwright on a fresh temporary database.
// Run from the project root's README test command, after `cargo leptos build --release`.
const root = path.resolve(__dirname, "..");
const binary = path.join(root, "target", "release", "gatehouse");
const port = Number(process.env.GATEHOUSE_E2E_PORT ?? 3100);
/** A second instance with tight login limits, for the rate-limit test. */
export const limitedPort = port + 1;
/** maildev: the SMTP server the main instance mails through, and its web API. */
export const smtpPort = port + 25;
export const maildevUrl = `http://127.0.0.1:${port + 80}`;
/** The example SPA (examples/spa), served from other origins than Gatehouse's. */
export const spaPort = port + 73;
export const foreignSpaPort = port + 74;
const dataDir = process.env.GATEHOUSE_E2E_DATA ?? fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-e2e-"));
process.env.GATEHOUSE_E2E_DATA = dataDir;

/**
 * Forward authentication: a Gatehouse for the domain gatehouse.test (its
 * pages on id.gatehouse.test, one sign-in for every subdomain), and a real
 * nginx in front of an app with no login of its own (app. and
 * admin.gatehouse.test). Chromium resolves *.gatehouse.test to 127.0.0.1.
 */
export const forwardPort = port + 2;
export const nginxPort = port + 77;
export const upstreamPort = port + 76;
export const forwardGatehouse = `http://id.gatehouse.test:${forwardPort}`;
const nginxConf = path.join(dataDir, "nginx.conf");
fs.writeFileSync(
  nginxConf,
  fs
    .readFileSync(path.join(__dirname, "forward", "nginx.conf.template"), "utf8")
    .replaceAll("@DIR@", dataDir)
    .replaceAll("@PORT@", String(nginxPort))
    .replaceAll("@GATEHOUSE@", String(forwardPort))
    .replaceAll("@UPSTREAM@", String(upstreamPort))
    // As root, nginx's workers would run as nobody, who may not write here.
    .replaceAll("@USER@", process.getuid?.() === 0 ? "user root;" : ""),
);
const nginxBinary = process.env.NGINX_PATH ?? "/usr/sbin/nginx";

/**
 * Sign-in through another identity provider: a real OpenID Connect provider
 * (panva's oidc-provider with its development login page, examples/oidc-idp)
 * and a Gatehouse that offers "Continue with Test IdP".
 */
export const idpPort = port + 78;
export const federatedPort = port + 3;
export const federatedGatehouse = `http://127.0.0.1:${federatedPort}`;
const idpClient = { id: "gatehouse-e2e", secret: "e2e-secret-for-the-test-provider-only" };

function server(portNumber: number, name: string, extra: Record<string, string> = {}) {
  return {
    command: binary,
    cwd: root,
    url: `http://127.0.0.1:${portNumber}/health`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore" as const,
    stderr: "pipe" as const,
    env: {
      DATABASE_URL: `sqlite://${path.join(dataDir, `${name}.db`)}?mode=rwc`,
      LEPTOS_SITE_ADDR: `127.0.0.1:${portNumber}`,
      LEPTOS_SITE_ROOT: "target/site",
      GATEHOUSE_LOG_FORMAT: "json",
      RUST_LOG: "warn",
      ...extra,
    },
  };
}

export default defineConfig({
  testDir: "./tests",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    // localhost, not 127.0.0.1: browsers allow passkeys (WebAuthn) on
    // http://localhost, never on an IP address.
    baseURL: `http://localhost:${port}`,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--host-resolver-rules=MAP *.gatehouse.test 127.0.0.1",
      ],
    },
  },
  projects: [
    // The first-run setup must happen before anything else can.
    { name: "setup", testMatch: /setup\.spec\.ts/ },
    { name: "app", testIgnore: /setup\.spec\.ts/, dependencies: ["setup"] },
  ],
  webServer: [
    {
      command: `node_modules/.bin/maildev --smtp ${smtpPort} --web ${port + 80} --ip 127.0.0.1 --web-ip 127.0.0.1 --silent`,
      cwd: __dirname,
      url: `${maildevUrl}/api/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore" as const,
      stderr: "pipe" as const,
    },
    // Every test logs in and signs up from 127.0.0.1: the main instance allows
    // many failures and signups. It mails through maildev.
    server(port, "main", {
      GATEHOUSE_LOGIN_ATTEMPTS: "1000",
      GATEHOUSE_LOCKOUT_THRESHOLD: "1000",
      GATEHOUSE_SIGNUP_LIMIT: "1000",
      GATEHOUSE_SMTP_URL: `smtp+plain://127.0.0.1:${smtpPort}`,
      GATEHOUSE_PUBLIC_URL: `http://localhost:${port}`,
      GATEHOUSE_MAIL_FROM: "Gatehouse <no-reply@gatehouse.test>",
      // The example SPA's origin may call the API; its access tokens live 3 s,
      // so a test sees them expire.
      GATEHOUSE_ALLOWED_ORIGINS: `http://localhost:${port + 73}`,
      GATEHOUSE_ACCESS_TOKEN_SECONDS: "3",
    }),
    // The example SPA, from an allowed origin and from one that is not.
    ...[port + 73, port + 74].map((spa) => ({
      command: `node examples/spa/serve.mjs --port ${spa} --host 127.0.0.1 --gatehouse http://localhost:${port}`,
      cwd: root,
      url: `http://127.0.0.1:${spa}/`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "ignore" as const,
      stderr: "pipe" as const,
    })),
    {
      command: `node examples/oidc-idp/server.mjs ${idpPort}`,
      cwd: root,
      url: `http://127.0.0.1:${idpPort}/.well-known/openid-configuration`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "ignore" as const,
      stderr: "ignore" as const,
      env: {
        IDP_CLIENT_ID: idpClient.id,
        IDP_CLIENT_SECRET: idpClient.secret,
        IDP_REDIRECT_URI: "http://127.0.0.1/auth/testidp/callback",
      },
    },
    // It fetches the provider's discovery document as it starts: after it.
    server(federatedPort, "federated", {
      GATEHOUSE_PUBLIC_URL: federatedGatehouse,
      GATEHOUSE_PROVIDERS: "testidp",
      GATEHOUSE_PROVIDER_TESTIDP_ISSUER: `http://127.0.0.1:${idpPort}`,
      GATEHOUSE_PROVIDER_TESTIDP_CLIENT_ID: idpClient.id,
      GATEHOUSE_PROVIDER_TESTIDP_CLIENT_SECRET: idpClient.secret,
      GATEHOUSE_PROVIDER_TESTIDP_NAME: "Test IdP",
      GATEHOUSE_LOGIN_ATTEMPTS: "1000",
      GATEHOUSE_SIGNUP_LIMIT: "1000",
    }),
    server(limitedPort, "limited", { GATEHOUSE_LOGIN_ATTEMPTS: "2", GATEHOUSE_LOGIN_WINDOW_SECONDS: "900" }),
    server(forwardPort, "forward", {
      GATEHOUSE_PUBLIC_URL: forwardGatehouse,
      GATEHOUSE_COOKIE_DOMAIN: "gatehouse.test",
      GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1",
      GATEHOUSE_FORWARD_RULES: "admin.gatehouse.test=admin;*.gatehouse.test=any",
      GATEHOUSE_LOGIN_ATTEMPTS: "1000",
      GATEHOUSE_SIGNUP_LIMIT: "1000",
    }),
    {
      command: `node end2end/forward/echo-upstream.mjs --port ${upstreamPort}`,
      cwd: root,
      url: `http://127.0.0.1:${upstreamPort}/`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "ignore" as const,
      stderr: "pipe" as const,
    },
    {
      command: `${nginxBinary} -p ${dataDir} -c ${nginxConf} -g "daemon off;"`,
      cwd: root,
      url: `http://127.0.0.1:${nginxPort}/nginx-health`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "ignore" as const,
      stderr: "pipe" as const,
    },
  ],
});
