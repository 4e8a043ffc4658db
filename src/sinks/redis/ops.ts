import type { OutputRecord } from "../sink.ts";
import type { RedisTarget } from "./config.ts";
import { toJsonText } from "../json.ts";

/** One Redis command, as the fenced Lua script applies it. */
export interface Op {
  cmd: string;
  args: (string | Buffer)[];
  /** The record it came from (a failed command sends that record to the DLQ). */
  record: OutputRecord;
}

export class RecordError extends Error {}

/** A row value as Redis text: bigint and decimal strings exact, JSON for objects, bytes as they are. */
export function redisValue(v: unknown): string | Buffer {
  if (typeof v === "string") return v;
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v); // String(-0) is "0"
  if (typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return toJsonText(v);
}

/** A key template split once into literal text and column names (text, column, text, column, ..., text). */
interface CompiledKey {
  texts: string[];
  columns: string[];
}
const compiledKeys = new Map<string, CompiledKey>();
function compileKey(template: string): CompiledKey {
  let c = compiledKeys.get(template);
  if (!c) {
    const texts: string[] = [];
    const columns: string[] = [];
    const re = /\{([^{}]+)\}/g;
    let at = 0;
    for (let m = re.exec(template); m; m = re.exec(template)) {
      texts.push(template.slice(at, m.index));
      columns.push(m[1]);
      at = m.index + m[0].length;
    }
    texts.push(template.slice(at));
    compiledKeys.set(template, (c = { texts, columns }));
  }
  return c;
}

/**
 * `content_stats:{content_id}` → `content_stats:3f2a...`; missing values are an error for that record.
 * The template is parsed once (a replace() with a callback per record was ~5 % of the engine's
 * time at 20k rows/s, bench/latency.ts).
 */
export function renderKey(template: string, record: OutputRecord): string {
  return renderRowKey(template, record.row, record.before, record.op);
}

/** renderKey for a row image (the new row, else the old one for a column the new lacks). */
function renderRowKey(template: string, row: OutputRecord["row"], before: OutputRecord["before"], op: OutputRecord["op"]): string {
  const { texts, columns } = compileKey(template);
  let key = texts[0];
  for (let i = 0; i < columns.length; i++) {
    const name = columns[i];
    // Only a column the row lacks (a delete's non-key column, an unchanged TOAST value) comes from
    // the old row: a column the update set to NULL is NULL (`??` wrote it under the old key).
    const v = row[name] !== undefined ? row[name] : before?.[name];
    if (v === null || v === undefined) {
      // under REPLICA IDENTITY DEFAULT a delete carries the key columns only
      const hint = op === "delete" ? " (a delete carries only the source's key columns unless the table has REPLICA IDENTITY FULL: build key templates from key columns)" : "";
      throw new RecordError(`key template ${template}: column '${name}' is missing or NULL${hint}`);
    }
    const s = typeof v === "string" ? v : redisValue(v);
    key += (typeof s === "string" ? s : s.toString("hex")) + texts[i + 1];
  }
  return key;
}

const SCORE_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]inf$/;
const INF_SCORES = new Map([["Infinity", "+inf"], ["-Infinity", "-inf"]]);

/**
 * An update that moves a row to another key (its template columns changed) or, in a sorted set,
 * to another member: what takes the old one away. DEL of the old hash or string key; ZREM of the
 * old member from the old set. Needs the old values: pgoutput sends them when a key column
 * changes, and for every column under REPLICA IDENTITY FULL; without them nothing is removed
 * (the old key stays, as it did before). Streams keep every entry; replaced sets are rebuilt.
 */
export function movedOps(record: OutputRecord, t: RedisTarget, prefix: string, key: string): Op[] {
  const before = record.before;
  if (record.op !== "upsert" || !before || t.type === "stream" || (t.type === "zset" && t.replace)) return [];
  let oldKey: string;
  try {
    oldKey = prefix + renderRowKey(t.key_template, before, null, record.op);
  } catch {
    return []; // the old image lacks a template column: the old key is unknown
  }
  if (t.type !== "zset") return oldKey === key ? [] : [{ cmd: "DEL", args: [oldKey], record }];
  const oldMember = before[t.member!];
  if (oldMember === null || oldMember === undefined) return [];
  const was = redisValue(oldMember);
  const member = record.row[t.member!];
  const now = member === null || member === undefined ? null : redisValue(member);
  const same = now !== null && (typeof was === "string" && typeof now === "string" ? was === now : Buffer.from(was).equals(Buffer.from(now)));
  return oldKey === key && same ? [] : [{ cmd: "ZREM", args: [oldKey, was], record }];
}

/**
 * The absolute-value commands for one record: never INCR, so applying them twice gives the
 * same state (the position fence makes a replay a no-op anyway).
 */
export function recordOps(record: OutputRecord, t: RedisTarget, prefix: string, rendered?: string, json?: string): Op[] {
  const key = rendered ?? prefix + renderKey(t.key_template, record);
  const ops: Op[] = [];
  const push = (cmd: string, ...args: (string | Buffer)[]) => ops.push({ cmd, args: [key, ...args], record });
  const row = record.row;
  if (record.op === "truncate") throw new RecordError("truncate is not applied to Redis keys (which keys belong to a table is unknown)");
  switch (t.type) {
    case "hash": {
      if (record.op === "delete") {
        push("DEL");
        break;
      }
      const names = t.fields ?? columnNames(record);
      const skip = record.unchangedToast?.length ? record.unchangedToast : null;
      const set: (string | Buffer)[] = [key];
      let nulls: string[] | null = null;
      for (const n of names) {
        if (skip && skip.includes(n)) continue;
        const v = row[n];
        if (v === null || v === undefined) (nulls ??= [key]).push(n);
        else set.push(n, typeof v === "string" ? v : redisValue(v));
      }
      if (set.length > 1) ops.push({ cmd: "HSET", args: set, record });
      if (nulls) ops.push({ cmd: "HDEL", args: nulls, record }); // NULL = no field: the hash holds the row as it is now
      break;
    }
    case "zset": {
      const member = row[t.member!] !== undefined ? row[t.member!] : record.before?.[t.member!];
      if (member === null || member === undefined) throw new RecordError(`zset member column '${t.member}' is NULL${record.op === "delete" ? " (a delete carries only the source's key columns unless the table has REPLICA IDENTITY FULL)" : ""}`);
      if (record.op === "delete") {
        push("ZREM", redisValue(member));
        break;
      }
      const score = row[t.score!];
      // ±Infinity (float or numeric) is a score Redis keeps and orders ("+inf"/"-inf"); only NaN is not.
      const s = score === null || score === undefined ? "" : (INF_SCORES.get(String(score)) ?? String(score));
      if (!SCORE_RE.test(s)) throw new RecordError(`zset score column '${t.score}' is not a number: ${s === "" ? "NULL" : s}`);
      push("ZADD", s, redisValue(member));
      break;
    }
    case "string": {
      if (record.op === "delete") {
        push("DEL");
        break;
      }
      if (t.value && record.unchangedToast?.includes(t.value)) {
        // the value column is a large one the update did not touch: the stored value stays
        if (t.ttl) push("PEXPIRE", String(t.ttl));
        return ops;
      }
      const v = t.value ? row[t.value] : row;
      if (v === null || v === undefined) push("DEL");
      else push("SET", t.value ? redisValue(v) : (json ?? toJsonText(row))); // json: merged with the held TOAST columns
      break;
    }
    case "stream": {
      // Entry id <commit LSN>-<index>: deterministic, so a re-sent entry is refused as "not greater".
      const fields: (string | Buffer)[] = [opField(record), record.op];
      for (const c of record.table.columns) {
        const v = row[c.name];
        if (v !== null && v !== undefined) fields.push(c.name, redisValue(v));
      }
      const trim = t.maxlen ? ["MAXLEN", "~", String(t.maxlen)] : [];
      push("XADD", ...trim, `${record.lsn}-${record.index + 1}`, ...fields);
      break;
    }
  }
  if (t.ttl && record.op !== "delete" && ops.some((o) => o.cmd !== "DEL")) push("PEXPIRE", String(t.ttl));
  return ops;
}

const opFieldOf = new WeakMap<OutputRecord["table"], string>();
/**
 * A stream entry's operation field: `op`, or `_op` (`__op`, …) when the table has a column named
 * `op`: an entry with two `op` fields lost one of them in every reader that takes it as a map.
 */
function opField(record: OutputRecord): string {
  let f = opFieldOf.get(record.table);
  if (f === undefined) {
    f = "op";
    while (record.table.columns.some((c) => c.name === f)) f = `_${f}`;
    opFieldOf.set(record.table, f);
  }
  return f;
}

const namesOf = new WeakMap<OutputRecord["table"], string[]>();
/** The output table's column names, computed once per table object (not per record). */
function columnNames(record: OutputRecord): string[] {
  let n = namesOf.get(record.table);
  if (!n) namesOf.set(record.table, (n = record.table.columns.map((c) => c.name)));
  return n;
}
