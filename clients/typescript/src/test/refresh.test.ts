// The 401 path: one refresh however many requests failed, one retry each,
// and a clean sign-out when the refresh is refused.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createClient } from "../index.js";
import { BASE, fakeGatehouse } from "./fake-gatehouse.js";

async function signedIn(opts: { onSignedOut?: () => void } = {}) {
  const fake = fakeGatehouse();
  const client = createClient({ baseUrl: BASE, fetch: fake.fetch, ...opts });
  await client.signIn("alice", "pw");
  return { fake, client };
}

describe("refresh on 401", () => {
  test("one 401 causes exactly one refresh and one retry with the new token", async () => {
    const { fake, client } = await signedIn();
    fake.expireAll();

    const res = await client.fetch("/api/v1/things");

    assert.equal(res.status, 200);
    const refreshes = fake.to("/api/v1/auth/refresh");
    assert.equal(refreshes.length, 1);
    assert.equal(refreshes[0]?.method, "POST");
    assert.equal(refreshes[0]?.credentials, "include");
    assert.equal(refreshes[0]?.headers["content-type"], "application/json");
    const tries = fake.to("/api/v1/things").map((c) => c.headers["authorization"]);
    assert.deepEqual(tries, ["Bearer access-1", "Bearer access-2"]);
    assert.equal(client.token(), "access-2");
  });

  test("five concurrent 401s share ONE refresh, and all five retry with the new token", async () => {
    const { fake, client } = await signedIn();
    fake.expireAll();
    fake.refreshDelay = 20; // the failures pile up while the refresh is out

    const answers = await Promise.all(
      [1, 2, 3, 4, 5].map((n) => client.fetch(`/api/v1/things/${n}`)),
    );

    assert.deepEqual(
      answers.map((r) => r.status),
      [200, 200, 200, 200, 200],
    );
    assert.equal(fake.to("/api/v1/auth/refresh").length, 1);
    for (const n of [1, 2, 3, 4, 5]) {
      const tries = fake.to(`/api/v1/things/${n}`).map((c) => c.headers["authorization"]);
      assert.deepEqual(tries, ["Bearer access-1", "Bearer access-2"], `request ${n}`);
    }
  });

  test("five concurrent 401s share one refresh even when it answers at once", async () => {
    const { fake, client } = await signedIn();
    fake.expireAll();

    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => client.fetch("/api/v1/things")));

    assert.ok(answers.every((r) => r.status === 200));
    assert.equal(fake.to("/api/v1/auth/refresh").length, 1);
    assert.equal(fake.to("/api/v1/things").length, 10);
  });

  test("a failed refresh forgets the token, calls onSignedOut once and returns the original 401", async () => {
    let signedOut = 0;
    const { fake, client } = await signedIn({ onSignedOut: () => signedOut++ });
    fake.expireAll();
    fake.refreshStatus = 401;
    fake.refreshDelay = 10;

    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => client.fetch("/api/v1/things")));

    assert.deepEqual(
      answers.map((r) => r.status),
      [401, 401, 401, 401, 401],
    );
    assert.deepEqual(await answers[0]?.json(), { error: "invalid or expired access token" });
    assert.equal(fake.to("/api/v1/auth/refresh").length, 1);
    assert.equal(fake.to("/api/v1/things").length, 5, "no retries after a failed refresh");
    assert.equal(signedOut, 1);
    assert.equal(client.token(), null);
  });

  test("a retried request that 401s again is returned, not refreshed again", async () => {
    let signedOut = 0;
    const { fake, client } = await signedIn({ onSignedOut: () => signedOut++ });
    fake.alwaysInvalid.add("/api/v1/things");

    const res = await client.fetch("/api/v1/things");

    assert.equal(res.status, 401);
    assert.equal(fake.to("/api/v1/things").length, 2);
    assert.equal(fake.to("/api/v1/auth/refresh").length, 1);
    assert.equal(signedOut, 0, "the refresh worked; the session is alive");
    assert.equal(client.token(), "access-2");
  });

  test("a 401 that is not about the token (reauthentication required) is returned as is", async () => {
    const { fake, client } = await signedIn();
    fake.reauthRequired.add("/api/v1/users/me/password");

    const res = await client.fetch("/api/v1/users/me/password", { method: "POST", body: "{}" });

    assert.equal(res.status, 401);
    assert.equal(fake.to("/api/v1/auth/refresh").length, 0);
    assert.equal(fake.to("/api/v1/users/me/password").length, 1);
  });

  test("without a readable WWW-Authenticate a 401 is taken for a stale token", async () => {
    const { fake, client } = await signedIn();
    fake.challenge = false;
    fake.expireAll();

    const res = await client.fetch("/api/v1/things");

    assert.equal(res.status, 200);
    assert.equal(fake.to("/api/v1/auth/refresh").length, 1);
  });

  test("request bodies are sent again on the retry", async () => {
    const { fake, client } = await signedIn();
    fake.expireAll();

    const res = await client.fetch("/api/v1/things", {
      method: "POST",
      body: JSON.stringify({ name: "x" }),
    });

    assert.equal(res.status, 200);
    const bodies = fake.to("/api/v1/things").map((c) => c.body);
    assert.deepEqual(bodies, ['{"name":"x"}', '{"name":"x"}']);
    assert.deepEqual(await res.json(), { path: "/api/v1/things", method: "POST", body: '{"name":"x"}' });
  });

  test("a streamed body cannot be sent twice: its 401 is returned without a refresh", async () => {
    const { fake, client } = await signedIn();
    fake.expireAll();
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode("{}"));
        c.close();
      },
    });

    const res = await client.fetch("/api/v1/things", { method: "POST", body: stream, duplex: "half" } as RequestInit);

    assert.equal(res.status, 401);
    assert.equal(fake.to("/api/v1/things").length, 1);
    assert.equal(fake.to("/api/v1/auth/refresh").length, 0);
  });

  test("a known-expired token is refreshed before the request, not after a 401", async () => {
    const fake = fakeGatehouse();
    fake.expiresIn = 0;
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch });
    await client.signIn("alice", "pw");
    fake.expiresIn = 900;

    const res = await client.fetch("/api/v1/things");

    assert.equal(res.status, 200);
    assert.equal(fake.to("/api/v1/auth/refresh").length, 1);
    assert.deepEqual(
      fake.to("/api/v1/things").map((c) => c.headers["authorization"]),
      ["Bearer access-2"],
    );
  });

  test("a refresh the server could not answer (503) keeps the session and does not sign out", async () => {
    let signedOut = 0;
    const { fake, client } = await signedIn({ onSignedOut: () => signedOut++ });
    fake.expireAll();
    fake.refreshStatus = 503;

    const res = await client.fetch("/api/v1/things");
    assert.equal(res.status, 401);
    assert.equal(signedOut, 0);

    // Once the server is back, the next request refreshes and goes through.
    fake.refreshStatus = 200;
    assert.equal((await client.fetch("/api/v1/things")).status, 200);
    assert.equal(fake.to("/api/v1/auth/refresh").length, 2);
  });

  test("signOut during a refresh waits for it, then revokes, and stays signed out", async () => {
    let signedOut = 0;
    const { fake, client } = await signedIn({ onSignedOut: () => signedOut++ });
    fake.expireAll();
    fake.refreshDelay = 10;

    const pending = client.fetch("/api/v1/things");
    await new Promise((r) => setTimeout(r, 1));
    await client.signOut();
    await pending;

    assert.equal(client.token(), null);
    assert.equal(signedOut, 0);
    const order = fake.calls.map((c) => c.path).filter((p) => p.startsWith("/api/v1/auth/r"));
    assert.deepEqual(order, ["/api/v1/auth/refresh", "/api/v1/auth/revoke"]);
  });
});
