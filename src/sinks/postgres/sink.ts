import type { Logger } from "pino";
import type { Health, OutputBatch, OutputTable, Sink, SinkContext } from "../sink.ts";
import type { Lsn } from "../../types.ts";
import type { PostgresSinkConfig } from "./config.ts";
import { redactUrl, type Pg } from "../../db/postgres-client.ts";
import { openSinkPg } from "./connect.ts";
import { CdcError } from "../../errors.ts";
import { ensureOffsets, ensureTable, foreignKeyTables, OFFSETS_TABLE } from "./ddl.ts";
import { planBatch } from "./plan.ts";
import { qi } from "./values.ts";

/**
 * The Postgres sink: each batch and the pipeline's position go in one transaction (rows +
 * `cdc_engine_offsets`), so a replay after a crash skips exactly what is already there.
 * Tables are created or widened from the output table before the batch transaction.
 */
export class PostgresSink implements Sink {
  private sql!: Pg;
  private name = "postgres";
  private log!: Logger;
  private positions = new Map<string, Lsn>();
  private ready = new WeakMap<OutputTable, true>();
  private readyNames = new Set<string>();
  private fkTables = new Set<string>();
  /** "schema.table" → column types as the sink has them. */
  private types = new Map<string, Map<string, string>>();
  private ddl: Promise<unknown> = Promise.resolve();

  constructor(private config: PostgresSinkConfig) {}

  async open(ctx: SinkContext): Promise<void> {
    this.name = ctx.name;
    this.log = ctx.log;
    this.sql = openSinkPg(this.config);
    try {
      await ensureOffsets(this.sql, this.config.schema);
      const rows = await this.sql.unsafe(`select pipeline, lsn::text as lsn from ${qi(this.config.schema)}.${OFFSETS_TABLE} where sink = $1`, [this.name]);
      for (const r of rows) this.positions.set(r.pipeline as string, BigInt(r.lsn as string));
      this.fkTables = await foreignKeyTables(this.sql);
    } catch (e) {
      await this.sql.end({ timeout: 1 }).catch(() => {});
      throw new CdcError("sink_open", `cannot open ${redactUrl(this.config.url)}: ${(e as Error).message}`, { cause: e, component: `sink:${this.name}` });
    }
  }

  position(pipeline: string): Lsn | null {
    return this.positions.get(pipeline) ?? null;
  }

  async write(batch: OutputBatch): Promise<void> {
    await this.prepareTables(batch);
    const stmts = planBatch(batch.records, this.fkTables, this.config.schema, (t) => this.types.get(t));
    await this.sql.begin(async (tx) => {
      for (const s of stmts) {
        if (s.copy) {
          await tx.unsafe(s.copy.create);
          const w = await tx.unsafe(s.copy.into).writable();
          await new Promise<void>((resolve, reject) => {
            w.on("error", reject);
            w.on("finish", resolve);
            w.end(s.copy!.data);
          });
        }
        await tx.unsafe(s.text, s.params as never[], { prepare: s.text.includes("unnest(") });
      }
      await tx.unsafe(
        `insert into ${qi(this.config.schema)}.${OFFSETS_TABLE} (pipeline, sink, lsn, updated_at) values ($1, $2, $3, now())
         on conflict (pipeline, sink) do update set lsn = excluded.lsn, updated_at = excluded.updated_at`,
        [batch.pipeline, this.name, batch.lsn.toString()],
      );
    });
    this.positions.set(batch.pipeline, batch.lsn);
  }

  /** Create or widen every table the batch writes to (outside the data transaction; idempotent). */
  private async prepareTables(batch: OutputBatch): Promise<void> {
    const todo: OutputTable[] = [];
    for (const r of batch.records) {
      if (this.ready.has(r.table)) continue;
      const sig = r.table.name + "\u0000" + r.table.columns.map((c) => c.name).join("\u0000");
      if (this.readyNames.has(sig)) {
        this.ready.set(r.table, true);
        continue;
      }
      todo.push(r.table);
      this.ready.set(r.table, true);
    }
    if (!todo.length) return;
    const job = this.ddl.then(async () => {
      try {
        for (const t of todo) {
          const info = await ensureTable(this.sql, t, this.config.schema);
          this.types.set(t.name.includes(".") ? t.name : `${this.config.schema}.${t.name}`, info.columns);
          this.readyNames.add(t.name + "\u0000" + t.columns.map((c) => c.name).join("\u0000"));
        }
        this.fkTables = await foreignKeyTables(this.sql);
      } catch (e) {
        for (const t of todo) this.ready.delete(t);
        throw e;
      }
    });
    this.ddl = job.catch(() => {});
    await job;
  }

  async health(): Promise<Health> {
    try {
      await Promise.race([this.sql`select 1`, Bun.sleep(1500).then(() => Promise.reject(new Error("no answer within 1.5 s")))]);
      return { status: "up", details: { positions: Object.fromEntries([...this.positions].map(([p, l]) => [p, l.toString()])) } };
    } catch (e) {
      return { status: "down", reason: (e as Error).message };
    }
  }

  async close(): Promise<void> {
    await this.sql?.end({ timeout: 5 }).catch(() => {});
  }
}
