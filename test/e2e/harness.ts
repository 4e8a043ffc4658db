/**
 * Runs an example config (examples/X.yaml) with the compiled binary, as a user would:
 * URLs and names come from the environment variables the example documents.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { binaryPath, createDatabase, freePort, runBinary, sharedPg } from "../helpers/index.ts";
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
