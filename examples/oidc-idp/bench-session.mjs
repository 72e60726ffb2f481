// Signs a user in at a running examples/oidc-idp provider through its
// development login page, as a browser would, and prints the Cookie header
// of the provider's session: with it, the authorization endpoint answers
// with a code at once (consent is given at once there). For scripts/bench.sh:
//
//   node bench-session.mjs ISSUER CLIENT_ID REDIRECT_URI
const [issuer, clientId, redirectUri] = process.argv.slice(2);
if (!redirectUri) {
  console.error('usage: node bench-session.mjs ISSUER CLIENT_ID REDIRECT_URI');
  process.exit(2);
}

const jar = new Map();
async function go(url, init = {}) {
  const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(new URL(url, issuer), {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers ?? {}), cookie },
  });
  for (const set of res.headers.getSetCookie()) {
    const pair = set.split(';')[0];
    const eq = pair.indexOf('=');
    jar.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return res;
}

const authorize = new URL('/auth', issuer);
authorize.search = new URLSearchParams({
  client_id: clientId,
  response_type: 'code',
  redirect_uri: redirectUri,
  scope: 'openid',
  state: 'bench',
  nonce: 'bench',
  code_challenge: 'kGjPCYjQVOltW8AKjvm5kW-9XDXQ14UHfkPa2I4oE1I',
  code_challenge_method: 'S256',
}).toString();

let res = await go(authorize);
// The provider asks to sign in, then (the first time) to consent.
const prompts = ['login', 'consent'];
for (let step = 0; step < 10; step += 1) {
  const location = res.headers.get('location');
  if (!location) throw new Error(`no redirect at ${res.url} (${res.status}): ${await res.text()}`);
  if (location.startsWith(redirectUri)) {
    if (!new URL(location).searchParams.get('code')) throw new Error(`no code: ${location}`);
    const session = [...jar].filter(([k]) => k.startsWith('_session'));
    console.log(session.map(([k, v]) => `${k}=${v}`).join('; '));
    process.exit(0);
  }
  const uid = new URL(location, issuer).pathname.match(/^\/interaction\/([^/]+)$/)?.[1];
  res = uid
    ? await go(`/interaction/${uid}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ prompt: prompts.shift() ?? 'consent', login: 'bench', password: 'bench' }).toString(),
    })
    : await go(location);
}
throw new Error('the provider never answered with a code');
