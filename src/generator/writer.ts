import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Pg } from "../db/postgres-client.ts";
import type { Batch, InsertOp, Op } from "./dataset.ts";

export type InsertMethod = "auto" | "insert" | "copy";

/**
 * COPY wins from about 1,000 rows per statement (bench/generate.ts measured 82k vs 63k rows/s at
 * 1,000 and 120k vs 67k at 5,000); below that a multi-row INSERT is as fast and simpler. COPY
 * cannot return BIGSERIAL ids nor skip conflicts, so those ops always use INSERT.
 */
const COPY_FROM_ROWS = 1000;
/** Postgres allows 65,535 bind parameters per statement. */
const MAX_PARAMS = 60_000;

/** Apply one batch in one transaction. Returns the `returning` values per insert op index. */
export async function writeBatch(sql: Pg, batch: Batch, method: InsertMethod): Promise<Map<number, unknown[]>> {
  const returned = new Map<number, unknown[]>();
  await sql.begin(async (tx) => {
    for (let i = 0; i < batch.ops.length; i++) {
      const op = batch.ops[i];
      if (op.kind !== "insert" || op.rows.length === 0) continue;
      const ids = await insert(tx as unknown as Pg, op, method);
      if (ids) returned.set(i, ids);
    }
    await changeRows(tx as unknown as Pg, batch.ops.filter((op): op is Exclude<Op, InsertOp> => op.kind !== "insert"));
  });
  return returned;
}

async function insert(tx: Pg, op: InsertOp, method: InsertMethod): Promise<unknown[] | null> {
  const useCopy = !op.returning && !op.ignoreConflicts && (method === "copy" || (method === "auto" && op.rows.length >= COPY_FROM_ROWS));
  if (useCopy) {
    await copyRows(tx, op);
    return null;
  }
  const per = Math.max(1, Math.floor(MAX_PARAMS / op.columns.length));
  const ids: unknown[] = [];
  for (let i = 0; i < op.rows.length; i += per) {
    const chunk = op.rows.slice(i, i + per);
    const conflict = op.ignoreConflicts ? tx`on conflict do nothing` : tx``;
    if (op.returning) {
      const res = await tx`insert into ${tx(op.table)} ${tx(chunk, op.columns)} ${conflict} returning ${tx(op.returning)}`;
      for (const r of res) ids.push(r[op.returning]);
    } else {
      await tx`insert into ${tx(op.table)} ${tx(chunk, op.columns)} ${conflict}`;
    }
  }
  return op.returning ? ids : null;
}

/** COPY text format: tab-separated, \N for NULL, backslash escapes. */
function copyValue(v: unknown): string {
  if (v === null || v === undefined) return "\\N";
  const s = typeof v === "string" ? v : typeof v === "object" && !(v instanceof Date) ? JSON.stringify(v) : String(v);
  return s.replace(/[\\\n\r\t]/g, (c) => (c === "\\" ? "\\\\" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\t"));
}

async function copyRows(tx: Pg, op: InsertOp): Promise<void> {
  const cols = op.columns.map((c) => `"${c}"`).join(", ");
  const stream = await tx.unsafe(`copy "${op.table}" (${cols}) from stdin`).writable();
  const lines: string[] = new Array(op.rows.length);
  for (let i = 0; i < op.rows.length; i++) {
    const r = op.rows[i];
    lines[i] = op.columns.map((c) => copyValue(r[c])).join("\t");
  }
  await pipeline(Readable.from([lines.join("\n") + "\n"]), stream);
}

/**
 * Updates and deletes, one statement per row, pipelined inside the transaction, in key order
 * (then table): concurrent writers then lock existing rows in the same order and cannot deadlock.
 * The sort is stable, so two changes of one row keep their order.
 */
async function changeRows(tx: Pg, ops: Exclude<Op, InsertOp>[]): Promise<void> {
  const changes: { text: string; params: unknown[]; sortKey: string }[] = [];
  for (const op of ops) {
    if (op.rows.length === 0) continue;
    const where = op.key.map((k, i) => `"${k}" = $${i + 1 + (op.kind === "update" ? op.set.length : 0)}`).join(" and ");
    const text =
      op.kind === "update"
        ? `update "${op.table}" set ${op.set.map((c, i) => `"${c}" = $${i + 1}`).join(", ")} where ${where}`
        : `delete from "${op.table}" where ${where}`;
    const cols = op.kind === "update" ? [...op.set, ...op.key] : op.key;
    for (const r of op.rows) changes.push({ text, params: cols.map((c) => r[c]), sortKey: `${op.key.map((k) => String(r[k])).join("\u0000")}\u0001${op.table}` });
  }
  changes.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  await Promise.all(changes.map((c) => tx.unsafe(c.text, c.params as never[])));
}
