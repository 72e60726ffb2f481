// A real OpenID Connect provider for Gatehouse's tests: panva's certified
// oidc-provider with its development login page (any username, any
// password: the username becomes the subject). Consent is granted at once.
//
// Test switches, on this server only (never in a real provider):
//   POST /_test/accounts {sub, email, email_verified, preferred_username, name}
//        what the provider says about a user (unknown users get
//        `<sub>@idp.test`, not verified);
//   POST /_test/mode {client_id, mode}: the token answers to that client
//        misbehave: wrong-aud, wrong-iss, expired, unknown-kid, alg-none,
//        bad-signature, wrong-nonce; and the authorization answers:
//        wrong-iss-param; "" for none. (next-key signs with the key
//        POST /_test/rotate starts publishing: a rotation, not a fault.)
//
// A client may be given at start too (for a server started before the
// tests): IDP_CLIENT_ID, IDP_CLIENT_SECRET and IDP_REDIRECT_URI.
//
// IDP_BENCH=1 (scripts/bench.sh): the client gets a refresh token with every
// code (the provider otherwise asks prompt=consent for offline_access, an
// interaction each time) and refresh tokens rotate on use, as Gatehouse's
// do, so both providers are measured on the same grants.
//
// Usage: node server.mjs [port]  (0 or none: any free port). Prints one
// JSON line {"issuer": ...} when ready; with --exit-with-stdin it stops
// when its standard input closes (its parent test process ended).

import { createServer } from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const args = process.argv.slice(2);
const port = Number(args.find((a) => /^\d+$/.test(a)) ?? 0);
const host = process.env.IDP_HOST ?? '127.0.0.1';

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
const { privateKey: strayKey } = await jose.generateKeyPair('RS256');
// A key the provider starts publishing on POST /_test/rotate (a rotation).
const { privateKey: nextKey, publicKey: nextPublic } = await jose.generateKeyPair('RS256', { extractable: true });
let rotated = false;

const accounts = new Map();
const modes = new Map();

function claimsOf(sub) {
  return accounts.get(sub) ?? {
    sub,
    email: `${sub}@idp.test`,
    email_verified: false,
    preferred_username: sub,
  };
}

const server = createServer();
await new Promise((resolve) => server.listen(port, host, resolve));
const issuer = `http://${host === '127.0.0.1' && process.env.IDP_PUBLIC_HOST ? process.env.IDP_PUBLIC_HOST : host}:${server.address().port}`;

const bench = process.env.IDP_BENCH === '1';
const clients = process.env.IDP_CLIENT_ID
  ? [{
    client_id: process.env.IDP_CLIENT_ID,
    client_secret: process.env.IDP_CLIENT_SECRET,
    redirect_uris: [process.env.IDP_REDIRECT_URI],
    // A native client is asked for consent on every authorization; the
    // bench's client is a web app (consent once), as Gatehouse's is.
    application_type: bench ? 'web' : 'native',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
  }]
  : [];

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['gatehouse-test-idp-cookie-key'] },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
  },
  ...(bench ? {
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Without offline_access a refresh token ends with the browser session
    // (which each new authorization moves on); Gatehouse's outlive it.
    expiresWithSession: async () => false,
    rotateRefreshToken: true,
  } : {}),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { ...claimsOf(id), sub: id };
      },
    };
  },
  // Consent is given at once: these are the provider's own test clients.
  async loadExistingGrant(ctx) {
    const clientId = ctx.oidc.client.clientId;
    const existing = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(clientId);
    if (existing) return ctx.oidc.provider.Grant.find(existing);
    const grant = new ctx.oidc.provider.Grant({ clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    grant.addOIDCClaims(['email', 'email_verified', 'preferred_username', 'name']);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
provider.on('server_error', (ctx, err) => console.error('server_error', err));
if (bench) provider.on('grant.error', (ctx, err) => console.error('grant.error', err.error_detail ?? err.message));

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

async function tamper(idToken, mode) {
  const [h, p] = idToken.split('.');
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims, key = privateKey, kid = 'k1') =>
    new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(key);
  switch (mode) {
    case 'wrong-aud': return sign({ ...payload, aud: 'another-client' });
    case 'wrong-iss': return sign({ ...payload, iss: 'https://evil.example' });
    case 'expired': return sign({ ...payload, iat: now - 7200, exp: now - 3600 });
    case 'wrong-nonce': return sign({ ...payload, nonce: 'not-the-nonce' });
    case 'unknown-kid': return sign(payload, strayKey, 'k-unknown');
    case 'next-key': return sign(payload, nextKey, 'k2');
    case 'alg-none': return `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`;
    case 'bad-signature': {
      const token = await sign({ ...payload, sub: `${payload.sub}-forged` });
      const [hh, pp] = token.split('.');
      return `${hh}.${pp}.${idToken.split('.')[2]}`;
    }
    default: return `${h}.${p}.${idToken.split('.')[2]}`;
  }
}

provider.use(async (ctx, next) => {
  await next();
  const clientId = ctx.oidc?.client?.clientId;
  const mode = clientId ? modes.get(clientId) : undefined;
  if (!mode) return;
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token) {
    ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token, mode) };
  }
  if (mode === 'wrong-iss-param') {
    const location = ctx.response.get('Location');
    if (location && location.includes('iss=')) {
      const url = new URL(location);
      url.searchParams.set('iss', 'https://evil.example');
      ctx.redirect(url.href);
    }
  }
});

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString() || '{}');
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/_test/accounts') {
      const a = await body(req);
      accounts.set(a.sub, a);
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'POST' && req.url === '/_test/rotate') {
      rotated = true;
      res.writeHead(204).end();
      return;
    }
    if (rotated && req.method === 'GET' && req.url === '/jwks') {
      const current = { ...(await jose.exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
      delete current.d; delete current.p; delete current.q; delete current.dp; delete current.dq; delete current.qi;
      const next = { ...(await jose.exportJWK(nextPublic)), kid: 'k2', alg: 'RS256', use: 'sig' };
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: [current, next] }));
      return;
    }
    if (req.method === 'POST' && req.url === '/_test/mode') {
      const m = await body(req);
      modes.set(m.client_id, m.mode || undefined);
      res.writeHead(204).end();
      return;
    }
  } catch (e) {
    res.writeHead(400).end(String(e));
    return;
  }
  callback(req, res);
});

// The parent may stop reading: a closed pipe is no reason to stop serving.
process.stdout.on('error', () => {});
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
if (args.includes('--exit-with-stdin')) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}
process.on('SIGTERM', () => process.exit(0));
