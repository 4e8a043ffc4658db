import type { Pg } from "../../db/postgres-client.ts";
import type { Relation } from "../../types.ts";

/**
 * `ALTER TABLE … ADD COLUMN … DEFAULT <constant>` writes nothing to the table and sends no change:
 * the rows it had read the value from the catalog (pg_attribute.attmissingval). A sink that adds the
 * column must give the rows it holds that value too, or its copy differs from the source for good.
 * Debezium carries a column's default in its schema for the same reason (its JDBC sink adds it).
 */

/**
 * The one element of attmissingval's array text: `{7}`, `{"a,b\"c"}`, `{(1,1),(0,0)}` (a box's
 * delimiter is `;`, so its commas are not quoted). undefined for a NULL element or no value.
 */
export function missingValueOf(arrayText: string | null | undefined): string | undefined {
  if (arrayText == null || arrayText.length < 2 || arrayText[0] !== "{" || arrayText[arrayText.length - 1] !== "}") return undefined;
  const inner = arrayText.slice(1, -1);
  if (inner[0] !== '"') return inner === "NULL" ? undefined : inner;
  let out = "";
  for (let i = 1; i < inner.length - 1; i++) out += inner[i] === "\\" ? inner[++i] : inner[i];
  return out;
}

/** How long a lookup waits for the ALTER that added its columns to be visible (see loadMissingValues). */
const VISIBLE_WAIT_MS = 2_000;

/**
 * What the rows a table had read for some of its columns, by name: the missing value, or null for
 * a column with a default but none (a volatile default, or a rewrite since: the rows got their
 * values in a rewrite that logical decoding does not send). Columns without a default are left out.
 */
export async function loadMissingValues(sql: Pg, relId: number, names: string[], waitMs = VISIBLE_WAIT_MS): Promise<Map<string, string | null>> {
  const query = () =>
    sql.unsafe(
      `select a.attname::text as name, case when a.atthasmissing then a.attmissingval::text end as missing, a.atthasdef as has_default
       from pg_attribute a where a.attrelid = $1 and a.attname = any($2::text[]) and not a.attisdropped`,
      [relId, names],
    );
  let rows = await query();
  // The walsender sends a transaction once its commit record is flushed, which can be a moment
  // before other sessions see it committed: a lookup that quick found none of the columns the
  // Relation message has (QA: 1 run in 6 under load, and the copy's rows kept NULL for good).
  // A column missing from the catalog is not visible yet, or dropped since (then this waits once).
  for (const until = Date.now() + waitMs; rows.length < names.length && Date.now() < until; ) {
    await Bun.sleep(20);
    rows = await query();
  }
  const out = new Map<string, string | null>();
  for (const r of rows) {
    const v = missingValueOf(r.missing as string | null);
    if (v !== undefined) out.set(String(r.name), v);
    else if (r.has_default === true) out.set(String(r.name), null);
  }
  return out;
}

/**
 * The missing values of the columns a Relation message has and `prev` had not (the ones it had
 * keep theirs: stream-reader.ts copies them with the type name). A lookup that fails leaves them
 * without (the sink adds them empty, as before). Returns the new columns whose rows' values the
 * sinks cannot have (a default but no missing value).
 */
export async function lookUpMissingValues(rel: Relation, prev: Relation, lookup: (relId: number, names: string[]) => Promise<Map<string, string | null>>): Promise<string[]> {
  const fresh = rel.columns.filter((c) => !prev.columns.some((p) => p.name === c.name));
  if (!fresh.length) return [];
  const found = await lookup(rel.id, fresh.map((c) => c.name));
  const lost: string[] = [];
  for (const c of fresh) {
    const v = found.get(c.name);
    if (typeof v === "string") c.missing = v;
    else if (v === null) lost.push(c.name);
  }
  return lost;
}
