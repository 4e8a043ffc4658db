import type { Pg } from "../../db/postgres-client.ts";
import type { OutputTable } from "../sink.ts";
import type { Column } from "../../types.ts";
import { qi, qualified, splitTable } from "./values.ts";
import { widensTo } from "./widen.ts";

export interface SinkTableInfo {
  /** Column name → type as the sink has it. */
  columns: Map<string, string>;
  key: string[];
  /** The engine created the table (MANAGED_COMMENT): its columns follow a source retype. */
  managed: boolean;
  /** Why the source's new key was not added to this keyless table (ensureTable). */
  keyNotAdded?: string;
}

/**
 * The comment on tables the engine created. Only their columns are widened when the source
 * widens a column; a table the user created keeps its types (a narrower column there is a
 * choice, and the values it refuses go to the dead-letter queue).
 */
export const MANAGED_COMMENT = "created by cdc-engine";

/** Type names for common OIDs when the source did not give format_type() text. */
const OID_TYPES: Record<number, string> = {
  16: "boolean", 17: "bytea", 20: "bigint", 21: "smallint", 23: "integer", 25: "text", 114: "json", 700: "real", 701: "double precision",
  1042: "character", 1043: "character varying", 1082: "date", 1083: "time", 1114: "timestamp", 1184: "timestamptz", 1700: "numeric",
  2950: "uuid", 3802: "jsonb", 1186: "interval", 1266: "timetz",
};

/** Reads what the sink has for a table (null when the table does not exist). */
export async function describeTable(sql: Pg, name: string, defaultSchema: string): Promise<SinkTableInfo | null> {
  const [schema, table] = splitTable(name, defaultSchema);
  const cols = await sql<{ name: string; type: string; managed: boolean }[]>`
    select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, coalesce(obj_description(c.oid, 'pg_class') = ${MANAGED_COMMENT}, false) as managed
    from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relname = ${table} and a.attnum > 0 and not a.attisdropped order by a.attnum`;
  if (cols.length === 0) return null;
  const key = await sql<{ name: string }[]>`
    select a.attname as name from pg_index i
    join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum = any(i.indkey)
    where n.nspname = ${schema} and c.relname = ${table} and i.indexrelid = (
      select i2.indexrelid from pg_index i2 where i2.indrelid = c.oid
      and (i2.indisprimary or (i2.indisunique and to_jsonb(i2) ->> 'indnullsnotdistinct' = 'true'))
      order by i2.indisprimary desc limit 1)`;
  return { columns: new Map(cols.map((c) => [c.name, c.type])), key: key.map((k) => k.name), managed: cols[0].managed === true };
}

async function serverVersion(sql: Pg): Promise<number> {
  const [r] = await sql<{ v: string }[]>`select current_setting('server_version_num') as v`;
  return Number(r.v);
}

async function typeFor(sql: Pg, c: Column): Promise<string> {
  const candidate = c.typeName ?? OID_TYPES[c.typeOid];
  if (!candidate) return "text";
  // A user type (enum, domain) the sink does not have: keep the value as text, and an array of
  // one as text[] (a text column got the array literal with every element quoted, so the copy's
  // text differed from the source's and `verify` reported the row).
  const [r] = await sql<{ ok: string | null }[]>`select to_regtype(${candidate})::text as ok`;
  if (r.ok) return candidate;
  const dims = /((?:\[\])+)$/.exec(candidate)?.[1];
  return dims ? `text${dims}` : "text";
}

/**
 * Makes the sink table match the output table: created from the source's columns, types and
 * key when missing; columns the source added are added; in a table the engine created, a
 * column the source widened (int → bigint, varchar(5) → varchar(50), see widen.ts) is widened,
 * and a key the source table got later is added (addKey). Other existing columns are left as they are.
 */
const CREATE_RACE = new Set(["23505", "42P07", "42P06", "42710"]);

export async function ensureTable(sql: Pg, t: OutputTable, defaultSchema: string, inTx = false): Promise<SinkTableInfo> {
  const info = await describeTable(sql, t.name, defaultSchema);
  const [schema] = splitTable(t.name, defaultSchema);
  if (!info) {
    // A computed key (group_by, window.key) may be NULL: from PostgreSQL 15 a UNIQUE NULLS NOT
    // DISTINCT constraint holds the NULL group as one row (ON CONFLICT infers it like a primary
    // key); a primary key refused it, and every emit of that group went to the DLQ.
    const nullable = t.nullableKey === true && t.key.length > 0 && (await serverVersion(sql)) >= 150000;
    const defs: string[] = [];
    for (const c of t.columns) defs.push(`${qi(c.name)} ${await typeFor(sql, c)}${t.key.includes(c.name) && !nullable ? " not null" : ""}`);
    if (t.key.length) defs.push(`${nullable ? "unique nulls not distinct" : "primary key"} (${t.key.map(qi).join(", ")})`);
    for (let attempt = 1; ; attempt++) {
      try {
        await sql.unsafe(`create schema if not exists ${qi(schema)}`);
        await sql.unsafe(`create table if not exists ${qualified(t.name, defaultSchema)} (${defs.join(", ")})`);
        await sql.unsafe(`comment on table ${qualified(t.name, defaultSchema)} is '${MANAGED_COMMENT}'`);
        break;
      } catch (e) {
        // IF NOT EXISTS races in Postgres: another engine (a second config on the same warehouse)
        // created the schema or table at the same moment (23505 on pg_namespace/pg_type, 42P06, 42710,
        // 42P07). Theirs will do; the next attempt sees it.
        if (!CREATE_RACE.has(String((e as { code?: unknown }).code)) || attempt >= 3) throw e;
        const theirs = await describeTable(sql, t.name, defaultSchema);
        if (theirs) return theirs;
      }
    }
    return (await describeTable(sql, t.name, defaultSchema))!;
  }
  const missing = t.columns.filter((c) => !info.columns.has(c.name));
  for (const c of missing) await addColumn(sql, qualified(t.name, defaultSchema), c, await typeFor(sql, c), inTx);
  const wider = t.columns.filter((c) => {
    const have = info.columns.get(c.name);
    const want = c.typeName ?? OID_TYPES[c.typeOid];
    return info.managed && have !== undefined && want !== undefined && widensTo(have, want);
  });
  for (const c of wider) {
    await sql.unsafe(`alter table ${qualified(t.name, defaultSchema)} alter column ${qi(c.name)} type ${c.typeName ?? OID_TYPES[c.typeOid]}`);
  }
  const keyNotAdded = info.managed && t.key.length > 0 && info.key.length === 0 && !t.nullableKey ? await addKey(sql, t, defaultSchema) : undefined;
  const changed = missing.length > 0 || wider.length > 0 || keyNotAdded === "";
  const now = changed ? (await describeTable(sql, t.name, defaultSchema))! : info;
  return keyNotAdded ? { ...now, keyNotAdded } : now;
}

/**
 * A column the source added. With a constant default there (Column.missing) the rows the copy has
 * get that value as the source's rows did: added with it as default, which Postgres stores once
 * (no rewrite). The default stays, as the source has it: a row of a transaction older than the
 * ALTER, in the same batch as the first newer one, is written without the column and reads it too.
 * A value the sink's type refuses (a type it lacks, taken as text, is fine) adds the column empty.
 */
async function addColumn(sql: Pg, table: string, c: Column, type: string, inTx: boolean): Promise<void> {
  const add = `alter table ${table} add column if not exists ${qi(c.name)} ${type}`;
  if (c.missing === undefined) return void (await sql.unsafe(add));
  if (inTx) await sql.unsafe("savepoint cdc_add_column");
  try {
    await sql.unsafe(`${add} default '${c.missing.replaceAll("'", "''")}'`);
    if (inTx) await sql.unsafe("release savepoint cdc_add_column");
  } catch (e) {
    const code = String((e as { code?: unknown }).code ?? "");
    if (!code.startsWith("22") && code !== "42804") throw e; // only a value the type refuses
    if (inTx) await sql.unsafe("rollback to savepoint cdc_add_column");
    await sql.unsafe(add);
  }
}

/**
 * The source table got a key (ALTER TABLE … ADD PRIMARY KEY, as the engine's warning about
 * keyless tables suggests) after the engine created its copy without one: upserts by the key
 * need the same key here. Added when the rows allow it (checked first: a failed ALTER would
 * abort the transaction a large source transaction's parts write in). "" when added, else why not.
 */
async function addKey(sql: Pg, t: OutputTable, defaultSchema: string): Promise<string> {
  const target = qualified(t.name, defaultSchema);
  const cols = t.key.map(qi).join(", ");
  const [bad] = await sql.unsafe(
    `select (select count(*) from ${target} where ${t.key.map((k) => `${qi(k)} is null`).join(" or ")})::int as nulls,
            (select count(*) from (select 1 from ${target} group by ${cols} having count(*) > 1) d)::int as dups`,
  );
  if (bad.nulls > 0 || bad.dups > 0) return `${bad.dups} key value(s) held by more than one row, ${bad.nulls} row(s) with a NULL key column`;
  await sql.unsafe(`alter table ${target} add primary key (${cols})`);
  return "";
}

/** Tables ("schema.table") that take part in a foreign key, as referencing or referenced side. */
export async function foreignKeyTables(sql: Pg): Promise<Set<string>> {
  const rows = await sql<{ a: string; b: string }[]>`
    select n1.nspname || '.' || c1.relname as a, n2.nspname || '.' || c2.relname as b
    from pg_constraint k
    join pg_class c1 on c1.oid = k.conrelid join pg_namespace n1 on n1.oid = c1.relnamespace
    join pg_class c2 on c2.oid = k.confrelid join pg_namespace n2 on n2.oid = c2.relnamespace
    where k.contype = 'f'`;
  const s = new Set<string>();
  for (const r of rows) {
    s.add(r.a);
    s.add(r.b);
  }
  return s;
}

export const OFFSETS_TABLE = "cdc_engine_offsets";

export async function ensureOffsets(sql: Pg, schema: string): Promise<void> {
  await sql.unsafe(`create schema if not exists ${qi(schema)}`);
  await sql.unsafe(`create table if not exists ${qi(schema)}.${OFFSETS_TABLE} (
    pipeline text not null, sink text not null, lsn numeric(20,0) not null, updated_at timestamptz not null default now(),
    primary key (pipeline, sink))`);
}
