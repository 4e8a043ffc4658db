/** Shared set-up for source tests: a database per test, a source config, a Txn collector. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import postgres from "postgres";
import { sourceSchema, type SourceConfig } from "../../src/config/schema.ts";
import { createPostgresSource } from "../../src/source/postgres/index.ts";
import type { Source } from "../../src/source/source.ts";
import type { Change, Lsn, Txn } from "../../src/types.ts";
import { createDatabase, sharedPg, type PgFlavor, type PgServer } from "../helpers/index.ts";

export interface TestDb {
  server: PgServer;
  url: string;
  sql: postgres.Sql;
  end(): Promise<void>;
}

export async function testDb(flavor: PgFlavor): Promise<TestDb> {
  const server = await sharedPg(flavor);
  const db = await createDatabase(server, "src");
  const url = server.url(db);
  const sql = postgres(url, { max: 3, onnotice: () => {}, types: { bigint: postgres.BigInt } });
  return { server, url, sql, end: () => sql.end({ timeout: 2 }) };
}

export function sourceConfig(url: string, over: Record<string, unknown> = {}): SourceConfig {
  const id = Math.random().toString(36).slice(2, 8);
  return sourceSchema.parse({ url, slot: `s_${id}`, publication: `p_${id}`, heartbeat_interval: "1s", ...over });
}

/** A logger that keeps warnings so tests can assert on them. */
export function memoryLog(): { log: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  return { log, lines };
}

export class Collector {
  txns: Txn[] = [];
  /** Set to delay each hand-over (a slow engine). */
  delayMs = 0;
  /** Called after each hand-over (e.g. to confirm like the runtime does). */
  after?: (t: Txn) => void;
  onTxn = async (t: Txn): Promise<void> => {
    this.txns.push(t);
    if (this.delayMs) await Bun.sleep(this.delayMs);
    this.after?.(t);
  };
  get changes(): Change[] {
    return this.txns.flatMap((t) => t.changes);
  }
  streamed(): Change[] {
    return this.txns.filter((t) => !t.snapshot).flatMap((t) => t.changes);
  }
  async waitFor(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
    const until = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what} (${this.txns.length} txns, ${this.changes.length} changes)`);
      await Bun.sleep(25);
    }
  }
}

export interface Running {
  source: Source;
  collector: Collector;
  stateDir: string;
}

export async function startSource(
  config: SourceConfig,
  tables: string[],
  o: { checkpointLsn?: Lsn | null; resnapshot?: boolean; stateDir?: string; collector?: Collector; log?: pino.Logger } = {},
): Promise<Running> {
  const stateDir = o.stateDir ?? mkdtempSync(join(tmpdir(), "cdc-src-"));
  const collector = o.collector ?? new Collector();
  const source = createPostgresSource(config, { stateDir, log: o.log ?? pino({ level: "silent" }) });
  await source.start({ tables, checkpointLsn: o.checkpointLsn ?? null, resnapshot: o.resnapshot ?? false, onTxn: collector.onTxn });
  return { source, collector, stateDir };
}

/**
 * A snapshot stopped like a crash: a checkpoint is cut and stored while the third chunk is being
 * taken (the first two are durable), then the source stops. Returns the first attempt's collector
 * and its state dir, for a second start to resume from.
 */
export async function snapshotCutAtThirdChunk(config: SourceConfig, tables: string[]): Promise<{ collector: Collector; stateDir: string }> {
  const collector = new Collector();
  const stateDir = mkdtempSync(join(tmpdir(), "cdc-src-"));
  const source = createPostgresSource(config, { stateDir, log: pino({ level: "silent" }) });
  collector.after = () => {
    if (collector.txns.length === 3) {
      source.checkpointCut?.()(); // stored at once
      void source.stop();
    }
  };
  await source.start({ tables, checkpointLsn: null, resnapshot: false, onTxn: collector.onTxn });
  const done = await source.done;
  if (done) throw done;
  return { collector, stateDir };
}
