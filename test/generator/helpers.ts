import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";

/** A fresh database on the shared PG 15 server: its URL and a client (closed by the caller via end()). */
export async function freshDb(prefix = "gen"): Promise<{ url: string; sql: postgres.Sql; end: () => Promise<void> }> {
  const server = await sharedPg("system");
  const name = await createDatabase(server, prefix);
  const url = server.url(name);
  const sql = postgres(url, { max: 2, onnotice: () => {}, types: { bigint: postgres.BigInt } });
  return { url, sql, end: () => sql.end() };
}

/** Every row of a table as text, ordered by the given key columns (for comparing runs). */
export async function dump(sql: postgres.Sql, table: string, key: string): Promise<string[]> {
  const rows = await sql.unsafe(`select t::text as line from "${table}" t order by ${key}`);
  return rows.map((r) => r.line as string);
}

/** Collects generator output lines instead of printing them. */
export function quiet(): { out: (l: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { out: (l) => lines.push(l), lines };
}
