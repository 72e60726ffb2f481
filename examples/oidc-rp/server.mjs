#!/usr/bin/env node
// An app that signs its users in through Gatehouse with OpenID Connect, as
// any of a team's other apps would: the authorization-code flow with PKCE,
// state and nonce, the ID token verified against Gatehouse's published keys,
// userinfo, refresh, and RP-initiated logout. The protocol is done by panva's
// openid-client (an OpenID Certified relying party), so this file only wires
// pages to it.
//
//   npm ci --prefix examples/oidc-rp
//   node examples/oidc-rp/server.mjs --issuer http://localhost:3000 \
//     --client-id ID [--client-secret SECRET] [--port 4180] [--host 127.0.0.1]
//
// Register it first (the redirect URIs are this app's):
//   gatehouse client create --name "Example app" \
//     --redirect-uri http://localhost:4180/callback \
//     --post-logout-redirect-uri http://localhost:4180/ --scope openid \
//     --scope profile --scope email --scope offline_access
//
//   /           who is signed in here (or a "Sign in with Gatehouse" button)
//   /login      starts a sign-in (?prompt=login and ?max_age=N pass through)
//   /callback   finishes it
//   /refresh    trades the refresh token for fresh tokens
//   /logout     signs out here and at Gatehouse

import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import * as client from "openid-client";

const { values } = parseArgs({
  options: {
    issuer: { type: "string", default: "http://localhost:3000" },
    "client-id": { type: "string" },
    "client-secret": { type: "string" },
    port: { type: "string", default: "4180" },
    host: { type: "string", default: "127.0.0.1" },
    "public-url": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help || !values["client-id"]) {
  console.log(
    "usage: node examples/oidc-rp/server.mjs --issuer URL --client-id ID [--client-secret SECRET] [--port 4180] [--host 127.0.0.1] [--public-url http://localhost:4180]",
  );
  process.exit(values.help ? 0 : 2);
}
const port = Number(values.port);
const self = values["public-url"] ?? `http://localhost:${port}`;
const redirectUri = `${self}/callback`;

const issuer = new URL(values.issuer);
const config = await client.discovery(
  issuer,
  values["client-id"],
  values["client-secret"],
  undefined,
  // Development issuers are http://; production ones must be https://.
  issuer.protocol === "http:" ? { execute: [client.allowInsecureRequests] } : undefined,
);

/** Sign-ins under way (by a random cookie) and signed-in browsers. */
const pending = new Map();
const sessions = new Map();

function cookies(req) {
  return Object.fromEntries(
    (req.headers.cookie ?? "")
      .split(";")
      .map((c) => c.trim().split("="))
      .filter(([k, v]) => k && v),
  );
}

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res, status, title, body) {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>${escape(title)}</h1>${body}</body></html>`);
}

function redirect(res, to, cookie) {
  const headers = { location: to };
  if (cookie) headers["set-cookie"] = cookie;
  res.writeHead(303, headers);
  res.end();
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, self);
  const jar = cookies(req);
  try {
    if (url.pathname === "/") {
      const session = sessions.get(jar.rp_session);
      if (!session) {
        return page(res, 200, "Example app", `<p>You are not signed in.</p>
<p><a id="sign-in" href="/login">Sign in with Gatehouse</a></p>`);
      }
      const c = session.claims;
      return page(res, 200, "Example app", `<p id="who">Signed in as <strong>${escape(c.preferred_username ?? c.sub)}</strong></p>
<dl><dt>Email</dt><dd id="email">${escape(c.email ?? "")}</dd>
<dt>Methods</dt><dd id="amr">${escape((c.amr ?? []).join(" "))}</dd>
<dt>Userinfo</dt><dd id="userinfo">${escape(JSON.stringify(session.userinfo))}</dd>
<dt>Refreshed</dt><dd id="refreshed">${session.refreshed}</dd></dl>
<p><a id="refresh" href="/refresh">Refresh the tokens</a> · <a id="sign-out" href="/logout">Sign out</a></p>`);
    }
    if (url.pathname === "/login") {
      const verifier = client.randomPKCECodeVerifier();
      const flow = {
        verifier,
        state: client.randomState(),
        nonce: client.randomNonce(),
        maxAge: url.searchParams.get("max_age") ?? undefined,
      };
      const id = randomBytes(16).toString("hex");
      pending.set(id, flow);
      const params = {
        redirect_uri: redirectUri,
        scope: url.searchParams.get("scope") ?? "openid profile email offline_access",
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: "S256",
        state: flow.state,
        nonce: flow.nonce,
      };
      for (const name of ["prompt", "max_age", "login_hint"]) {
        const v = url.searchParams.get(name);
        if (v) params[name] = v;
      }
      const to = client.buildAuthorizationUrl(config, params);
      return redirect(res, to.href, `rp_flow=${id}; Path=/; HttpOnly; SameSite=Lax`);
    }
    if (url.pathname === "/callback") {
      const flow = pending.get(jar.rp_flow);
      pending.delete(jar.rp_flow);
      if (!flow) return page(res, 400, "Sign-in failed", "<p>No sign-in was started in this browser.</p>");
      if (url.searchParams.has("error")) {
        return page(res, 400, "Sign-in failed", `<p id="error">${escape(url.searchParams.get("error"))}</p>`);
      }
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
        maxAge: flow.maxAge ? Number(flow.maxAge) : undefined,
      });
      const claims = tokens.claims();
      const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      const id = randomBytes(16).toString("hex");
      sessions.set(id, { claims, tokens, userinfo, refreshed: 0 });
      return redirect(res, "/", `rp_session=${id}; Path=/; HttpOnly; SameSite=Lax`);
    }
    if (url.pathname === "/refresh") {
      const session = sessions.get(jar.rp_session);
      if (!session?.tokens.refresh_token) return redirect(res, "/");
      session.tokens = await client.refreshTokenGrant(config, session.tokens.refresh_token);
      session.refreshed += 1;
      return redirect(res, "/");
    }
    if (url.pathname === "/logout") {
      const session = sessions.get(jar.rp_session);
      sessions.delete(jar.rp_session);
      const params = { post_logout_redirect_uri: `${self}/` };
      if (session) params.id_token_hint = session.tokens.id_token;
      const to = client.buildEndSessionUrl(config, params);
      return redirect(res, to.href, "rp_session=; Path=/; Max-Age=0");
    }
    page(res, 404, "Not found", "<p>Nothing here.</p>");
  } catch (e) {
    // The relying party's own checks (signature, iss, aud, nonce, state,
    // at_hash...) refused something: say what, never pretend it worked.
    page(res, 502, "Sign-in failed", `<p id="error">${escape(e?.code ?? "")} ${escape(e?.message ?? e)}</p>`);
  }
});

server.listen(port, values.host, () => {
  console.log(`example app on ${self}, signing in through ${issuer.href}`);
});
