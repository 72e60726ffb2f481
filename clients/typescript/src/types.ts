// The JSON bodies of Gatehouse's API, written by hand to mirror the server's
// OpenAPI document (`/api/v1/openapi.json`). `scripts/check-types.mjs`
// compares the property names of the interfaces below with the schemas named
// in their doc comments, so a field added or renamed on the server shows up
// as a failed check rather than as `undefined` in an app.

/** A user's role. */
export type Role = "admin" | "user";

/** A user, as `GET /api/v1/users/me` answers it. Schema: `UserView`. */
export interface User {
  /** A UUID. */
  id: string;
  username: string;
  email: string | null;
  role: Role;
  /** Whether the person proved they receive mail at `email`. */
  email_verified: boolean;
  /** RFC 3339. */
  created_at: string;
}

/**
 * What `/api/v1/auth/token`, `/token/mfa` and `/refresh` answer on success.
 * Schema: `TokenResponse`.
 */
export interface TokenPair {
  /** A JWT for `Authorization: Bearer`. */
  access_token: string;
  /** Always `Bearer`. */
  token_type: "Bearer";
  /** Seconds until the access token expires. */
  expires_in: number;
  /**
   * Opaque and single-use. Browsers never get it here: Gatehouse sets it as
   * the HttpOnly refresh cookie only, out of every script's reach (clients
   * that are not browsers get it in the body too).
   */
  refresh_token?: string;
}

/**
 * The second factors an account can present. Other names may appear in later
 * versions, hence the open string.
 */
export type MfaMethod = "totp" | "recovery" | "passkey" | (string & {});

/**
 * What `/api/v1/auth/token` answers for an account with a second factor.
 * Schema: `TokenMfaRequired`.
 */
export interface MfaRequired {
  mfa_required: true;
  /** Opaque, good for five minutes: send it to `/api/v1/auth/token/mfa`. */
  mfa_token: string;
  /** The factors this account has. */
  methods: MfaMethod[];
}

/** The body of every error answer. Schema: `ErrorBody`. */
export interface ApiError {
  error: string;
}

/** The proof that completes a sign-in: a TOTP code or a recovery code. */
export type MfaProof = { code: string } | { recoveryCode: string };

/** The outcome of `signIn` and `completeMfa`. */
export type SignInResult =
  | {
      status: "signed-in";
      /** The signed-in user; absent when `/users/me` could not be read. */
      user?: User;
    }
  | {
      status: "mfa-required";
      /** Pass it to `completeMfa` within five minutes. */
      mfaToken: string;
      methods: MfaMethod[];
    };

/** The outcome of `session()`. */
export interface SessionState {
  authenticated: boolean;
  user?: User;
}
