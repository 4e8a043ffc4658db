import { ExponentialBackoff, handleWhen, retry, type RetryPolicy } from "cockatiel";
import type { Health, OutputBatch, OutputRecord, OutputTable, Sink, SinkContext } from "../sink.ts";
import type { Column, Lsn } from "../../types.ts";
import { CdcError } from "../../errors.ts";
import { sinkRetries, sinkUp } from "../../metrics/metrics.ts";
import { unseenRecords } from "../position-fence.ts";
import { sinkDeadLetter } from "../../dlq/sink-dead-letter.ts";
import { ValueError } from "../mysql/types.ts";
import { bigqueryTableName } from "./names.ts";
import { LocalPositions } from "../http/local-positions.ts";
import { bigqueryTargetSchema, type BigquerySinkConfig, type BigqueryTarget } from "./config.ts";
import { tokenSource } from "./auth.ts";
import { BigQueryRest, BqError, type TableResource } from "./rest.ts";
import { bqRow, bqType, tableFields } from "./schema.ts";
import { recordId } from "../record-identity.ts";
import { TableOwners } from "../table-owners.ts";

/** Row-level insertErrors reasons that say "try again" (Google: retry with the same insertId), not "bad row". */
const TRANSIENT_ROW_REASONS = new Set(["backendError", "timeout", "internalError", "rateLimitExceeded"]);

/** BigQuery's insertAll request limit is 10 MB; leave room for the envelope. */
const MAX_REQUEST_BYTES = 9 * 1024 * 1024;

interface TableState {
  dataset: string;
  table: string;
  /** Column name → BigQuery type, as the table has them. */
  types: Map<string, string>;
  /** Columns whose type differs from the output's, already logged. */
  warned: Set<string>;
}

/** The output columns of a table's records: a batch may hold older and newer shapes (a column added). */
function outputColumns(recs: OutputRecord[]): Column[] {
  const byName = new Map<string, Column>();
  for (const t of new Set(recs.map((r) => r.table))) for (const c of t.columns) if (!byName.has(c.name)) byName.set(c.name, c);
  return [...byName.values()];
}

/** BigQuery answered 400 to making or widening a table: the same request fails every time. */
class TableRefused extends Error {}

function refused(e: unknown, what: string): unknown {
  return e instanceof BqError && e.status === 400 ? new TableRefused(`${what}: ${e.message}`) : e;
}

const TRUNCATE_REASON = "truncate is not applied to BigQuery (insertAll only appends): the rows before it stay in the table";

/**
 * BigQuery sink over the REST API (streaming insertAll). Replays are harmless twice over:
 * the position in state.dir skips whole batches already delivered, and every row carries a
 * deterministic insertId (pipeline:lsn:index; a snapshot row's by content, record-identity.ts) that BigQuery uses to drop a re-sent row
 * (best effort, for at least a minute, per Google's documentation). Tables are created with
 * the target's partitioning and clustering; new output columns are added with tables.patch.
 */
export class BigquerySink implements Sink {
  private ctx!: SinkContext;
  private rest!: BigQueryRest;
  private positions!: LocalPositions;
  private readonly targets = new Map<string, BigqueryTarget>();
  private readonly tables = new Map<string, TableState>();
  private readonly datasets = new Set<string>();
  private readonly owners = new TableOwners();
  private readonly abort = new AbortController();
  private readonly retry: RetryPolicy;
  private state: Health = { status: "up" };

  constructor(private readonly config: BigquerySinkConfig) {
    this.retry = retry(handleWhen((e) => e instanceof BqError && e.retryable), {
      maxAttempts: Number.MAX_SAFE_INTEGER,
      backoff: new ExponentialBackoff({ initialDelay: 250, maxDelay: config.max_backoff }),
    });
    this.retry.onRetry((r) => {
      const reason = "error" in r ? (r.error as Error).message : "retry";
      sinkRetries.inc({ sink: this.ctx.name });
      sinkUp.set({ sink: this.ctx.name }, 0);
      this.state = { status: "down", reason };
      this.ctx.log.warn({ reason, delay_ms: Math.round(r.delay) }, "bigquery request failed, retrying");
    });
  }

  async open(ctx: SinkContext): Promise<void> {
    this.ctx = ctx;
    for (const t of ctx.targets) {
      const { table: _t, key: _k, sink: _s, ...opts } = t.options;
      const parsed = bigqueryTargetSchema.safeParse(opts);
      if (!parsed.success) {
        const i = parsed.error.issues[0];
        throw new CdcError("sink_config", `pipeline ${t.pipeline}: to.${i.path.join(".")}: ${i.message}`, { component: `sink:${ctx.name}`, kind: "usage" });
      }
      if (!parsed.data.dataset && !this.config.dataset) throw new CdcError("sink_config", `pipeline ${t.pipeline}: no dataset (set dataset: on the sink or in to:)`, { component: `sink:${ctx.name}`, kind: "usage" });
      this.targets.set(t.pipeline, parsed.data);
    }
    const tokens = tokenSource(this.config);
    const project = this.config.project ?? tokens.projectId;
    if (!project) throw new CdcError("sink_config", "no project: set project: (the key file has no project_id)", { component: `sink:${ctx.name}`, kind: "usage" });
    this.rest = new BigQueryRest(this.config.api_endpoint, project, tokens, this.config.timeout);
    this.positions = new LocalPositions(ctx.stateDir, ctx.name);
    try {
      // Fails fast on bad credentials or a missing project, so `serve` stops with a clear line;
      // a 5xx/429 at that moment is BigQuery's blip, not a config error: retried a few times first.
      const first = retry(handleWhen((e) => e instanceof BqError && e.retryable), { maxAttempts: 6, backoff: new ExponentialBackoff({ initialDelay: 250, maxDelay: Math.min(this.config.max_backoff, 5_000) }) });
      first.onRetry((r) => ctx.log.warn({ reason: "error" in r ? (r.error as Error).message : "retry", delay_ms: Math.round(r.delay) }, "bigquery not answering at open, retrying"));
      for (const t of this.targets.values()) await first.execute(() => this.ensureDataset(t.dataset ?? this.config.dataset!), this.abort.signal);
    } catch (e) {
      throw new CdcError("sink_connect", (e as Error).message, { component: `sink:${ctx.name}`, cause: e });
    }
    sinkUp.set({ sink: ctx.name }, 1);
  }

  position(pipeline: string): Lsn | null {
    return this.positions.get(pipeline);
  }

  async write(batch: OutputBatch): Promise<void> {
    const unseen = unseenRecords(batch, this.positions.get(batch.pipeline));
    if (!unseen) return;
    const target = this.targets.get(batch.pipeline) ?? {};
    // insertAll appends: every upsert/delete becomes a row (with _cdc_op when metadata columns are on).
    // A truncate has no row to append and removes nothing from an append-only table: it goes to
    // the DLQ (as Redis does), so it is seen and counted instead of silently dropped.
    const records: OutputRecord[] = [];
    for (const r of unseen.records) {
      if (r.op === "truncate") sinkDeadLetter(this.ctx, batch.pipeline, r, TRUNCATE_REASON);
      else records.push(r);
    }
    const byTable = new Map<OutputTable["name"], OutputRecord[]>();
    for (const r of records) {
      const list = byTable.get(r.table.name);
      if (list) list.push(r);
      else byTable.set(r.table.name, [r]);
    }
    for (const [name, recs] of byTable) {
      const clash = this.clash(target, name);
      if (clash) {
        for (const r of recs) sinkDeadLetter(this.ctx, batch.pipeline, r, clash);
        continue;
      }
      const dead = await this.retry.execute(() => this.insert(batch.pipeline, target, recs, batch.snapshot === true), this.abort.signal).catch((e) => {
        // BigQuery will not make the table (a column name it refuses, a partition field it lacks):
        // every retry gets the same 400, so those records are dead letters, not a reason to stop.
        if (e instanceof TableRefused) return recs.map((r): [OutputRecord, string] => [r, e.message]);
        throw e;
      });
      for (const [r, reason] of dead) sinkDeadLetter(this.ctx, batch.pipeline, r, reason);
    }
    if (this.state.status !== "up") this.ctx.log.info("bigquery reachable again");
    this.state = { status: "up" };
    sinkUp.set({ sink: this.ctx.name }, 1);
    if (unseen.store) this.positions.set(batch.pipeline, batch.lsn);
  }

  /** One attempt at a table's records; returns the rows BigQuery (or the conversion) refused. */
  private async insert(pipeline: string, target: BigqueryTarget, recs: OutputRecord[], snapshot: boolean): Promise<[OutputRecord, string][]> {
    const t = await this.ensureTable(target, recs);
    const dead: [OutputRecord, string][] = [];
    let chunk: OutputRecord[] = [];
    let rows: string[] = [];
    let bytes = 0;
    const flush = async () => {
      if (!rows.length) return;
      const body = `{"kind":"bigquery#tableDataInsertAllRequest","skipInvalidRows":true,"ignoreUnknownValues":false,"rows":[${rows.join(",")}]}`;
      const res = await this.rest.insertAll(t.dataset, t.table, body);
      let transient: string | null = null;
      for (const e of res.insertErrors ?? []) {
        const r = chunk[e.index];
        // "stopped" rows were not inserted only because others failed; with skipInvalidRows they do not occur.
        if (!r || e.errors.every((x) => x.reason === "stopped")) continue;
        const reason = e.errors.map((x) => `${x.reason ?? "invalid"}${x.location ? ` (${x.location})` : ""}: ${x.message ?? ""}`).join("; ");
        // A row refused for BigQuery's own trouble (backendError, timeout) is not the row's fault.
        if (e.errors.some((x) => x.reason !== undefined && TRANSIENT_ROW_REASONS.has(x.reason))) transient ??= reason;
        else dead.push([r, reason]);
      }
      // Retried like a 5xx: the table's records are sent again with the same insertIds, so rows
      // BigQuery already took are dropped as duplicates and only the refused ones are added.
      if (transient !== null) throw new BqError(`insertAll ${t.dataset}.${t.table}: rows refused for a transient reason: ${transient}`, null, "backendError", true);
      chunk = [];
      rows = [];
      bytes = 0;
    };
    for (const r of recs) {
      let text: string;
      try {
        const json = bqRow(r, t.types, target, this.config.metadata_columns);
        text = `{"insertId":${JSON.stringify(`${pipeline}:${recordId(r, snapshot)}`)},"json":${JSON.stringify(json)}}`;
      } catch (e) {
        if (!(e instanceof ValueError)) throw e;
        dead.push([r, e.message]);
        continue;
      }
      const size = Buffer.byteLength(text);
      if (size > MAX_REQUEST_BYTES) {
        dead.push([r, `row is ${size} bytes; an insertAll request holds at most ${MAX_REQUEST_BYTES}`]);
        continue;
      }
      if (rows.length >= this.config.rows_per_request || bytes + size > MAX_REQUEST_BYTES) await flush();
      rows.push(text);
      chunk.push(r);
      bytes += size + 1;
    }
    await flush();
    return dead;
  }

  private async ensureDataset(dataset: string): Promise<void> {
    if (this.datasets.has(dataset)) return;
    if (!(await this.rest.getDataset(dataset))) {
      this.ctx.log.info({ dataset }, "creating dataset");
      await this.rest.insertDataset(dataset, this.config.location).catch((e) => {
        if (!(e instanceof BqError && e.status === 409)) throw e; // created meanwhile
      });
    }
    this.datasets.add(dataset);
  }

  /** Why an output table's rows cannot go to its BigQuery table (another output table's rows are there: TableOwners), or null. */
  private clash(target: BigqueryTarget, name: string): string | null {
    const id = `${target.dataset ?? this.config.dataset!}.${bigqueryTableName(name)}`;
    const owner = this.owners.claim(id, name);
    if (owner === null) return null;
    return `${name} and ${owner} both map to BigQuery table ${id}, which holds the rows of ${owner}: send ${name} through a pipeline of its own with another to.table`;
  }

  private async ensureTable(target: BigqueryTarget, recs: OutputRecord[]): Promise<TableState> {
    const columns = outputColumns(recs);
    const rows = recs.map((r) => r.row); // deletes too: their before-images are sent as rows
    const dataset = target.dataset ?? this.config.dataset!;
    const table = bigqueryTableName(recs[0].table.name); // "public.x" → "x", "sales.x" → "sales_x", "a.b.c" → "a_b_c"
    const id = `${dataset}.${table}`;
    let state = this.tables.get(id);
    if (!state) {
      await this.ensureDataset(dataset);
      let res = await this.rest.getTable(dataset, table);
      if (!res) {
        const resource: TableResource = {
          tableReference: { projectId: this.rest.project, datasetId: dataset, tableId: table },
          schema: { fields: tableFields(columns, rows, target, this.config.metadata_columns) },
        };
        const p = target.partition;
        if (p && "range" in p) resource.rangePartitioning = { field: p.range.field, range: { start: String(p.range.start), end: String(p.range.end), interval: String(p.range.interval) } };
        else if (p) resource.timePartitioning = { type: p.type, field: p.field, ...(p.expiration ? { expirationMs: String(p.expiration) } : {}) };
        if (target.cluster_by) resource.clustering = { fields: target.cluster_by };
        this.ctx.log.info({ table: id }, "creating table");
        res = await this.rest.insertTable(resource).catch(async (e) => {
          if (e instanceof BqError && e.status === 409) return this.rest.getTable(dataset, table);
          throw refused(e, `BigQuery refused to create table ${id}`);
        });
      }
      state = { dataset, table, types: new Map((res?.schema.fields ?? []).map((f) => [f.name, f.type])), warned: new Set() };
      this.tables.set(id, state);
    }
    // Columns the table lacks (a new output column; one of unknown type once it has a value).
    const added = tableFields(columns.filter((c) => !state.types.has(c.name)), rows, {}, false);
    if (added.length) {
      const current = (await this.rest.getTable(dataset, table))?.schema.fields ?? [];
      this.ctx.log.info({ table: id, columns: added.map((f) => f.name) }, "adding columns");
      const res = await this.rest.patchTable(dataset, table, [...current, ...added.filter((f) => !current.some((c) => c.name === f.name))]).catch((e) => {
        throw refused(e, `BigQuery refused to add column(s) ${added.map((f) => f.name).join(", ")} to table ${id}`);
      });
      state.types = new Map((res?.schema.fields ?? [...current, ...added]).map((f) => [f.name, f.type]));
    }
    // BigQuery cannot change a column's type: the table's type stays, values are sent as it takes them.
    for (const c of columns) {
      const have = state.types.get(c.name);
      if (!have || state.warned.has(c.name)) continue;
      const want = bqType(c, rows.map((r) => r[c.name]));
      if (!want || have === want) continue;
      state.warned.add(c.name);
      this.ctx.log.warn({ table: id, column: c.name, table_type: have, output_type: want }, "column type differs from the output's: kept; values it refuses go to the DLQ");
    }
    return state;
  }

  async health(): Promise<Health> {
    return this.state.status === "up" ? { status: "up", details: { project: this.rest?.project } } : this.state;
  }

  async close(): Promise<void> {
    this.abort.abort();
  }
}
