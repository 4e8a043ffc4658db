/** A failed request: `retryable` for 5xx, 429, 408 and network errors/timeouts; other 4xx are final. */
export class HttpSendError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    /** From Retry-After (seconds or an HTTP date), in ms. */
    readonly retryAfterMs?: number,
    /**
     * Whether it counts against retry.max_attempts: not when a half-open probe got no answer at
     * all (refused, reset, timed out): the receiver is still down, which the open circuit waits
     * out, and that is no reason to dead-letter the records the probe carried.
     */
    readonly counted = true,
  ) {
    super(message);
  }
}

/** A request failed retry.max_attempts counted sends: its records go to the DLQ. */
export class AttemptsExhaustedError extends Error {
  constructor(
    readonly last: HttpSendError,
    readonly attempts: number,
  ) {
    super(`${last.message} (after ${attempts} attempts)`);
  }
}

export function parseRetryAfter(v: string | null, now = Date.now()): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}
