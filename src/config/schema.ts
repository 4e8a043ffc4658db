import { z } from "zod";
import { byteSize, duration, listen, pgUrl, sslmode, timerAtLeast, tls } from "./fields.ts";
import { pipelineSchema } from "./pipeline-schema.ts";

export const sourceSchema = z.strictObject({
  type: z.literal("postgres").default("postgres"),
  url: pgUrl,
  sslmode: sslmode.optional(),
  tls,
  slot: z.string().regex(/^[a-z0-9_]{1,63}$/, "slot names are lower-case letters, digits and _").default("cdc_engine"),
  publication: z.string().min(1).default("cdc_engine"),
  snapshot: z.enum(["initial", "never"]).default("initial"),
  snapshot_chunk_size: z.number().int().min(1).default(10_000),
  /** pgoutput protocol version; default: the highest the server supports. */
  protocol_version: z.number().int().min(1).max(4).optional(),
  binary: z.boolean().default(false),
  /** Two-phase decoding (PostgreSQL 15+): prepared transactions are emitted at COMMIT PREPARED. */
  two_phase: z.boolean().default(false),
  heartbeat_interval: duration.default(10_000),
  memory_budget: byteSize.default(64 * 1024 * 1024),
  failover: z.boolean().default(false),
  /** Warn when WAL retained behind the slot passes this fraction of max_slot_wal_keep_size. */
  slot_lag_warn_ratio: z.number().min(0).max(1).default(0.8),
});

export const stateSchema = z
  .strictObject({
    dir: z.string().min(1).default("./.cdc-engine"),
    /** A floor: 0 took checkpoints in a busy loop (CPU, and /health down for good). */
    checkpoint_interval: timerAtLeast(100, "checkpoints more often only spin the CPU").default(30_000),
    /** Checkpoints kept after pruning. */
    keep_checkpoints: z.number().int().min(1).default(3),
    /** RSS above which the engine runs a full garbage collection (see engine/gc-governor.ts); 0 = off. */
    gc_above: byteSize.default(160 * 1024 * 1024),
    /**
     * Operator state (windows, joins) the pipelines without their own state_budget share; past its
     * share a pipeline moves cold state to state.dir/operator-state/. "auto": a quarter of the
     * host's memory (or of the container's limit); 0: no bound.
     */
    memory_budget: z
      .union([z.string(), z.number()])
      .transform((v, ctx): number | "auto" => {
        if (v === "auto") return v;
        const r = byteSize.safeParse(v);
        if (r.success) return r.data;
        ctx.addIssue({ code: "custom", message: `bad size '${v}' (use e.g. 512MiB, 2GiB, auto, or 0 for no bound)` });
        return z.NEVER;
      })
      .default("auto"),
  })
  .prefault({});

export const apiSchema = z
  .strictObject({
    listen: listen.default("127.0.0.1:8080"),
    enabled: z.boolean().default(true),
    /** Bearer token for admin endpoints; admin endpoints are off without one. */
    token: z.string().min(8, "must be at least 8 characters").optional(),
  })
  .prefault({});

export const logSchema = z
  .strictObject({
    level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
    format: z.enum(["json", "pretty"]).default("json"),
  })
  .prefault({});

export const configSchema = z.strictObject({
  source: sourceSchema,
  state: stateSchema,
  api: apiSchema,
  log: logSchema,
  /** Sink blocks are checked against each sink type's own schema in load.ts. */
  sinks: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, "sink names are letters, digits, _ or -"), z.looseObject({ type: z.string() })),
  pipelines: z.array(pipelineSchema).min(1, "at least one pipeline is required"),
  /** Named CSV lookup maps for MAP('name', value, default): name → CSV path (key,value). */
  maps: z.record(z.string(), z.string()).default({}),
});

export type SourceConfig = z.infer<typeof sourceSchema>;
export type StateConfig = z.infer<typeof stateSchema>;
export type ApiConfig = z.infer<typeof apiSchema>;
export type RawConfig = z.infer<typeof configSchema>;
export interface SinkConfig {
  name: string;
  type: string;
  options: Record<string, unknown>;
}
export interface Config extends Omit<RawConfig, "sinks"> {
  sinks: Record<string, SinkConfig>;
  /** Path of the file it was loaded from (for messages). */
  file: string;
}
