import { ExponentialBackoff, handleWhen, retry, type RetryPolicy } from "cockatiel";
import type Redis from "ioredis";
import type { Health, OutputBatch, OutputRecord, Sink, SinkContext } from "../sink.ts";
import { formatLsn, type Lsn } from "../../types.ts";
import { CdcError } from "../../errors.ts";
import { sinkRetries, sinkUp } from "../../metrics/metrics.ts";
import { unseenRecords } from "../position-fence.ts";
import { sinkDeadLetter } from "../../dlq/sink-dead-letter.ts";
import { redisTargetSchema, type RedisSinkConfig, type RedisTarget } from "./config.ts";
import { connectRedis, createRedis, describeRedisError, isAuthError, type RedisClient } from "./connect.ts";
import { FENCE_JSON_SCRIPT, FENCE_SCRIPT, opsAsJson, padLsn, XADD_ONCE } from "./fence.ts";
import { recordId } from "../record-identity.ts";
import { movedOps, RecordError, recordOps, renderKey, type Op } from "./ops.ts";
import { lastWrites } from "./last-write.ts";
import { toastMerged } from "./toast-merge.ts";

/** Arguments per script call; a bigger batch is split, and only its last chunk stores the position. */
const MAX_ARGS_PER_CALL = 100_000;
/** How long the set of a snapshot's stream entries outlives the last snapshot batch (ms): 7 days. */
const SNAPSHOT_ENTRIES_TTL = String(7 * 24 * 3600 * 1000);

/** What a fenced write returns when the position it must find is gone. */
const POSITION_GONE = "position gone" as const;

type FenceClient = RedisClient & { cdcFence(key: string, ...args: (string | Buffer)[]): Promise<unknown[]>; cdcFenceJson(key: string, ...args: string[]): Promise<unknown[]> };

/**
 * Redis sink: hash, sorted-set, string and stream writes from key templates. Every write is
 * an absolute value, applied together with the batch position in one Lua script (the fence),
 * so a replayed batch changes nothing and a leaderboard changes atomically per batch.
 * Redis Cluster cannot run one script across slots: there the commands go out pipelined
 * and the position is stored after them (absolute values make a replay harmless).
 */
export class RedisSink implements Sink {
  private client: FenceClient | null = null;
  private ctx!: SinkContext;
  private readonly positions = new Map<string, Lsn>();
  private readonly targets = new Map<string, RedisTarget[]>();
  /** Per replaced zset key fed by a window: window_end of the ranking it shows (kept in Redis too, see shownKey). */
  private readonly shownWindow = new Map<string, string>();
  private readonly abort = new AbortController();
  private readonly retry: RetryPolicy;
  private state: Health = { status: "up" };

  constructor(private readonly config: RedisSinkConfig) {
    this.retry = retry(
      handleWhen((e) => !(e instanceof CdcError) && !isAuthError(e)),
      { maxAttempts: Number.MAX_SAFE_INTEGER, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: config.max_backoff }) },
    );
    this.retry.onRetry((r) => {
      const reason = "error" in r ? (r.error as Error).message : "retry";
      sinkRetries.inc({ sink: this.ctx.name });
      sinkUp.set({ sink: this.ctx.name }, 0);
      this.state = { status: "down", reason };
      this.ctx.log.warn({ reason, delay_ms: Math.round(r.delay) }, "redis write failed, retrying");
    });
  }

  private posKey(pipeline: string): string {
    return `${this.config.key_prefix}cdc_engine:position:${this.ctx.name}:${pipeline}`;
  }

  /**
   * Set of the snapshot entries a pipeline's streams hold (`<stream key>\n<record name>`): a
   * snapshot read again after a crash (a slot made again before the first checkpoint: a new LSN;
   * a snapshot resumed after its last saved key: records numbered above the last start's) adds
   * a row's entry only once. It expires SNAPSHOT_ENTRIES_TTL after the last snapshot batch.
   */
  /** Pipelines this sink has stored a streamed batch for since it opened (their snapshot set is gone). */
  private readonly streaming = new Set<string>();

  private snapshotEntriesKey(pipeline: string): string {
    return `${this.config.key_prefix}cdc_engine:snapshot_entries:${this.ctx.name}:${pipeline}`;
  }

  /** Hash: replaced zset key → window_end of the window it holds (readers and restarts need it). */
  private shownKey(): string {
    return `${this.config.key_prefix}cdc_engine:shown_window:${this.ctx.name}`;
  }

  async open(ctx: SinkContext): Promise<void> {
    this.ctx = ctx;
    for (const t of ctx.targets) {
      const { table: _t, key: _k, sink: _s, ...opts } = t.options;
      const parsed = redisTargetSchema.safeParse(opts);
      if (!parsed.success) {
        const i = parsed.error.issues[0];
        throw new CdcError("sink_config", `pipeline ${t.pipeline}: to.${i.path.join(".")}: ${i.message}`, { component: `sink:${ctx.name}`, kind: "usage" });
      }
      this.targets.set(t.pipeline, [...(this.targets.get(t.pipeline) ?? []), parsed.data]);
    }
    const client = createRedis(this.config) as FenceClient;
    client.on("error", (e) => ctx.log.debug({ err: e.message }, "redis connection error"));
    client.defineCommand("cdcFence", { numberOfKeys: 1, lua: FENCE_SCRIPT });
    client.defineCommand("cdcFenceJson", { numberOfKeys: 1, lua: FENCE_JSON_SCRIPT });
    try {
      await connectRedis(client);
      for (const t of ctx.targets) {
        const v = await client.get(this.posKey(t.pipeline));
        if (v !== null) this.positions.set(t.pipeline, BigInt(v));
      }
      for (const [k, end] of Object.entries(await client.hgetall(this.shownKey()))) this.shownWindow.set(k, end);
    } catch (e) {
      client.disconnect();
      throw new CdcError("sink_connect", describeRedisError(e, this.config), { component: `sink:${ctx.name}`, cause: e });
    }
    this.client = client;
    sinkUp.set({ sink: ctx.name }, 1);
  }

  position(pipeline: string): Lsn | null {
    return this.positions.get(pipeline) ?? null;
  }

  async write(batch: OutputBatch): Promise<void> {
    const unseen = unseenRecords(batch, this.positions.get(batch.pipeline));
    if (!unseen) return;
    const { replay, records } = unseen;
    const targets = this.targets.get(batch.pipeline) ?? [];
    if (!targets.length) throw new CdcError("sink_config", `pipeline ${batch.pipeline} has no redis target options`, { component: `sink:${this.ctx.name}` });
    const dead = new Map<OutputRecord, string>();
    const ops: Op[] = [];
    const shown = new Map<string, string>();
    for (const t of targets) {
      if (t.type === "zset" && t.replace && records.length > 0 && records[0].row.window_end !== undefined) {
        this.windowBoardOps(records, t, ops, dead, shown);
        continue;
      }
      // replace: each source transaction's records for a zset key are the whole set.
      const replacedAt = new Map<string, Lsn>();
      // hash and string keys: only the records whose writes the batch's later records do not override
      const keys = new Map<OutputRecord, string>();
      const prefix = this.config.key_prefix;
      const keyOf = (r: OutputRecord): string | null => {
        const known = keys.get(r);
        if (known !== undefined) return known;
        try {
          const k = prefix + renderKey(t.key_template, r);
          keys.set(r, k);
          return k;
        } catch (e) {
          if (e instanceof RecordError) return null;
          throw e;
        }
      };
      const kept = lastWrites(records, t, keyOf);
      const keptSet = kept.length === records.length ? null : new Set(kept);
      const merged = t.type === "string" && !t.value ? await toastMerged(kept, keyOf, (ks) => this.readStrings(ks)) : null;
      for (const r of records) {
        try {
          // a row moved off its key: the old key goes first, even when a later record of the new
          // key makes this one's own writes irrelevant (lastWrites dropped it)
          // (a truncate has no row to render: recordOps refuses it with its own reason)
          const key = r.op === "truncate" ? "" : (keys.get(r) ?? prefix + renderKey(t.key_template, r)); // rendered once for both
          const moved = r.before && r.op === "upsert" ? movedOps(r, t, prefix, key) : [];
          if (keptSet && !keptSet.has(r)) {
            ops.push(...moved);
            continue;
          }
          const recOps = recordOps(r, t, prefix, key, merged?.get(r));
          if (batch.snapshot && t.type === "stream" && r.snapshotOf !== undefined) {
            // A snapshot row's entry goes in once, whatever id a read after a crash gives it
            // (not output of idle ticks: those carry no snapshot and would fill the set for good).
            for (const o of recOps) {
              if (o.cmd !== "XADD") continue;
              o.cmd = XADD_ONCE;
              o.args = [o.args[0], this.snapshotEntriesKey(batch.pipeline), `${String(o.args[0])}\n${recordId(r, true)}`, SNAPSHOT_ENTRIES_TTL, ...o.args.slice(1)];
            }
          }
          ops.push(...moved); // only with the record's own writes: a refused record moves nothing
          if (t.type === "zset" && t.replace && r.op !== "delete") {
            const key = recOps[0].args[0] as string;
            if (replacedAt.get(key) !== r.lsn) ops.push({ cmd: "DEL", args: [key], record: r });
            replacedAt.set(key, r.lsn);
          }
          ops.push(...recOps);
        } catch (e) {
          if (!(e instanceof RecordError)) throw e;
          dead.set(r, e.message);
        }
      }
    }
    const failures = await this.retry.execute(() => this.apply(batch, ops, replay, unseen.store), this.abort.signal);
    for (const [i, msg] of failures) if (!dead.has(ops[i].record)) dead.set(ops[i].record, `${ops[i].cmd}: ${msg}`);
    if (this.state.status !== "up") this.ctx.log.info("redis reachable again");
    this.state = { status: "up" };
    sinkUp.set({ sink: this.ctx.name }, 1);
    if (unseen.store) this.positions.set(batch.pipeline, batch.lsn);
    if (unseen.store && !batch.snapshot && !this.streaming.has(batch.pipeline)) {
      // The snapshot is behind this pipeline (a streamed batch's position is stored): its entries'
      // names go (~60 bytes a row, kept 7 days otherwise). Only a crash before the engine's first
      // checkpoint could read that snapshot again; its rows can then come twice, as before the set.
      this.streaming.add(batch.pipeline);
      if ((this.targets.get(batch.pipeline) ?? []).some((t) => t.type === "stream")) await this.client?.del(this.snapshotEntriesKey(batch.pipeline)).catch(() => {});
    }
    for (const [k, end] of shown) this.shownWindow.set(k, end);
    for (const [r, reason] of dead) sinkDeadLetter(this.ctx, batch.pipeline, r, reason);
  }

  /**
   * A replaced leaderboard fed by a window (rows carry window_end) shows one window per key:
   * rows of a window newer than the one shown replace the set (DEL, then that window's rows; a
   * window is emitted whole when it closes); rows of the shown window (late rows, updates and
   * deletes of its events, a member whose window emptied) change their members one by one;
   * rows of older windows leave it alone. The shown window_end goes into the shownKey hash in
   * the same fenced write, so a reader knows which window the set is and a restart continues it.
   */
  private windowBoardOps(records: OutputRecord[], t: RedisTarget, ops: Op[], dead: Map<OutputRecord, string>, shown: Map<string, string>): void {
    const byKey = new Map<string, { r: OutputRecord; ops: Op[] }[]>();
    for (const r of records) {
      try {
        const recOps = recordOps(r, t, this.config.key_prefix);
        const key = recOps[0].args[0] as string;
        const list = byKey.get(key);
        if (list) list.push({ r, ops: recOps });
        else byKey.set(key, [{ r, ops: recOps }]);
      } catch (e) {
        if (!(e instanceof RecordError)) throw e;
        dead.set(r, e.message);
      }
    }
    for (const [key, list] of byKey) {
      let end = shown.get(key) ?? this.shownWindow.get(key);
      let replace = false;
      for (const { r } of list) {
        const e = String(r.row.window_end);
        if (r.op === "upsert" && (end === undefined || e > end)) [end, replace] = [e, true];
      }
      if (end === undefined) continue;
      if (replace) {
        ops.push({ cmd: "DEL", args: [key], record: list[0].r }, { cmd: "HSET", args: [this.shownKey(), key, end], record: list[0].r });
        shown.set(key, end);
      }
      for (const x of list) if (String(x.r.row.window_end) === end) ops.push(...x.ops);
    }
  }

  /** The values string keys hold now (for toastMerged); a key of another type reads as none. */
  private async readStrings(keys: string[]): Promise<(string | null)[]> {
    const client = this.client;
    if (!client) throw new CdcError("sink_closed", "sink is closed", { component: `sink:${this.ctx.name}` });
    return Promise.all(keys.map((k) => client.get(k).catch(() => null)));
  }

  /** Returns [op index, error] for commands Redis refused (e.g. WRONGTYPE). */
  private async apply(batch: OutputBatch, ops: Op[], replay: boolean, store: boolean): Promise<[number, string][]> {
    const client = this.client;
    if (!client) throw new CdcError("sink_closed", "sink is closed", { component: `sink:${this.ctx.name}` });
    const held = this.positions.get(batch.pipeline);
    const lsn = replay ? "" : (held !== undefined ? "=" : "") + (batch.snapshot ? "~" : "") + padLsn(batch.lsn);
    const out = this.config.cluster ? await this.applyCluster(client, batch.pipeline, lsn, ops, store) : await this.applyFenced(client, batch.pipeline, lsn, ops, store);
    if (out === POSITION_GONE) throw this.positionGone(batch.pipeline, held!);
    return out;
  }

  /**
   * Redis lost the position this sink stored, and with it (as a rule) every key written before:
   * writing on would leave it partial without a word. Lost changes, as a dropped slot: exit 2.
   */
  private positionGone(pipeline: string, held: Lsn): CdcError {
    return new CdcError(
      "sink_position_lost",
      `Redis no longer holds the position of pipeline ${pipeline} (key ${this.posKey(pipeline)}, last ${formatLsn(held)}): it lost its data (restarted without persistence, flushed, or the key was evicted or deleted), and the keys written before went with it. Stopped, since going on would leave Redis partial. To write it again: run \`cdc-engine slot drop --config <file>\`, then serve --resnapshot; give Redis appendonly yes (and a maxmemory-policy that does not evict) so it keeps its data`,
      { component: `sink:${this.ctx.name}`, kind: "usage" },
    );
  }

  /** `store`: set the position with the last chunk (not for a part of a large transaction before its last). */
  private async applyFenced(client: FenceClient, pipeline: string, lsn: string, ops: Op[], store: boolean): Promise<[number, string][] | typeof POSITION_GONE> {
    const failures: [number, string][] = [];
    let start = 0;
    do {
      let end = start;
      for (let n = 0; end < ops.length && (end === start || n + ops[end].args.length + 2 <= MAX_ARGS_PER_CALL); end++) n += ops[end].args.length + 2;
      const last = end >= ops.length;
      const head = [this.posKey(pipeline), lsn, String(end - start), last && store ? "1" : "0"] as const;
      const json = opsAsJson(ops, start, end);
      let out: unknown[];
      if (json !== null) out = await client.cdcFenceJson(...head, json);
      else {
        const argv: (string | Buffer)[] = [];
        for (let i = start; i < end; i++) argv.push(ops[i].cmd, String(ops[i].args.length), ...ops[i].args);
        out = await client.cdcFence(...head, ...argv);
      }
      if (out[0] === 0) return []; // already at or past this position: a replay
      if (out[0] === -1) return POSITION_GONE;
      for (let i = 1; i < out.length; i += 2) failures.push([start + Number(out[i]), String(out[i + 1])]);
      start = end;
    } while (start < ops.length);
    return failures;
  }

  private async applyCluster(client: FenceClient, pipeline: string, lsn: string, ops: Op[], store: boolean): Promise<[number, string][] | typeof POSITION_GONE> {
    const held = lsn.startsWith("="); // the position must be there (see FENCE in fence.ts)
    if (held) lsn = lsn.slice(1);
    const past = lsn.startsWith("~"); // a snapshot batch (see FENCE_SCRIPT)
    if (past) lsn = lsn.slice(1);
    if (lsn) {
      const pos = await client.get(this.posKey(pipeline));
      if (pos === null && held) return POSITION_GONE;
      if (pos !== null && (pos > lsn || (pos === lsn && !past))) return [];
    }
    const failures: [number, string][] = [];
    // Keys in parallel; the commands of one key in order (ioredis does not promise order while
    // a node connection is being set up or slots are refreshed).
    const byKey = new Map<string, number[]>();
    ops.forEach((o, i) => {
      const k = String(o.args[0]);
      const list = byKey.get(k);
      if (list) list.push(i);
      else byKey.set(k, [i]);
    });
    await Promise.all(
      [...byKey.values()].map(async (idxs) => {
        for (const i of idxs) {
          const o = ops[i];
          const r = client as unknown as Redis;
          // A snapshot entry (XADD_ONCE: stream, set, member, ttl, XADD arguments) is added when
          // the set did not hold it; noted after the entry (not atomic here: a crash in between
          // can add it twice, never leave it out).
          const once = o.cmd === XADD_ONCE;
          if (once && (await r.sismember(String(o.args[1]), o.args[2])) === 1) continue;
          const added = await r.call(once ? "XADD" : o.cmd, ...(once ? [o.args[0], ...o.args.slice(4)] : o.args)).then(
            () => true,
            (e: Error) => {
              if (!/ERR|WRONGTYPE/.test(e.message) || /CLUSTERDOWN|TRYAGAIN|LOADING/.test(e.message)) throw e;
              if (!((o.cmd === "XADD" || once) && e.message.includes("equal or smaller"))) failures.push([i, e.message]);
              return false;
            },
          );
          if (once && added) {
            await r.sadd(String(o.args[1]), o.args[2]);
            await r.pexpire(String(o.args[1]), Number(o.args[3]));
          }
        }
      }),
    );
    if (lsn && store) await client.set(this.posKey(pipeline), lsn);
    return failures;
  }

  async health(): Promise<Health> {
    if (!this.client) return { status: "down", reason: "not open" };
    if (this.state.status !== "up") return this.state;
    try {
      await Promise.race([this.client.ping(), new Promise((_, rej) => setTimeout(() => rej(new Error("no answer within 2s")), 2000).unref())]);
      return { status: "up", details: { cluster: this.config.cluster } };
    } catch (e) {
      return { status: "down", reason: (e as Error).message };
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    if (this.client) {
      await this.client.quit().catch(() => this.client?.disconnect());
      this.client = null;
    }
  }
}
