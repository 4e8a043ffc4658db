/**
 * What the source reads from the catalog at start: the captured tables ("schema.*" expanded),
 * their columns and keys (for the snapshot and to tell a real schema change from the first
 * Relation message), replica identity problems, and the publication kept equal to the tables.
 */
import type { Logger } from "pino";
import type { Pg } from "../../db/postgres-client.ts";
import { CdcError } from "../../errors.ts";
import type { Relation } from "../../types.ts";
import { PG_TYPE_QUERY, type PgTypeInfo } from "./type-decoders.ts";
import { missingValueOf } from "./missing-values.ts";

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

export function quoteTable(table: string): string {
  const dot = table.indexOf(".");
  return `${quoteIdent(table.slice(0, dot))}.${quoteIdent(table.slice(dot + 1))}`;
}

/** "schema.table" list with "schema.*" expanded; a table that does not exist is a usage error. */
export async function resolveTables(sql: Pg, patterns: string[], viaRoot = true): Promise<string[]> {
  const out = new Set<string>();
  for (const p of patterns) {
    const [schema, name] = p.includes(".") ? [p.slice(0, p.indexOf(".")), p.slice(p.indexOf(".") + 1)] : ["public", p];
    if (name === "*") {
      const rows = await sql`
        select n.nspname::text || '.' || c.relname::text as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ${schema} and c.relkind in ('r', 'p') and not c.relispartition order by 1`;
      for (const r of rows) out.add(String(r.t));
    } else {
      const [row] = await sql`
        select c.relispartition as part, (select pn.nspname::text || '.' || pc.relname::text from pg_class pc join pg_namespace pn on pn.oid = pc.relnamespace
                 where pc.oid = (select i.inhparent from pg_inherits i where i.inhrelid = c.oid limit 1)) as parent
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ${schema} and c.relname = ${name} and c.relkind in ('r', 'p')`;
      if (!row) throw new CdcError("source_table_missing", `table ${schema}.${name} does not exist in the source database (a pipeline reads it: create it or fix the pipeline's from: or join:)`, { kind: "usage", component: "source" });
      // The publication publishes via the partition root (ensurePublication): a partition's changes
      // arrive under its partitioned table, so a pipeline naming the partition got its first read
      // and then nothing.
      if (row.part && viaRoot) {
        throw new CdcError(
          "source_table_partition",
          `table ${schema}.${name} is a partition of ${row.parent}: its changes arrive under ${row.parent} (the publication publishes via the partition root), so a pipeline reading the partition would get none; name ${row.parent} in from: (a where: on the partition key keeps the partition's rows)`,
          { kind: "usage", component: "source" },
        );
      }
      out.add(`${schema}.${name}`);
    }
  }
  return [...out];
}

/** Columns (published ones: not dropped, not generated) and keys of each table, as Relation objects. */
export async function loadRelations(sql: Pg, tables: string[]): Promise<Map<string, Relation>> {
  const out = new Map<string, Relation>();
  if (!tables.length) return out;
  const rows = await sql`
    select c.oid::int as id, n.nspname::text as schema, c.relname::text as name, c.relreplident::text as ident,
           a.attname::text as col, a.atttypid::int as typ, a.atttypmod::int as typmod,
           format_type(a.atttypid, a.atttypmod) as type_name, case when a.atthasmissing then a.attmissingval::text end as missing,
           exists (select 1 from pg_index i where i.indrelid = c.oid and a.attnum = any(i.indkey::int2[]) and
               case c.relreplident when 'i' then i.indisreplident else i.indisprimary end) as is_key
             -- FULL: the primary key is still the row's key; without one the row has no key (keyless:
             -- mirrors append, operators identify the row by all its values from the old row).
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    -- left: a table without columns (create table t (), or every column dropped) still gets its
    -- Relation; without one the snapshot stopped the engine at start (undefined 'rel.table').
    left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
    where (n.nspname::text || '.' || c.relname::text) = any(${tables})
    order by c.oid, a.attnum`;
  for (const r of rows) {
    const table = `${r.schema}.${r.name}`;
    let rel = out.get(table);
    if (!rel) {
      rel = { id: Number(r.id), schema: String(r.schema), name: String(r.name), table, replicaIdentity: String(r.ident), columns: [] };
      out.set(table, rel);
    }
    if (r.col === null) continue;
    const missing = missingValueOf(r.missing);
    rel.columns.push({ name: String(r.col), typeOid: Number(r.typ), typeMod: Number(r.typmod), typeName: String(r.type_name), isKey: Boolean(r.is_key), ...(missing !== undefined ? { missing } : {}) });
  }
  return out;
}

/** The columns the snapshot orders by: primary key / replica identity index; none for FULL without pk. */
export async function orderKey(sql: Pg, table: string): Promise<string[]> {
  const rows = await sql`
    select a.attname::text as col
    from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey::int2[])
    where i.indrelid = ${quoteTable(table)}::regclass and (i.indisprimary or i.indisreplident)
    order by i.indisprimary desc, array_position(i.indkey::int2[], a.attnum)`;
  return [...new Set(rows.map((r) => String(r.col)))];
}

/**
 * A table without columns (`create table t ()`, every column dropped) has nothing to copy: no sink
 * table can be made for it (SQLite and MySQL need a column; the postgres sink failed on it), and
 * its rows carry no values. It is left out of the capture with a warning (a column added later
 * is picked up at the next start); before, it stopped the engine at start, or held every sink.
 */
export function skipColumnless(tables: string[], relations: Map<string, Relation>, log: Logger): string[] {
  return tables.filter((t) => {
    if (relations.get(t)?.columns.length) return true;
    relations.delete(t);
    log.warn({ table: t }, `table ${t} has no columns: nothing to capture, it is left out (a column added later is captured from the next start)`);
    return false;
  });
}

/**
 * Warn about tables whose updates and deletes cannot be captured (their inserts and truncates are,
 * through the inserts-only publication when the slot can stream it: inserts-publication.ts).
 */
export function warnReplicaIdentity(relations: Map<string, Relation>, log: Logger): string[] {
  const warned: string[] = [];
  for (const rel of relations.values()) {
    const noKey = !rel.columns.some((c) => c.isKey);
    if (rel.replicaIdentity === "n" || (rel.replicaIdentity === "d" && noKey)) {
      warned.push(rel.table);
      const why = rel.replicaIdentity === "n" ? "REPLICA IDENTITY NOTHING" : "no primary key and REPLICA IDENTITY DEFAULT";
      log.warn(
        { table: rel.table },
        `table ${rel.table} has ${why}: only its inserts and truncates can be captured, not its updates and deletes; run ALTER TABLE ${quoteTable(rel.table)} REPLICA IDENTITY FULL (or add a primary key) to capture them`,
      );
    }
  }
  return warned;
}

/** The tables ("schema.table") the publications cover. */
export async function publicationTables(sql: Pg, names: string[]): Promise<Set<string>> {
  const rows = await sql`select schemaname::text || '.' || tablename::text as t from pg_publication_tables where pubname = any(${names})`;
  return new Set(rows.map((r) => String(r.t)));
}

/** Create the publication or alter it so it covers exactly `tables`. */
export async function ensurePublication(sql: Pg, name: string, tables: string[], log: Logger, serverVersion = 130000): Promise<void> {
  const list = tables.map(quoteTable).join(", ");
  // Changes of a partitioned table's partitions arrive under the table the pipelines name (PG 13+).
  const viaRoot = serverVersion >= 130000;
  const [pub] = await sql`select puballtables, ${viaRoot ? sql`to_jsonb(p) ->> 'pubviaroot'` : sql`null`} as via_root from pg_publication p where pubname = ${name}`;
  if (!pub) {
    const withRoot = viaRoot ? ` with (publish_via_partition_root = true)` : "";
    await sql.unsafe(tables.length ? `create publication ${quoteIdent(name)} for table ${list}${withRoot}` : `create publication ${quoteIdent(name)}${withRoot}`);
    log.info({ publication: name, tables }, `created publication ${name}`);
    return;
  }
  if (viaRoot && pub.via_root !== "true") await sql.unsafe(`alter publication ${quoteIdent(name)} set (publish_via_partition_root = true)`);
  if (pub.puballtables) {
    log.warn({ publication: name }, `publication ${name} is FOR ALL TABLES; leaving it as it is`);
    return;
  }
  const have = await publicationTables(sql, [name]);
  if (have.size === tables.length && tables.every((t) => have.has(t))) return;
  if (tables.length) await sql.unsafe(`alter publication ${quoteIdent(name)} set table ${list}`);
  else await sql.unsafe(`alter publication ${quoteIdent(name)} drop table ${[...have].map(quoteTable).join(", ")}`);
  log.info({ publication: name, tables, before: [...have] }, `altered publication ${name} to cover exactly the captured tables`);
}

export async function loadTypes(sql: Pg): Promise<PgTypeInfo[]> {
  const rows = await sql.unsafe(PG_TYPE_QUERY);
  return rows.map((r) => ({ oid: Number(r.oid), typtype: String(r.typtype), elem: Number(r.elem), base: Number(r.base), delim: String(r.delim), name: String(r.name) }));
}

/** Columns differ in name, type or count: a schema change to surface. */
export function relationChanged(a: Relation | undefined, b: Relation): boolean {
  if (!a) return false;
  if (a.columns.length !== b.columns.length) return true;
  return a.columns.some((c, i) => c.name !== b.columns[i].name || c.typeOid !== b.columns[i].typeOid || c.typeMod !== b.columns[i].typeMod);
}
