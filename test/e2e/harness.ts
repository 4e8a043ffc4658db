/**
 * Runs an example config (examples/X.yaml) with the compiled binary, as a user would:
 * URLs and names come from the environment variables the example documents.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import Redis from "ioredis";
import { binaryPath, createDatabase, freePort, requireRedis, runBinary, sharedPg } from "../helpers/index.ts";
import { BigQueryServer } from "../helpers/bigquery-server.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { waitUntil } from "../helpers/wait-for.ts";

export const examplesDir = join(import.meta.dir, "../../examples");

export const waitFor = <T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 60_000, logs?: () => string) => waitUntil(what, fn, ms, logs, 200);

export class Serve {
  proc: ReturnType<typeof Bun.spawn> | null = null;
  logs = "";
  port = 0;
  readonly dir = mkdtempSync(join(tmpdir(), "cdc-e2e-"));
  constructor(
    readonly example: string,
    readonly env: Record<string, string>,
  ) {}

  get config(): string {
    return join(examplesDir, `${this.example}.yaml`);
  }

  fullEnv(): Record<string, string> {
    const tag = `e2e_${Math.random().toString(36).slice(2, 8)}`;
    this.env.CDC_SLOT ??= tag;
    this.env.CDC_PUBLICATION ??= tag;
    this.env.CDC_STATE_DIR ??= join(this.dir, "state");
    this.env.CDC_LISTEN = `127.0.0.1:${this.port}`;
    return { ...(process.env as Record<string, string>), CDC_LOG_LEVEL: "warn", ...this.env };
  }

  async start(): Promise<void> {
    this.port ||= await freePort();
    const env = this.fullEnv();
    this.proc = Bun.spawn([await binaryPath(), "serve", "--config", this.config], { cwd: this.dir, env, stdout: "pipe", stderr: "pipe" });
    for (const s of [this.proc.stdout, this.proc.stderr] as ReadableStream<Uint8Array>[]) {
      void (async () => {
        const dec = new TextDecoder();
        for await (const c of s) this.logs += dec.decode(c, { stream: true });
      })();
    }
    await waitFor("/health answers", async () => {
      if (this.proc?.exitCode != null) throw new Error(`serve exited ${this.proc.exitCode}: ${this.logs.slice(-2000)}`);
      return (await fetch(`http://127.0.0.1:${this.port}/health`)).status > 0;
    }, 60_000, () => this.logs);
  }

  async status(): Promise<Record<string, unknown>> {
    return (await (await fetch(`http://127.0.0.1:${this.port}/status`)).json()) as Record<string, unknown>;
  }

  /** SIGTERM; resolves with the exit code. */
  async stop(): Promise<number> {
    const p = this.proc;
    this.proc = null;
    if (!p) return 0;
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 30_000);
    const code = await p.exited;
    clearTimeout(t);
    return code;
  }

  kill(): void {
    this.proc?.kill("SIGKILL");
    this.proc = null;
  }

  /** Another subcommand (verify, dlq list, check) with the same config and environment. */
  run(args: string[], timeoutMs = 90_000) {
    return runBinary([...args, "--config", this.config], { cwd: this.dir, env: this.fullEnv(), timeoutMs });
  }
}

/** `cdc-engine generate ...` against a source URL; throws with its output unless it exits 0. */
export async function generate(url: string, args: string[], timeoutMs = 90_000): Promise<string> {
  const r = await runBinary(["generate", "--url", url, "--progress", "none", ...args], { timeoutMs });
  if (r.code !== 0) throw new Error(`generate ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `serve` with a config of its own (`yaml`, written into its dir as `<name>.yaml`) instead of an example. */
export class ConfigServe extends Serve {
  constructor(name: string, yaml: string, env: Record<string, string>) {
    super(name, env);
    writeFileSync(this.config, yaml);
  }

  override get config(): string {
    return join(this.dir, `${this.example}.yaml`);
  }
}

/**
 * A source and a warehouse database on the machine's PostgreSQL (`<prefix>_src`, `<prefix>_wh`),
 * a connection to each (`connection`: session settings for both), and the env a ConfigServe
 * reads their URLs from (SOURCE_URL, WAREHOUSE_URL).
 */
export async function sourceAndWarehouse(prefix: string, connection: Record<string, string> = {}): Promise<{ src: postgres.Sql; wh: postgres.Sql; env: { SOURCE_URL: string; WAREHOUSE_URL: string } }> {
  const pg = await sharedPg("system");
  const srcUrl = pg.url(await createDatabase(pg, `${prefix}_src`));
  const whUrl = pg.url(await createDatabase(pg, `${prefix}_wh`));
  return {
    src: postgres(srcUrl, { max: 2, onnotice: () => {}, connection }),
    wh: postgres(whUrl, { max: 1, onnotice: () => {}, connection }),
    env: { SOURCE_URL: srcUrl, WAREHOUSE_URL: whUrl },
  };
}

/**
 * examples/warehouse.yaml served (compiled binary) from an orders table the generator made
 * (`--init`, one row of `seed`, deleted again when `empty`) into a fresh warehouse database.
 */
export async function warehouseOnOrders(prefix: string, seed: number, empty: boolean): Promise<{ src: postgres.Sql; wh: postgres.Sql; srcUrl: string; serve: Serve }> {
  const { src, wh, env } = await sourceAndWarehouse(prefix, { TimeZone: "UTC" });
  await generate(env.SOURCE_URL, ["--dataset", "orders", "--init", "--count", "1", "--seed", String(seed)]);
  if (empty) await src.unsafe("delete from orders");
  // generate --init leaves orders at REPLICA IDENTITY FULL: updates carry the whole old row and the key is still order_id.
  const serve = new Serve("warehouse", env);
  await serve.start();
  return { src, wh, srcUrl: env.SOURCE_URL, serve };
}

export interface EngagementWorld {
  src: postgres.Sql;
  redis: Redis;
  bq: BigQueryServer;
  rx: HttpReceiver;
  /** Prefix of every Redis key the example writes. */
  prefix: string;
  /** What examples/engagement.yaml reads (SOURCE_URL, REDIS_URL, REDIS_PREFIX, BQ_*, WEBHOOK_URL). */
  env: Record<string, string>;
  /** Removes the Redis keys and stops the stand-ins. */
  close(): Promise<void>;
}

/**
 * What examples/engagement.yaml writes to: the seed's tables in a fresh source database `name`,
 * Redis (keys under a random prefix), the BigQuery REST stand-in with a service-account key, and a
 * webhook receiver.
 */
export async function engagementWorld(name: string): Promise<EngagementWorld> {
  const rurl = await requireRedis();
  const redis = new Redis(rurl);
  const pg = await sharedPg("system");
  const srcUrl = pg.url(await createDatabase(pg, name));
  const src = postgres(srcUrl, { max: 1, onnotice: () => {}, connection: { TimeZone: "UTC" } });
  await src.unsafe(await Bun.file(join(import.meta.dir, "../../sql/engagement.sql")).text());
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const bq = new BigQueryServer("demo-project", publicKey);
  const rx = new HttpReceiver();
  const prefix = `${name}_${Math.random().toString(36).slice(2, 8)}:`;
  const keyDir = mkdtempSync(join(tmpdir(), "cdc-e2e-bq-"));
  const keyPath = join(keyDir, "sa.json");
  writeFileSync(keyPath, JSON.stringify({ type: "service_account", project_id: "demo-project", client_email: "cdc@demo-project.iam.gserviceaccount.com", private_key: privateKey.export({ type: "pkcs8", format: "pem" }), private_key_id: "k1", token_uri: bq.tokenUri }));
  const env = { SOURCE_URL: srcUrl, REDIS_URL: rurl, REDIS_PREFIX: prefix, BQ_PROJECT: "demo-project", BQ_ENDPOINT: bq.endpoint, GOOGLE_APPLICATION_CREDENTIALS: keyPath, WEBHOOK_URL: rx.url };
  return {
    src,
    redis,
    bq,
    rx,
    prefix,
    env,
    async close() {
      await src.end();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      bq.stop();
      rx.stop();
      rmSync(keyDir, { recursive: true, force: true });
    },
  };
}
