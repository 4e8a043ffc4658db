import { z } from "zod";
import { duration, durationAtLeast, maxBackoff, timeout, tls } from "../../config/fields.ts";

const redisUrl = z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL");

export const redisSinkConfig = z.strictObject({
  /** redis://[user:password@]host:6379[/db]; rediss:// for TLS. */
  url: redisUrl.default("redis://127.0.0.1:6379"),
  /** Overrides the URL's user and password (AUTH / ACL). */
  username: z.string().optional(),
  password: z.string().optional(),
  /** Redis Cluster through ioredis' Cluster client; `nodes` are the seed nodes (default: url). */
  cluster: z.boolean().default(false),
  nodes: z.array(redisUrl).min(1).optional(),
  tls,
  /** Prepended to every key this sink writes, including its position keys. */
  key_prefix: z.string().default(""),
  /** Longest wait between retries while Redis is unreachable (retries go on until it returns). */
  max_backoff: maxBackoff.default(10_000),
  connect_timeout: timeout.default(10_000),
  batch_size: z.number().int().min(1).default(5000),
  batch_delay: duration.default(50),
});
export type RedisSinkConfig = z.infer<typeof redisSinkConfig>;

/** Per-pipeline options under `to:`. */
export const redisTargetSchema = z
  .strictObject({
    type: z.enum(["hash", "zset", "string", "stream"]),
    /**
     * Key template: `content_stats:{content_id}`; {column} is replaced by the row's value.
     * (Named key_template because `to.key` is the pipeline's key-column list.)
     */
    key_template: z.string().min(1),
    /** hash: fields to write (default: every column). */
    fields: z.array(z.string().min(1)).min(1).optional(),
    /** zset: the member and score columns. */
    member: z.string().min(1).optional(),
    score: z.string().min(1).optional(),
    /** zset: each source transaction's records replace the whole set at the key (a full leaderboard each time). */
    replace: z.boolean().default(false),
    /** string: column holding the value (default: the row as JSON). */
    value: z.string().min(1).optional(),
    /** stream: approximate MAXLEN. */
    maxlen: z.number().int().min(1).optional(),
    /** Expiry, refreshed on every write to the key. */
    ttl: durationAtLeast(1, "leave ttl out for keys that do not expire").optional(),
  })
  .superRefine((t, ctx) => {
    if (t.type === "zset" && (!t.member || !t.score)) ctx.addIssue({ code: "custom", path: [t.member ? "score" : "member"], message: "required for type zset" });
  });
export type RedisTarget = z.infer<typeof redisTargetSchema>;

/**
 * The output columns a target's options name, by option (`key_template`, `member`, ...): check and
 * serve compare them with the pipeline's output columns, since a name that is none of them made
 * every row fail (no key, no score: all to the DLQ). Only the options its type uses.
 */
export function redisTargetColumns(t: RedisTarget): Record<string, string[]> {
  const out: Record<string, string[]> = { key_template: [...t.key_template.matchAll(/\{([^{}]+)\}/g)].map((m) => m[1]) };
  if (t.type === "hash" && t.fields) out.fields = t.fields;
  if (t.type === "zset") Object.assign(out, { member: [t.member!], score: [t.score!] });
  if (t.type === "string" && t.value) out.value = [t.value];
  return out;
}
