/**
 * Initial snapshot: reads every captured table in key order, in chunks of `chunkSize`, inside
 * one REPEATABLE READ transaction that imports the snapshot exported when the slot was created
 * (so the rows are exactly the state at the slot's consistent point). Each chunk is handed to
 * the engine as a Txn with `snapshot: true`, op "read", lsn = consistent point - 1. After each
 * chunk the engine took, its progress goes to `handed`; the source saves it only once the engine
 * says that chunk is durable (PostgresSource.checkpointCut/confirm): the engine takes a chunk into
 * its sink queues, so saving at hand-over lost the queued rows on a kill -9 (the resumed
 * snapshot started after them). A resumed snapshot (the exported one is gone) reads on after the
 * last saved key in a temporary slot's snapshot, and the stream drops what that read holds
 * (resumed-reads.ts).
 */
import cliProgress from "cli-progress";
import type { Logger } from "pino";
import type { Pg } from "../../db/postgres-client.ts";
import { asOutputText } from "./output-text.ts";
import type { Change, Lsn, Relation, Row, Txn } from "../../types.ts";
import { orderKey, quoteIdent, quoteTable } from "./catalog.ts";
import { keyOf, newRow } from "./pgoutput.ts";
import type { SnapshotState, TableProgress } from "./snapshot-state.ts";
import { keysAbove } from "./resumed-reads.ts";
import type { TypeDecoders } from "./type-decoders.ts";

export interface SnapshotArgs {
  sql: Pg;
  /** Exported snapshot name, or null on a resumed snapshot. */
  snapshotName: string | null;
  slot: string;
  tables: string[];
  relations: Map<string, Relation>;
  chunkSize: number;
  lsn: Lsn;
  state: SnapshotState;
  types: TypeDecoders;
  log: Logger;
  onTxn(txn: Txn): Promise<void>;
  /** A copy of a table's progress once the engine has taken its chunk (saved when durable). */
  handed(p: TableProgress): void;
  /** Live progress for stats(). */
  progress: Map<string, TableProgress>;
  stopped(): boolean;
  /** The snapshot's name for record identities (Txn.snapshotOf), when it is the slot's initial one. */
  generation?: Lsn;
  /** What the log calls this read ("snapshot", or "backfill" for new pipelines). */
  label?: string;
}

export async function runSnapshot(a: SnapshotArgs): Promise<boolean> {
  const saved = a.state.progress(a.slot);
  for (const t of a.tables) a.progress.set(t, saved.get(t) ?? { table: t, lastKey: null, rowsDone: 0, rowsTotal: 0, done: false });
  const todo = a.tables.filter((t) => !a.progress.get(t)!.done);
  if (!todo.length) return true;
  const resumed = todo.some((t) => a.progress.get(t)!.lastKey !== null);
  a.log.info({ tables: todo, resumed }, `${a.label ?? "snapshot"} of ${todo.length} table(s)${resumed ? ` (resuming after the last saved key${a.snapshotName ? "" : ", fresh read"})` : ""}`);
  const bar = process.stderr.isTTY
    ? new cliProgress.MultiBar({ format: " {table} [{bar}] {value}/{total} rows", stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  let complete = true;
  try {
    await a.sql.begin("isolation level repeatable read read only", async (tx) => {
      if (a.snapshotName) await tx.unsafe(`set transaction snapshot '${a.snapshotName.replace(/'/g, "''")}'`);
      for (const table of todo) {
        if (a.stopped()) {
          complete = false;
          return;
        }
        const rel = a.relations.get(table)!;
        const p = a.progress.get(table)!;
        const [{ n }] = await tx.unsafe(`select count(*)::int8 as n from ${quoteTable(table)}`);
        p.rowsTotal = Math.max(Number(n) + (p.lastKey ? p.rowsDone : 0), p.rowsDone);
        const b = bar?.create(p.rowsTotal, p.rowsDone, { table });
        if (!(await copyTable(tx as unknown as Pg, a, rel, p, (done) => b?.update(done)))) {
          complete = false;
          return;
        }
        b?.update(p.rowsTotal);
      }
    });
  } finally {
    bar?.stop();
  }
  return complete;
}

async function copyTable(tx: Pg, a: SnapshotArgs, rel: Relation, p: TableProgress, tick: (n: number) => void): Promise<boolean> {
  const keyCols = await orderKey(tx, rel.table);
  const keyTypes = keyCols.map((k) => rel.columns.find((c) => c.name === k)?.typeName ?? "text");
  // No usable key (REPLICA IDENTITY FULL without pk): physical order by ctid.
  // Qualified: a bare name in ORDER BY would pick the ::text output column of the same name.
  const order = keyCols.length ? keyCols.map((k) => `src.${quoteIdent(k)}`) : ["src.ctid"];
  const select = rel.columns.map((c) => asOutputText(quoteIdent(c.name), c.typeOid, a.types));
  const keySelect = keyCols.length ? keyCols.map((k) => `${quoteIdent(k)}::text`) : ["ctid::text"];
  // The last key's text goes as given (postgres-client.ts TEXT_PARAMS), whatever its type.
  const after = keyCols.length
    ? `(${order.join(", ")}) > (${keyTypes.map((t, i) => `$${i + 1}::${t}`).join(", ")})`
    : `src.ctid > $1::tid`;
  const base = `select ${[...select, ...keySelect].join(", ")} from ${quoteTable(rel.table)} as src`;
  const decoders = rel.columns.map((c) => a.types.decoder(c.typeOid));
  // The slot's own snapshot (not a backfill's) notes the greatest key it hands over, before the
  // chunk goes: a crash leaves the sinks holding rows past the saved progress, and a resumed read
  // must not drop the stream's changes to them (resumed-reads.ts: a row deleted meanwhile stayed).
  // A resumed read starts below the noted key: it is kept until a chunk passes it.
  const track = a.label === undefined && keyCols.length > 0;
  let noted = track ? a.state.handedKey(a.slot, rel.table) : null;
  const above = noted ? keysAbove(tx, keyTypes) : null;
  for (;;) {
    if (a.stopped()) return false;
    const q = p.lastKey ? `${base} where ${after} order by ${order.join(", ")} limit ${a.chunkSize}` : `${base} order by ${order.join(", ")} limit ${a.chunkSize}`;
    const rows = (await tx.unsafe(q, p.lastKey ?? []).values()) as unknown as (string | null)[][];
    if (!rows.length) break;
    const changes: Change[] = new Array(rows.length);
    for (let r = 0; r < rows.length; r++) {
      const v = rows[r];
      const row: Row = newRow(rel); // no prototype for a table with a __proto__ column (pgoutput.ts)
      for (let c = 0; c < decoders.length; c++) row[rel.columns[c].name] = v[c] === null ? null : decoders[c](v[c] as string);
      changes[r] = { op: "read", table: rel.table, relation: rel, key: keyOf(rel, row), before: null, after: row };
    }
    const last = rows[rows.length - 1];
    if (track) {
      const key = last.slice(rel.columns.length) as string[];
      if (noted === null || (await above!([key], noted))[0]) {
        a.state.setHandedKey(a.slot, rel.table, key);
        noted = null; // passed: every later key is greater
      }
    }
    await a.onTxn({ lsn: a.lsn, endLsn: a.lsn, xid: 0, commitTime: BigInt(Date.now()) * 1000n, changes, snapshot: true, ...(a.generation !== undefined ? { snapshotOf: a.generation } : {}) });
    p.lastKey = last.slice(rel.columns.length) as string[];
    p.rowsDone += rows.length;
    a.handed({ ...p });
    tick(p.rowsDone);
    if (rows.length < a.chunkSize) break;
  }
  p.done = true;
  p.rowsTotal = p.rowsDone;
  a.handed({ ...p });
  a.log.info({ table: rel.table, rows: p.rowsDone }, `${a.label ?? "snapshot"} of ${rel.table} done`);
  return true;
}
