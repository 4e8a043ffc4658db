import { z } from "zod";
import { formatDuration, parseDuration, unitless } from "./duration.ts";

/** Reusable config field types, with messages written for the person editing the YAML. */

/**
 * A duration needs a unit: `checkpoint_interval: 5` read as 5 ms was a silent misreading (5 s
 * meant). A bare 0 stays accepted: it reads the same in every unit ("0 = off" fields).
 */
export const span = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const bare = unitless(v);
  if (bare !== undefined && Number(bare) > 0 && Number.isFinite(Number(bare))) {
    ctx.addIssue({ code: "custom", message: `${bare} has no unit: write ${bare}s or ${bare}ms` });
    return z.NEVER;
  }
  const ms = parseDuration(v);
  if (ms === null) {
    ctx.addIssue({ code: "custom", message: `bad duration '${v}' (use e.g. 500ms, 30s, 5m, 1h)` });
    return z.NEVER;
  }
  return ms;
});

/**
 * The longest wait a timer can take: setTimeout/setInterval run a longer delay after 1 ms, so
 * `checkpoint_interval: 30d` checkpointed about every millisecond and `batch_delay: 30d` wrote
 * at once. A duration that sets a timer is refused past it; spans of event time (window size,
 * lateness, retention) and expiries handed to a server (ttl, partition expiration) are not timers.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
function timerCap(ms: number, ctx: z.RefinementCtx): void {
  if (ms > MAX_TIMER_MS) ctx.addIssue({ code: "custom", message: `must be at most 24d, got ${formatDuration(ms)} (a longer wait cannot be timed)` });
}

/** A duration the engine waits with a timer (intervals, delays, timeouts). */
export const duration = span.superRefine(timerCap);

/** A duration with a floor, where 0 or a few ms would spin a loop or fail every request (not capped: see timerAtLeast). */
export function durationAtLeast(minMs: number, why: string) {
  return span.superRefine((ms, ctx) => {
    if (ms < minMs) ctx.addIssue({ code: "custom", message: `must be at least ${formatDuration(minMs)}, got ${formatDuration(ms)} (${why})` });
  });
}
/** A timer's duration with a floor. */
export function timerAtLeast(minMs: number, why: string) {
  return durationAtLeast(minMs, why).superRefine(timerCap);
}
/** Request and connect timeouts: 0 failed every request at once. */
export const timeout = timerAtLeast(100, "a shorter timeout fails requests to a healthy server");
/** The longest pause between reconnects: 0 retried in a busy loop while the server was down. */
export const maxBackoff = timerAtLeast(10, "a shorter pause retries in a busy loop while the server is down");

export const pgUrl = z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL");

export const sslmode = z.enum(["disable", "prefer", "require", "verify-ca", "verify-full"]);

/** TLS options shared by the database sinks and the source. */
export const tls = z
  .strictObject({
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    reject_unauthorized: z.boolean().default(true),
  })
  .optional();

export const listen = z
  .string()
  .regex(/^[^\s:]*:\d{1,5}$/, "must be HOST:PORT, e.g. 127.0.0.1:8080")
  .refine((v) => Number(v.slice(v.lastIndexOf(":") + 1)) <= 65535, "the port must be from 0 to 65535");

/**
 * "schema.table" or "schema.*"; a bare name means schema public. Split at the first dot, as
 * everywhere else: the schema name holds no dot, the table name may hold dots and spaces (a
 * Postgres identifier can), so `Sales Data.Orders 2024` or `public.v1.events` can be mirrored.
 * Neither may start or end with whitespace (a stray space is a typo, not a name).
 */
export const tableRef = z.string().regex(/^[^.\s](?:[^.]*[^.\s])?(?:\.\S(?:.*\S)?)?$/, "must be schema.table or schema.*");

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
/** Byte sizes: "64MiB", "512kb", or a bare number of bytes. */
export const byteSize = z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$/i.exec(String(v));
  if (!m) {
    ctx.addIssue({ code: "custom", message: `bad size '${v}' (use e.g. 64MiB, 512kb, 1GiB)` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? "b").toLowerCase()]);
});
