import type { ApiError } from "./types.js";

/**
 * A non-2xx answer from Gatehouse, for the calls that have no better way to
 * say it (`signIn`, `completeMfa`, `signOut`, `session`). `client.fetch`
 * never throws this: it hands back the `Response` as `fetch` does.
 */
export class GatehouseError extends Error {
  override name = "GatehouseError";

  constructor(
    message: string,
    /** The HTTP status. */
    readonly status: number,
    /**
     * Seconds to wait before trying again, from `Retry-After` (429 answers).
     * Cross-origin pages see it only because Gatehouse exposes the header.
     */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  /** Builds the error from an answer, reading its `{"error"}` body if it has one. */
  static async from(res: Response, body?: unknown): Promise<GatehouseError> {
    if (body === undefined) {
      body = await res.json().catch(() => undefined);
    }
    const message = isApiError(body) ? body.error : `HTTP ${res.status}`;
    return new GatehouseError(message, res.status, parseRetryAfter(res.headers.get("Retry-After")));
  }
}

function isApiError(body: unknown): body is ApiError {
  return typeof body === "object" && body !== null && typeof (body as ApiError).error === "string";
}

/** `Retry-After` is seconds (what Gatehouse sends) or, per HTTP, a date. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}
