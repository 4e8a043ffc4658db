import type { Pg } from "../../db/postgres-client.ts";
import type { OutputRecord, OutputTable } from "../sink.ts";
import { arrayLiteral, qi, qualified, toPgText } from "./values.ts";
import { copyData } from "./copy-text.ts";
import { isServerError } from "./errors.ts";
import { hasNullKey, nullKeyDelete } from "./null-key.ts";
import { oldRowStatement } from "./old-row.ts";

/** Column name → type as the sink table has it (format_type), per "schema.table". */
export type SinkTypes = (table: string) => Map<string, string> | undefined;

export interface Statement {
  text: string;
  params: (string | null)[];
  rows: number;
  /**
   * COPY these text-format lines into the staging table first (`copy.create` makes it), then run
   * `text`. `direct`: a run of source inserts, tried first as a COPY straight into the target
   * (copyDirect); the staging path only runs when the server refuses that.
   */
  copy?: { create: string; into: string; data: Buffer; direct?: string; table?: string };
  /** The record addressed by its old row that this statement applies: 0 rows affected = it found none. */
  oneRowOf?: OutputRecord;
}

/** Runs of at least this many upserts go through COPY into a staging table (bench/apply.ts: faster than unnest for big runs). */
export const COPY_MIN_ROWS = 1000;

/** Bind parameters per statement stay well under Postgres' limit of 65535. */
const MAX_PARAMS = 30_000;

interface Group {
  op: "upsert" | "delete" | "truncate";
  table: OutputTable;
  toast: string;
  records: OutputRecord[];
  /** Key → index in records; built only once a key fails to rise (see addKeyed). */
  byKey: Map<unknown, number> | null;
  /** The run's last key while every key so far rose (single primitive key columns only). */
  last: unknown;
  /** Every record of the run came from a source insert (a COPY straight into the table may do). */
  inserts: boolean;
  /** One record addressed by its old row (OutputRecord.byOldRow): a statement of its own. */
  byOldRow?: true;
}

/**
 * Turns a batch into few statements while keeping its meaning. Records are grouped into runs
 * of the same table, operation and unchanged-TOAST set; within a run a later record on the
 * same key replaces the earlier one (last write wins, as applying both would). Tables that
 * take part in no foreign key commute with every other table, so their records are gathered
 * per table (long runs); tables with foreign keys keep the batch's exact order among
 * themselves, so constraints hold after every statement.
 */
export function planBatch(records: OutputRecord[], fkTables: Set<string>, defaultSchema: string, types: SinkTypes = () => undefined, copyMinRows = COPY_MIN_ROWS): Statement[] {
  const free = new Map<string, OutputRecord[]>();
  const ordered: OutputRecord[] = [];
  // Consecutive records mostly share one OutputTable object: resolve its name once per change of table.
  let lastTable: OutputTable | null = null;
  let lastList: OutputRecord[] | null = null;
  for (const r of records) {
    if (r.table !== lastTable) {
      lastTable = r.table;
      const name = r.table.name.includes(".") ? r.table.name : `${defaultSchema}.${r.table.name}`;
      if (fkTables.has(name)) lastList = ordered;
      else {
        lastList = free.get(name) ?? null;
        if (!lastList) free.set(name, (lastList = []));
      }
    }
    lastList!.push(r);
  }
  const out: Statement[] = [];
  for (const seq of [...free.values(), ordered]) {
    for (const g of groupRuns(seq)) {
      if (g.byOldRow) {
        out.push(oldRowStatement(g.records[0], defaultSchema, types(g.table.name.includes(".") ? g.table.name : `${defaultSchema}.${g.table.name}`)));
        continue;
      }
      if (g.op === "delete" && g.records.some((r) => hasNullKey(r, g.table.key))) {
        const target = qualified(g.table.name, defaultSchema);
        for (const r of g.records) if (hasNullKey(r, g.table.key)) out.push(nullKeyDelete(target, g.table.key, r));
        g.records = g.records.filter((r) => !hasNullKey(r, g.table.key));
        if (!g.records.length) continue;
      }
      const t = types(g.table.name.includes(".") ? g.table.name : `${defaultSchema}.${g.table.name}`);
      const u =
        g.op === "upsert" && g.records.length >= copyMinRows && t
          ? copyStatement(g, defaultSchema, t)
          : g.op !== "truncate" && g.records.length > 1 && t
            ? unnestStatement(g, defaultSchema, t)
            : null;
      if (u) out.push(u);
      else out.push(...statements(g, defaultSchema));
    }
  }
  return out;
}

function keyOf(r: OutputRecord): unknown {
  const key = r.table.key;
  if (key.length === 1) {
    // One key column (the common case): a primitive is its own identity (a Map compares bigints
    // and strings by value), with no text made per record; the column's values all have one type.
    const v = r.row[key[0]];
    const t = typeof v;
    if (t === "bigint" || t === "string" || t === "number" || t === "boolean") return v;
    return toPgText(v) ?? NULL_KEY;
  }
  return key.map((k) => toPgText(r.row[k]) ?? NULL_KEY).join("\u0000");
}
const NULL_KEY = "\u0001null";

function groupRuns(seq: OutputRecord[]): Group[] {
  const groups: Group[] = [];
  let g: Group | null = null;
  for (const r of seq) {
    const toast = r.unchangedToast?.join(",") ?? "";
    if (r.op === "truncate") {
      // Consecutive truncates become one TRUNCATE a, b (as Postgres sent them).
      if (g && g.op === "truncate") g.records.push(r);
      else groups.push((g = { op: "truncate", table: r.table, toast: "", records: [r], byKey: null, last: NO_KEY, inserts: false }));
      continue;
    }
    if (r.byOldRow) {
      // Each addresses one row that earlier records of the run may have written: in order, alone.
      groups.push({ op: r.op, table: r.table, toast: "", records: [r], byKey: null, last: NO_KEY, inserts: false, byOldRow: true });
      g = null;
      continue;
    }
    if (!g || g.op !== r.op || (g.table !== r.table && !sameTable(g.table, r.table)) || g.toast !== toast) {
      groups.push((g = { op: r.op, table: r.table, toast, records: [], byKey: null, last: NO_KEY, inserts: true }));
    }
    if (g.inserts && r.source?.op !== "insert") g.inserts = false;
    if (r.table.key.length === 0) {
      g.records.push(r);
      continue;
    }
    addKeyed(g, r);
  }
  return groups;
}

const NO_KEY = Symbol("no key");

/**
 * Adds a keyed record to its run; a later record on a key already in the run replaces it (last
 * write wins). Keys that keep rising (a run of inserts on a sequence, a backlog in key order)
 * cannot repeat, so no map is kept for them: a strictly rising sequence under one total order
 * (numbers and bigints, or strings) has no two equal members; keyOf gives equal keys equal values,
 * composite keys included (one joined string). The map of key → index is built from the run so
 * far the first time a key does not rise.
 */
function addKeyed(g: Group, r: OutputRecord): void {
  const k = keyOf(r);
  if (g.byKey === null) {
    const last = g.last;
    if (last === NO_KEY ? rising(k) : rising(k) && typeof k === typeof last && (k as number) > (last as number)) {
      g.last = k;
      g.records.push(r);
      return;
    }
    g.byKey = new Map();
    for (let i = 0; i < g.records.length; i++) g.byKey.set(keyOf(g.records[i]), i);
  }
  const at = g.byKey.get(k);
  if (at === undefined) {
    g.byKey.set(k, g.records.length);
    g.records.push(r);
  } else g.records[at] = r; // same key again in this run: the later row wins
}

/** Keys the rising check compares with `>`: bigints, strings and numbers other than NaN. */
function rising(k: unknown): boolean {
  const t = typeof k;
  return t === "bigint" || t === "string" || (t === "number" && !Number.isNaN(k));
}

function statements(g: Group, schema: string): Statement[] {
  const t = g.table;
  const target = qualified(t.name, schema);
  if (g.op === "truncate") {
    const names = [...new Set(g.records.map((r) => qualified(r.table.name, schema)))];
    const o = g.records[0].truncate;
    return [{ text: `truncate ${names.join(", ")}${o?.restartIdentity ? " restart identity" : ""}${o?.cascade ? " cascade" : ""}`, params: [], rows: g.records.length }];
  }
  const out: Statement[] = [];
  if (g.op === "delete") {
    const key = t.key;
    const per = Math.max(1, Math.floor(MAX_PARAMS / key.length));
    for (let i = 0; i < g.records.length; i += per) {
      const chunk = g.records.slice(i, i + per);
      const params: (string | null)[] = [];
      const tuples = chunk.map((r) => {
        const ph = key.map((k) => {
          params.push(toPgText(r.row[k]));
          return `$${params.length}`;
        });
        return key.length === 1 ? ph[0] : `(${ph.join(", ")})`;
      });
      const lhs = key.length === 1 ? qi(key[0]) : `(${key.map(qi).join(", ")})`;
      out.push({ text: `delete from ${target} where ${lhs} in (${tuples.join(", ")})`, params, rows: chunk.length });
    }
    return out;
  }
  const skip = new Set(g.records[0].unchangedToast ?? []);
  const cols = t.columns.map((c) => c.name).filter((c) => !skip.has(c));
  const per = Math.max(1, Math.floor(MAX_PARAMS / Math.max(1, cols.length)));
  const colList = cols.map(qi).join(", ");
  let conflict = "";
  if (t.key.length) {
    const set = cols.filter((c) => !t.key.includes(c));
    conflict = ` on conflict (${t.key.map(qi).join(", ")}) do ` + (set.length ? `update set ${set.map((c) => `${qi(c)} = excluded.${qi(c)}`).join(", ")}` : "nothing");
  }
  for (let i = 0; i < g.records.length; i += per) {
    const chunk = g.records.slice(i, i + per);
    const params: (string | null)[] = [];
    const tuples = chunk.map((r) => {
      const ph = cols.map((c) => {
        params.push(toPgText(r.row[c]));
        return `$${params.length}`;
      });
      return `(${ph.join(", ")})`;
    });
    out.push({ text: `insert into ${target} (${colList}) values ${tuples.join(", ")}${conflict}`, params, rows: chunk.length });
  }
  return out;
}

function sameTable(a: OutputTable, b: OutputTable): boolean {
  return a.name === b.name && a.columns.length === b.columns.length && a.columns.every((c, i) => c.name === b.columns[i].name);
}

/**
 * One statement per run with one array parameter per column (`unnest($1::int8[], ...)`): the
 * text depends only on table, columns and operation, so it is prepared once and reused, and
 * the server parses one literal per column instead of thousands of parameters (bench/apply.ts).
 * Not for tables with array columns (unnest would flatten them): those use multi-row VALUES.
 */
function unnestStatement(g: Group, schema: string, types: Map<string, string>): Statement | null {
  const t = g.table;
  const target = qualified(t.name, schema);
  const cols = g.op === "delete" ? t.key : t.columns.map((c) => c.name).filter((c) => !(g.records[0].unchangedToast ?? []).includes(c));
  const colTypes: string[] = [];
  for (const c of cols) {
    const ty = types.get(c);
    if (!ty || ty.endsWith("]")) return null;
    colTypes.push(ty);
  }
  const params = cols.map((c) => arrayLiteral(g.records.map((r) => r.row[c] ?? null)));
  const arrays = colTypes.map((ty, i) => `$${i + 1}::${ty}[]`).join(", ");
  const alias = `u(${cols.map(qi).join(", ")})`;
  if (g.op === "delete") {
    const lhs = `(${cols.map(qi).join(", ")})`;
    return { text: `delete from ${target} where ${lhs} in (select ${cols.map((c) => `u.${qi(c)}`).join(", ")} from unnest(${arrays}) as ${alias})`, params, rows: g.records.length };
  }
  let conflict = "";
  if (t.key.length) {
    const set = cols.filter((c) => !t.key.includes(c));
    conflict = ` on conflict (${t.key.map(qi).join(", ")}) do ` + (set.length ? `update set ${set.map((c) => `${qi(c)} = excluded.${qi(c)}`).join(", ")}` : "nothing");
  }
  return { text: `insert into ${target} (${cols.map(qi).join(", ")}) select * from unnest(${arrays}) as ${alias}${conflict}`, params, rows: g.records.length };
}

/**
 * A big run of upserts: COPY (text format) into a temp staging table shaped like the written
 * columns (ON COMMIT DELETE ROWS, so it is empty for the next batch), then one
 * INSERT ... SELECT ... ON CONFLICT from it, in the batch's transaction.
 */
function copyStatement(g: Group, schema: string, types: Map<string, string>): Statement | null {
  const t = g.table;
  const skip = new Set(g.records[0].unchangedToast ?? []);
  const cols = t.columns.map((c) => c.name).filter((c) => !skip.has(c));
  if (cols.some((c) => !types.has(c))) return null;
  const target = qualified(t.name, schema);
  const stg = qi(`cdc_stage_${stageId(t.name + "\u0000" + cols.join("\u0000"))}`);
  const colList = cols.map(qi).join(", ");
  const data = copyData(g.records, cols);
  let conflict = "";
  if (t.key.length) {
    const set = cols.filter((c) => !t.key.includes(c));
    conflict = ` on conflict (${t.key.map(qi).join(", ")}) do ` + (set.length ? `update set ${set.map((c) => `${qi(c)} = excluded.${qi(c)}`).join(", ")}` : "nothing");
  }
  const inserts = skip.size === 0 && g.inserts && !directRefused(target);
  return {
    text: `insert into ${target} (${colList}) select ${colList} from pg_temp.${stg}${conflict}`,
    params: [],
    rows: g.records.length,
    copy: {
      create: `create temp table if not exists ${stg} on commit delete rows as select ${colList} from ${target} with no data`,
      into: `copy pg_temp.${stg} (${colList}) from stdin`,
      data,
      ...(inserts ? { direct: `copy ${target} (${colList}) from stdin`, table: target } : {}),
    },
  };
}

/**
 * COPY `data` (text format) with the statement `copyFrom` (`copy ... from stdin`); rejects with
 * the server's error when it refuses the data. postgres.js resolves the query with the stream at
 * CopyInResponse and, once the stream has ended, hands a later ErrorResponse only to the
 * query's (already settled) reject, never to the stream: waiting for "finish" alone then hangs
 * for good. So the query's reject is wrapped to fail this COPY too.
 */
export async function copyIn(tx: Pick<Pg, "unsafe">, copyFrom: string, data: Buffer): Promise<void> {
  const q = tx.unsafe(copyFrom) as unknown as { reject?: (e: unknown) => void; writable(): Promise<NodeJS.WritableStream> };
  let fail: ((e: unknown) => void) | null = null;
  const settled = q.reject;
  if (typeof settled === "function") {
    q.reject = (e: unknown) => {
      fail?.(e);
      settled(e);
    };
  }
  const w = await q.writable();
  await new Promise<void>((resolve, reject) => {
    fail = reject;
    w.on("error", reject);
    w.on("finish", resolve);
    w.end(data);
  });
}

/** Target → when the server last refused a direct COPY into it (a key already there). */
const refusedAt = new Map<string, number>();
/** After a refusal, the table takes the staging path for this long (a refused COPY is wasted work). */
const REFUSED_MS = 60_000;
export function directRefused(target: string): boolean {
  const at = refusedAt.get(target);
  return at !== undefined && Date.now() - at < REFUSED_MS;
}
export function markDirectRefused(target: string): void {
  refusedAt.set(target, Date.now());
}

/**
 * A run of source inserts (statement.copy.direct): COPY straight into the target under a
 * savepoint. The server's work for staging COPY + INSERT ... SELECT ... ON CONFLICT is about
 * three times a plain COPY (sink server log in bench/lib/apply-wal.ts), and a source insert
 * rarely finds its key in the sink. When it does (a table filled before, a second writer) or
 * the server refuses the COPY for another reason, it is rolled back to the savepoint and false
 * is returned: the caller then takes the staging path, which upserts (or reports the record
 * error as before).
 */
export async function copyDirect(tx: Pick<Pg, "unsafe">, copy: NonNullable<Statement["copy"]>): Promise<boolean> {
  if (!copy.direct) return false;
  await tx.unsafe("savepoint cdc_copy_direct");
  try {
    await copyIn(tx, copy.direct, copy.data);
  } catch (e) {
    // Any refusal by the server (a key already there, bad data, a target COPY cannot write such as
    // a view) falls back to the staging path, which then behaves exactly as before this path
    // existed; client-side errors (connection lost) are the caller's.
    if (!isServerError(e)) throw e;
    await tx.unsafe("rollback to savepoint cdc_copy_direct");
    await tx.unsafe("release savepoint cdc_copy_direct");
    markDirectRefused(copy.table ?? copy.direct);
    return false;
  }
  await tx.unsafe("release savepoint cdc_copy_direct");
  return true;
}

const stageIds = new Map<string, number>();
function stageId(sig: string): number {
  let id = stageIds.get(sig);
  if (id === undefined) stageIds.set(sig, (id = stageIds.size + 1));
  return id;
}
