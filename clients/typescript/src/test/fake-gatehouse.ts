// A fake Gatehouse behind a fake `fetch`: enough of the token endpoints and
// one protected resource to drive the client, and a log of every call.

export const BASE = "http://id.test";

export const ALICE = {
  id: "00000000-0000-4000-8000-000000000001",
  username: "alice",
  email: "alice@example.com",
  role: "user",
  email_verified: true,
  created_at: "2024-01-01T00:00:00Z",
} as const;

export interface Call {
  url: string;
  path: string;
  method: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string | undefined;
  credentials: RequestCredentials | undefined;
}

export interface FakeGatehouse {
  fetch: typeof fetch;
  calls: Call[];
  /** The calls to one path ("/api/v1/auth/refresh"). */
  to(path: string): Call[];
  /** Access tokens the fake accepts right now. */
  valid: Set<string>;
  /** Every access token stops working, as when they expire. */
  expireAll(): void;
  /** Refreshes answer this status instead of a pair (401: the family is gone). */
  refreshStatus: number;
  /** Milliseconds a refresh takes, so that failed requests can pile up. */
  refreshDelay: number;
  /** Seconds the issued access tokens live. */
  expiresIn: number;
  /** Paths that answer 401 `invalid_token` whatever is sent. */
  alwaysInvalid: Set<string>;
  /** Paths that answer 401 "reauthentication required" to a valid token. */
  reauthRequired: Set<string>;
  /** When false, 401s carry no `WWW-Authenticate` (a server that does not expose it). */
  challenge: boolean;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });

function parseBody(body: string | undefined): Record<string, string> {
  try {
    return body ? (JSON.parse(body) as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export function fakeGatehouse(): FakeGatehouse {
  let issued = 0;
  const fake: FakeGatehouse = {
    calls: [],
    to: (path) => fake.calls.filter((c) => c.path === path),
    valid: new Set(),
    expireAll: () => fake.valid.clear(),
    refreshStatus: 200,
    refreshDelay: 0,
    expiresIn: 900,
    alwaysInvalid: new Set(),
    reauthRequired: new Set(),
    challenge: true,
    fetch: async (input, init = {}) => {
      const url = String(input);
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => {
        headers[k] = v;
      });
      const body = typeof init.body === "string" ? init.body : undefined;
      const call: Call = {
        url,
        path: new URL(url).pathname,
        method: (init.method ?? "GET").toUpperCase(),
        headers,
        body,
        credentials: init.credentials,
      };
      fake.calls.push(call);
      await Promise.resolve();
      return answer(call);
    },
  };

  function pair(): Response {
    issued++;
    const access = `access-${issued}`;
    fake.valid.add(access);
    return json(200, {
      access_token: access,
      token_type: "Bearer",
      expires_in: fake.expiresIn,
      refresh_token: `refresh-${issued}`,
    }, { "Set-Cookie": `gatehouse_refresh=refresh-${issued}; HttpOnly; SameSite=Strict; Path=/api/v1/auth` });
  }

  function unauthorized(sentToken: boolean): Response {
    const challenge = sentToken ? 'Bearer realm="gatehouse", error="invalid_token"' : 'Bearer realm="gatehouse"';
    return json(
      401,
      { error: sentToken ? "invalid or expired access token" : "authentication required" },
      fake.challenge ? { "WWW-Authenticate": challenge } : {},
    );
  }

  async function answer(call: Call): Promise<Response> {
    const body = parseBody(call.body);
    switch (`${call.method} ${call.path}`) {
      case "POST /api/v1/auth/token":
        if (body.username === "alice" && body.password === "pw") return pair();
        if (body.username === "bob" && body.password === "pw") {
          return json(200, { mfa_required: true, mfa_token: "mfa-1", methods: ["totp", "recovery"] });
        }
        if (body.username === "mallory") {
          return json(429, { error: "too many attempts; try again later" }, { "Retry-After": "30" });
        }
        return json(401, { error: "invalid credentials" }, { "WWW-Authenticate": 'Bearer realm="gatehouse"' });
      case "POST /api/v1/auth/token/mfa":
        if (body.mfa_token === "mfa-1" && (body.code === "123456" || body.recovery_code === "abcd-efgh")) {
          return pair();
        }
        return json(401, { error: "invalid code" });
      case "POST /api/v1/auth/refresh":
        if (fake.refreshDelay) await new Promise((r) => setTimeout(r, fake.refreshDelay));
        return fake.refreshStatus === 200 ? pair() : json(fake.refreshStatus, { error: "invalid or expired refresh token" });
      case "POST /api/v1/auth/revoke":
        return json(200, { ok: true });
    }
    // Everything else is a protected resource.
    const bearer = call.headers["authorization"]?.replace(/^Bearer /, "");
    if (fake.alwaysInvalid.has(call.path) || !bearer || !fake.valid.has(bearer)) {
      return unauthorized(bearer !== undefined);
    }
    if (fake.reauthRequired.has(call.path)) {
      return json(401, { error: "reauthentication required" }, { "WWW-Authenticate": 'Bearer realm="gatehouse"' });
    }
    if (call.path === "/api/v1/users/me") return json(200, ALICE);
    return json(200, { path: call.path, method: call.method, body: call.body ?? null });
  }

  return fake;
}

/**
 * Puts a `localStorage` and `sessionStorage` on globalThis that throw when
 * touched, and records each touch: the client must keep tokens in memory.
 */
export function trapStorage(): { touched: string[]; restore(): void } {
  const touched: string[] = [];
  const saved = new Map<string, PropertyDescriptor | undefined>();
  for (const name of ["localStorage", "sessionStorage"]) {
    saved.set(name, Object.getOwnPropertyDescriptor(globalThis, name));
    const trap = new Proxy(
      {},
      {
        get(_t, prop) {
          touched.push(`${name}.${String(prop)}`);
          throw new Error(`${name}.${String(prop)} was used`);
        },
        set(_t, prop) {
          touched.push(`${name}.${String(prop)}=`);
          throw new Error(`${name}.${String(prop)} was written`);
        },
      },
    );
    Object.defineProperty(globalThis, name, { value: trap, configurable: true, writable: true });
  }
  return {
    touched,
    restore() {
      for (const [name, descriptor] of saved) {
        if (descriptor) Object.defineProperty(globalThis, name, descriptor);
        else delete (globalThis as Record<string, unknown>)[name];
      }
    },
  };
}
