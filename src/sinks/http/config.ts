import { z } from "zod";
import { duration, timeout } from "../../config/fields.ts";

export const httpSinkConfig = z.strictObject({
  url: z.string().regex(/^https?:\/\//, "must be an http:// or https:// URL"),
  method: z.enum(["POST", "PUT"]).default("POST"),
  /** "row": the output row; "envelope": Debezium-style {before, after, source, op, ts_ms}. */
  payload: z.enum(["row", "envelope"]).default("row"),
  /** Records per request; the body is a JSON array unless batch_size is 1 (then one object). */
  batch_size: z.number().int().min(1).max(10_000).default(100),
  batch_delay: duration.default(200),
  headers: z.record(z.string(), z.string()).default({}),
  timeout: timeout.default(10_000),
  retry: z
    .strictObject({
      /**
       * Failed sends per request (5xx, 429, 408, timeouts, network errors), the first included;
       * after the last one the records go to the DLQ. Not counted: requests the open circuit
       * breaker holds back (nothing is sent; the pipeline waits), and a half-open probe that gets
       * no answer at all (the receiver is still down). Keep it above breaker.failures, or an
       * unreachable receiver dead-letters the request before the breaker opens.
       */
      max_attempts: z.number().int().min(1, "must be at least 1 (the first attempt counts: 1 sends once, without retrying)").default(8),
      initial_delay: duration.default(200),
      max_delay: duration.default(30_000),
    })
    .prefault({}),
  breaker: z
    .strictObject({
      /** Consecutive failed requests that open the circuit: then nothing is sent, and the pipeline waits (backpressure). */
      failures: z.number().int().min(1).default(5),
      /** How long it stays open before one half-open probe request. */
      half_open_after: duration.default(30_000),
    })
    .prefault({}),
  idempotency_header: z.string().min(1).default("Idempotency-Key"),
  /** HMAC-SHA256 of the body with this secret, hex, in `X-Signature-256: sha256=<hex>`. */
  hmac_secret: z.string().min(1).optional(),
  hmac_header: z.string().min(1).default("X-Signature-256"),
});
export type HttpSinkConfig = z.infer<typeof httpSinkConfig>;

export const httpTargetSchema = z.strictObject({
  /** Per-pipeline override of the sink's payload. */
  payload: z.enum(["row", "envelope"]).optional(),
});
