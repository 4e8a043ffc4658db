/** A failed request: `retryable` for 5xx, 429 and network errors/timeouts; other 4xx are final. */
export class HttpSendError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    /** From Retry-After (seconds or an HTTP date), in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export function parseRetryAfter(v: string | null, now = Date.now()): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}
