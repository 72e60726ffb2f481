import { GatehouseError } from "./errors.js";
import type { MfaProof, MfaRequired, SessionState, SignInResult, TokenPair, User } from "./types.js";

export interface ClientOptions {
  /** Where Gatehouse answers, e.g. `https://id.example.com`. A path prefix is kept. */
  baseUrl: string;
  /**
   * Called once when the session is lost: a refresh was refused while the
   * client was signed in. Not called by `signOut()` (the app asked for it),
   * nor when a page that never signed in finds no session.
   */
  onSignedOut?: () => void;
  /** The `fetch` to use; the global one by default. Tests pass a fake. */
  fetch?: typeof fetch;
  /** Sent with every request; `"include"` so the refresh cookie travels cross-origin. */
  credentials?: RequestCredentials;
}

export interface GatehouseClient {
  /** Signs in with a username (or email) and password. Throws `GatehouseError` on a non-2xx answer. */
  signIn(username: string, password: string): Promise<SignInResult>;
  /** Completes a sign-in that answered `mfa-required`. Throws `GatehouseError` on a non-2xx answer. */
  completeMfa(mfaToken: string, proof: MfaProof): Promise<SignInResult>;
  /**
   * Revokes the token family (through the refresh cookie) and forgets the
   * access token. Does not call `onSignedOut`.
   */
  signOut(): Promise<void>;
  /**
   * Who is signed in, from `GET /api/v1/users/me`. After a reload, with no
   * access token in memory, this restores the session through the refresh
   * cookie.
   */
  session(): Promise<SessionState>;
  /** The access token in memory, or null. It may be expired; `fetch` handles that. */
  token(): string | null;
  /**
   * `fetch` against Gatehouse: resolves a path against `baseUrl`, sends the
   * access token, and on a 401 refreshes once and retries once. When the
   * refresh fails it returns the original 401 (and calls `onSignedOut`).
   */
  fetch(input: string | URL, init?: RequestInit): Promise<Response>;
}

/**
 * Refresh this long before the known expiry, for clock skew and latency: 5 s,
 * or a quarter of the token's life when that is shorter (a 3-second token is
 * used, not refreshed at once).
 */
const EXPIRY_MARGIN_MS = 5_000;

/**
 * The endpoints whose 401 means "wrong credentials", never "expired token":
 * refreshing and replaying them would only spend a refresh token and count
 * the same wrong password twice.
 */
const CREDENTIAL_ENDPOINTS =
  /\/api\/v1\/auth\/(token|token\/mfa|refresh|revoke|login|mfa\/verify|passkey\/finish|reauthenticate)\/?$/;

type RefreshOutcome = "refreshed" | "signed-out" | "unavailable";

/** The part of the Web Locks API used here (`navigator.locks`). */
interface Locks {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

export function createClient(options: ClientOptions): GatehouseClient {
  const base = options.baseUrl.replace(/\/+$/, "");
  const baseOrigin = new URL(base).origin;
  const credentials = options.credentials ?? "include";
  // Looked up at call time, and called through globalThis: browsers refuse a
  // detached `fetch` ("Illegal invocation").
  const raw: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  // Everything the client knows lives in these variables, never in storage:
  // a script injected into the page cannot read what was never written down.
  // The refresh token is not even here: Gatehouse gives a browser it only as
  // an HttpOnly cookie, which no script can read.
  let access: { token: string; expiresAt: number } | null = null;
  /** Whether losing the session now is news for `onSignedOut`. */
  let signedIn = false;
  /** Bumped on every change of tokens, so a late 401 can tell it is stale. */
  let generation = 0;
  /** The one refresh in flight, shared by every request that needs it. */
  let inflight: Promise<RefreshOutcome> | null = null;

  function url(input: string | URL): string {
    const s = String(input);
    if (/^[a-z][a-z\d+.-]*:/i.test(s)) return s;
    return base + (s.startsWith("/") ? s : `/${s}`);
  }

  /** The access token goes to Gatehouse only, never to a URL elsewhere. */
  function isGatehouse(u: string): boolean {
    try {
      return new URL(u).origin === baseOrigin;
    } catch {
      return false;
    }
  }

  function keep(pair: TokenPair): void {
    const life = pair.expires_in * 1000;
    access = { token: pair.access_token, expiresAt: Date.now() + life - Math.min(EXPIRY_MARGIN_MS, life / 4) };
    signedIn = true;
    generation++;
  }

  function forget(): void {
    access = null;
    signedIn = false;
    generation++;
  }

  function postJson(path: string, body: unknown): Promise<Response> {
    return raw(url(path), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials,
    });
  }

  /** Starts a refresh, or joins the one in flight. */
  function refresh(): Promise<RefreshOutcome> {
    inflight ??= underLock(runRefresh).finally(() => {
      inflight = null;
    });
    return inflight;
  }

  /**
   * Tabs of one browser share the refresh cookie, and the server revokes the
   * whole family when a spent token comes back: two tabs refreshing at once
   * would sign each other out. The Web Locks API, where there is one, makes
   * them take turns.
   */
  function underLock(run: () => Promise<RefreshOutcome>): Promise<RefreshOutcome> {
    const locks = (globalThis as { navigator?: { locks?: Locks } }).navigator?.locks;
    if (typeof locks?.request !== "function") return run();
    return locks.request(`gatehouse-refresh ${baseOrigin}`, run);
  }

  async function runRefresh(): Promise<RefreshOutcome> {
    const started = generation;
    const res = await postJson("/api/v1/auth/refresh", {});
    if (generation !== started) {
      // Signed in or out while this was under way: that is the newer truth.
      return access ? "refreshed" : "signed-out";
    }
    if (res.ok) {
      keep((await res.json()) as TokenPair);
      return "refreshed";
    }
    if (res.status === 429 || res.status >= 500) {
      // The server could not decide; the session may well be alive. The
      // next request will try again.
      return "unavailable";
    }
    const wasSignedIn = signedIn;
    forget();
    if (wasSignedIn) notifySignedOut();
    return "signed-out";
  }

  function notifySignedOut(): void {
    try {
      options.onSignedOut?.();
    } catch (e) {
      // The app's handler failing must not break the requests waiting here.
      queueMicrotask(() => {
        throw e;
      });
    }
  }

  /** Sends once, with the access token held right now. */
  function send(u: string, init: RequestInit, attach: boolean): Promise<{ res: Response; sentToken: boolean }> {
    const headers = new Headers(init.headers);
    const token = attach ? access?.token : undefined;
    if (token) headers.set("Authorization", `Bearer ${token}`);
    // Every Gatehouse body is JSON, and the server refuses others with 415.
    if (typeof init.body === "string" && !headers.has("Content-Type")) {
      headers.set("Content-Type", "application/json");
    }
    return raw(u, { ...init, headers, credentials: init.credentials ?? credentials }).then((res) => ({
      res,
      sentToken: token !== undefined,
    }));
  }

  /**
   * Whether a 401 means the access token is missing or stale. Gatehouse marks
   * a rejected token with `error="invalid_token"`; a 401 without it on a
   * request that carried a token (reauthentication required, a wrong current
   * password) is about the request, and a refresh would not change it. When
   * the header cannot be read, assume staleness.
   */
  function staleToken(res: Response, sentToken: boolean): boolean {
    if (!sentToken) return true;
    const challenge = res.headers.get("WWW-Authenticate");
    return challenge === null || /error="?invalid_token/.test(challenge);
  }

  async function apiFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const u = url(input);
    const own = isGatehouse(u);
    let refreshed = false;
    if (own && access && Date.now() >= access.expiresAt) {
      // Known expired: refresh first rather than collect a certain 401.
      refreshed = true;
      await refresh();
    }
    const sentAt = generation;
    const { res, sentToken } = await send(u, init, own);
    if (
      res.status !== 401 ||
      !own ||
      refreshed ||
      !replayable(init.body) ||
      CREDENTIAL_ENDPOINTS.test(new URL(u).pathname) ||
      !staleToken(res, sentToken)
    ) {
      return res;
    }
    if (generation !== sentAt) {
      // Another request refreshed (or lost the session) while this one was
      // out: use its result instead of spending another refresh token.
      if (!access) return res;
    } else if ((await refresh()) !== "refreshed") {
      return res;
    }
    await drain(res);
    return (await send(u, init, own)).res;
  }

  async function me(): Promise<User | undefined> {
    if (!access) return undefined;
    try {
      const res = await raw(url("/api/v1/users/me"), {
        headers: { Authorization: `Bearer ${access.token}` },
        credentials,
      });
      return res.ok ? ((await res.json()) as User) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Reads a token endpoint's answer: a pair, a second step, or an error. */
  async function signedInFrom(res: Response): Promise<SignInResult> {
    const body: unknown = await res.json().catch(() => undefined);
    if (!res.ok) throw await GatehouseError.from(res, body);
    if (isMfaRequired(body)) {
      return { status: "mfa-required", mfaToken: body.mfa_token, methods: body.methods };
    }
    keep(body as TokenPair);
    const user = await me();
    return user ? { status: "signed-in", user } : { status: "signed-in" };
  }

  return {
    async signIn(username, password) {
      return signedInFrom(await postJson("/api/v1/auth/token", { username, password }));
    },

    async completeMfa(mfaToken, proof) {
      const body =
        "code" in proof
          ? { mfa_token: mfaToken, code: proof.code }
          : { mfa_token: mfaToken, recovery_code: proof.recoveryCode };
      return signedInFrom(await postJson("/api/v1/auth/token/mfa", body));
    },

    async signOut() {
      // Let a refresh under way land first, so the revoke presents the
      // newest refresh cookie rather than the one it just spent.
      if (inflight) await inflight.catch(() => undefined);
      forget();
      const res = await postJson("/api/v1/auth/revoke", {});
      if (!res.ok) throw await GatehouseError.from(res);
    },

    async session() {
      const res = await apiFetch("/api/v1/users/me");
      if (res.ok) return { authenticated: true, user: (await res.json()) as User };
      if (res.status === 401) return { authenticated: false };
      throw await GatehouseError.from(res);
    },

    token() {
      return access?.token ?? null;
    },

    fetch: apiFetch,
  };
}

function isMfaRequired(body: unknown): body is MfaRequired {
  return typeof body === "object" && body !== null && (body as MfaRequired).mfa_required === true;
}

/**
 * Whether a body can be sent twice. Strings, FormData, URLSearchParams, Blobs
 * and buffers are read afresh by each `fetch`; a stream is used up by the first.
 */
function replayable(body: BodyInit | null | undefined): boolean {
  return !(typeof body === "object" && body !== null && typeof (body as ReadableStream).getReader === "function");
}

/** Frees the connection of an answer nobody will read. */
async function drain(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // Already read or cancelled: nothing to free.
  }
}
