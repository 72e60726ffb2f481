// @gatehouse/client: a browser client for Gatehouse's JSON API. The access
// token stays in memory, the refresh token in Gatehouse's HttpOnly cookie, and
// however many requests meet an expired token, one refresh answers them all.

export { createClient } from "./client.js";
export type { ClientOptions, GatehouseClient } from "./client.js";
export { GatehouseError } from "./errors.js";
export type {
  ApiError,
  MfaMethod,
  MfaProof,
  MfaRequired,
  Role,
  SessionState,
  SignInResult,
  TokenPair,
  User,
} from "./types.js";
