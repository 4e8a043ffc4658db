import type { Pg } from "../db/postgres-client.ts";
import { CdcError, usageError } from "../errors.ts";
import type { Dataset } from "./dataset.ts";
import { quoteIdent } from "../source/postgres/catalog.ts";

type Columns = Map<string, Map<string, string>>;

const COLUMNS_SQL = `
  select c.relname as table_name, a.attname as column_name, format_type(a.atttypid, a.atttypmod) as type
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  where n.nspname = $1 and c.relkind in ('r', 'p') and c.relname = any($2)
  order by c.relname, a.attnum`;

async function readColumns(sql: Pg, schema: string, tables: string[]): Promise<Columns> {
  const rows = await sql.unsafe(COLUMNS_SQL, [schema, tables as never]);
  const out: Columns = new Map();
  for (const r of rows) {
    const t = r.table_name as string;
    if (!out.has(t)) out.set(t, new Map());
    out.get(t)!.set(r.column_name as string, r.type as string);
  }
  return out;
}

class Rollback extends Error {}

/**
 * The columns the dataset's DDL creates, read back from a throwaway schema inside a transaction
 * that is rolled back: the DDL file stays the one definition of the schema.
 */
async function expectedColumns(sql: Pg, ds: Dataset): Promise<Columns> {
  const probe = `cdc_generate_probe_${process.pid}_${Date.now() % 1e6}`;
  let cols: Columns = new Map();
  try {
    await sql.begin(async (tx) => {
      await tx.unsafe(`create schema "${probe}"`);
      await tx.unsafe(`set local search_path to "${probe}"`);
      await tx.unsafe(ds.ddl);
      cols = await readColumns(tx as unknown as Pg, probe, ds.tables);
      throw new Rollback();
    });
  } catch (e) {
    if (!(e instanceof Rollback)) throw e;
  }
  return cols;
}

/**
 * Check the target tables against the dataset's DDL and create what is missing (`init`), all in
 * one transaction. A table that exists with other columns is the user's to resolve: one line,
 * nothing written. Returns the tables created.
 */
export async function prepareSchema(sql: Pg, ds: Dataset, schema: string, init: boolean): Promise<string[]> {
  let expected: Columns | null = null;
  try {
    expected = await expectedColumns(sql, ds);
  } catch (e) {
    // No CREATE on the database (42501): the probe is impossible; check that the tables exist only.
    if ((e as { code?: string }).code !== "42501") throw e;
  }
  const actual = await readColumns(sql, schema, ds.tables);
  const problems: string[] = [];
  for (const table of ds.tables) {
    const want = expected?.get(table);
    const have = actual.get(table);
    if (!have || !want) continue;
    const missing = [...want.keys()].filter((c) => !have.has(c));
    const extra = [...have.keys()].filter((c) => !want.has(c));
    const retyped = [...want].filter(([c, t]) => have.has(c) && have.get(c) !== t).map(([c, t]) => `${c} is ${have.get(c)}, expected ${t}`);
    const parts = [missing.length ? `missing ${missing.join(", ")}` : "", extra.length ? `unexpected ${extra.join(", ")}` : "", ...retyped].filter(Boolean);
    if (parts.length) problems.push(`${schema}.${table} (${parts.join("; ")})`);
  }
  if (problems.length) {
    throw usageError(
      "generate.schema_mismatch",
      `table ${problems.join(", ")} exists with columns other than the ${ds.name} dataset's; use another database or --schema, or drop it (nothing was written)`,
      "generate",
    );
  }
  const absent = ds.tables.filter((t) => !actual.has(t));
  if (absent.length && !init) {
    throw usageError("generate.schema_missing", `table ${absent.map((t) => `${schema}.${t}`).join(", ")} does not exist: run with --init to create the ${ds.name} schema`, "generate");
  }
  if (init) {
    try {
      await sql.begin(async (tx) => {
        await tx.unsafe(`create schema if not exists ${quoteIdent(schema)}`);
        await tx.unsafe(`set local search_path to ${quoteIdent(schema)}`);
        await tx.unsafe(ds.ddl);
      });
    } catch (e) {
      throw new CdcError("generate.init_failed", `creating the ${ds.name} schema failed, nothing was created: ${(e as Error).message}`, { cause: e, component: "generate" });
    }
  }
  return absent;
}
