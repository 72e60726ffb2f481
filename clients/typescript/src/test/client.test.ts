// Signing in and out, second factors, errors, and where tokens are kept.

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { createClient, GatehouseError } from "../index.js";
import { ALICE, BASE, fakeGatehouse, trapStorage } from "./fake-gatehouse.js";

describe("signIn", () => {
  let storage: ReturnType<typeof trapStorage>;
  beforeEach(() => {
    storage = trapStorage();
  });
  afterEach(() => storage.restore());

  test("keeps the access token in memory only and returns the user", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });
    assert.equal(client.token(), null);

    const result = await client.signIn("alice", "pw");

    assert.deepEqual(result, { status: "signed-in", user: ALICE });
    assert.equal(client.token(), "access-1");
    assert.deepEqual(storage.touched, [], "nothing may touch localStorage or sessionStorage");
    const [call] = fake.to("/api/v1/auth/token");
    assert.equal(call?.method, "POST");
    assert.equal(call?.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(call?.body ?? ""), { username: "alice", password: "pw" });
  });

  test("never keeps a refresh token, even one a server put in the body", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });
    await client.signIn("alice", "pw");
    fake.expireAll();

    await client.fetch("/api/v1/users/me");
    await client.signOut();

    // The cookie carries it; the bodies stay empty, and nothing is stored.
    assert.deepEqual(JSON.parse(fake.to("/api/v1/auth/refresh")[0]?.body ?? ""), {});
    assert.deepEqual(JSON.parse(fake.to("/api/v1/auth/revoke")[0]?.body ?? ""), {});
    assert.deepEqual(storage.touched, []);
  });

  test("wrong credentials throw GatehouseError 401", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });

    await assert.rejects(client.signIn("alice", "nope"), (e: unknown) => {
      assert.ok(e instanceof GatehouseError);
      assert.equal(e.status, 401);
      assert.equal(e.message, "invalid credentials");
      assert.equal(e.retryAfter, undefined);
      return true;
    });
    assert.equal(client.token(), null);
    // A wrong password is not an expired token: no refresh, no retry.
    assert.equal(fake.to("/api/v1/auth/refresh").length, 0);
    assert.equal(fake.to("/api/v1/auth/token").length, 1);
  });

  test("a 429 throws GatehouseError with retryAfter", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });

    await assert.rejects(client.signIn("mallory", "pw"), (e: unknown) => {
      assert.ok(e instanceof GatehouseError);
      assert.equal(e.status, 429);
      assert.equal(e.retryAfter, 30);
      assert.match(e.message, /too many attempts/);
      return true;
    });
  });
});

describe("second factor", () => {
  test("mfa-required, then completeMfa with a code signs in", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });

    const first = await client.signIn("bob", "pw");
    assert.deepEqual(first, { status: "mfa-required", mfaToken: "mfa-1", methods: ["totp", "recovery"] });
    assert.equal(client.token(), null, "no token before the second factor");

    const second = await client.completeMfa("mfa-1", { code: "123456" });
    assert.equal(second.status, "signed-in");
    assert.equal(client.token(), "access-1");
    assert.deepEqual(JSON.parse(fake.to("/api/v1/auth/token/mfa")[0]?.body ?? ""), {
      mfa_token: "mfa-1",
      code: "123456",
    });
  });

  test("completeMfa sends a recovery code as recovery_code", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });
    await client.signIn("bob", "pw");

    const result = await client.completeMfa("mfa-1", { recoveryCode: "abcd-efgh" });

    assert.equal(result.status, "signed-in");
    assert.deepEqual(JSON.parse(fake.to("/api/v1/auth/token/mfa")[0]?.body ?? ""), {
      mfa_token: "mfa-1",
      recovery_code: "abcd-efgh",
    });
  });

  test("a wrong code throws GatehouseError 401", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });
    await client.signIn("bob", "pw");

    await assert.rejects(client.completeMfa("mfa-1", { code: "000000" }), (e: unknown) => {
      assert.ok(e instanceof GatehouseError);
      assert.equal(e.status, 401);
      assert.equal(e.message, "invalid code");
      return true;
    });
    assert.equal(client.token(), null);
  });
});

describe("signOut", () => {
  test("revokes with credentials included, forgets the token, and does not call onSignedOut", async () => {
    const fake = fakeGatehouse();
    let signedOut = 0;
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch, onSignedOut: () => signedOut++ });
    await client.signIn("alice", "pw");

    await client.signOut();

    const [revoke] = fake.to("/api/v1/auth/revoke");
    assert.equal(revoke?.method, "POST");
    assert.equal(revoke?.credentials, "include");
    assert.equal(revoke?.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(revoke?.body ?? ""), {});
    assert.equal(client.token(), null);
    assert.equal(signedOut, 0);

    // The next call goes out without a token.
    await client.fetch("/api/v1/things");
    assert.equal(fake.to("/api/v1/things")[0]?.headers["authorization"], undefined);
  });
});

describe("session", () => {
  test("reports the user when signed in", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });
    await client.signIn("alice", "pw");

    assert.deepEqual(await client.session(), { authenticated: true, user: ALICE });
  });

  test("after a reload (no token in memory) restores the session through the cookie", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });

    assert.deepEqual(await client.session(), { authenticated: true, user: ALICE });
    assert.equal(fake.to("/api/v1/auth/refresh").length, 1);
    assert.equal(client.token(), "access-1");
  });

  test("without a session answers authenticated: false, and a page that never signed in is not 'signed out'", async () => {
    const fake = fakeGatehouse();
    fake.refreshStatus = 401;
    let signedOut = 0;
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch, onSignedOut: () => signedOut++ });

    assert.deepEqual(await client.session(), { authenticated: false });
    assert.equal(signedOut, 0);
  });

  test("a session lost on the server answers authenticated: false and calls onSignedOut", async () => {
    const fake = fakeGatehouse();
    let signedOut = 0;
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch, onSignedOut: () => signedOut++ });
    await client.signIn("alice", "pw");
    fake.expireAll();
    fake.refreshStatus = 401;

    assert.deepEqual(await client.session(), { authenticated: false });
    assert.equal(signedOut, 1);
  });
});

describe("requests", () => {
  test("credentials default to include, on every call", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });
    await client.signIn("alice", "pw");
    await client.fetch("/api/v1/things");
    fake.expireAll();
    await client.fetch("/api/v1/things");
    await client.signOut();

    assert.ok(fake.calls.length >= 6);
    for (const call of fake.calls) assert.equal(call.credentials, "include", `${call.method} ${call.path}`);
  });

  test("credentials can be set", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch, credentials: "same-origin" });
    await client.signIn("alice", "pw");
    await client.fetch("/api/v1/things");

    for (const call of fake.calls) assert.equal(call.credentials, "same-origin");
  });

  test("fetch attaches the bearer header and resolves paths against baseUrl", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: `${BASE}/`, fetch: fake.fetch });
    await client.signIn("alice", "pw");

    const res = await client.fetch("api/v1/things", { headers: { Accept: "application/json" } });

    assert.equal(res.status, 200);
    const [call] = fake.to("/api/v1/things");
    assert.equal(call?.url, `${BASE}/api/v1/things`);
    assert.equal(call?.headers["authorization"], "Bearer access-1");
    assert.equal(call?.headers["accept"], "application/json");
  });

  test("a string body gets Content-Type: application/json unless one is given", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });
    await client.signIn("alice", "pw");

    await client.fetch("/api/v1/things", { method: "POST", body: "{}" });
    await client.fetch("/api/v1/other", { method: "POST", body: "x", headers: { "Content-Type": "text/plain" } });

    assert.equal(fake.to("/api/v1/things")[0]?.headers["content-type"], "application/json");
    assert.equal(fake.to("/api/v1/other")[0]?.headers["content-type"], "text/plain");
  });

  test("the access token is never sent to another origin", async () => {
    const fake = fakeGatehouse();
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });
    await client.signIn("alice", "pw");

    const res = await client.fetch("http://elsewhere.test/api/v1/things");

    assert.equal(res.status, 401);
    assert.equal(fake.to("/api/v1/things")[0]?.headers["authorization"], undefined);
    assert.equal(fake.to("/api/v1/auth/refresh").length, 0, "another origin's 401 is not ours to refresh");
  });
});
