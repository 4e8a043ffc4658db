import type { OutputRecord } from "../sink.ts";
import { qi, qualified, toPgText } from "./values.ts";

/**
 * Types whose `=` holds exactly when the values are the same (their text is the same). Any other
 * type is compared as text, the stored value and the old one both printed by the type's output
 * function in this session: json, xml, point and path have no `=` at all (PostgreSQL's own
 * replication needs a default btree/hash equality), box and circle compare areas, and numeric
 * (1.0 = 1.00), interval ('1 day' = '24 hours'), floats (0 = -0) or citext call two rows the
 * source tells apart equal, and could take the wrong one of them.
 */
const EXACT_EQUALITY = new Set([
  "smallint", "integer", "bigint", "oid", "text", "character varying", "character", "\"char\"", "name", "boolean", "uuid", "bytea",
  "date", "time without time zone", "time with time zone", "timestamp without time zone", "timestamp with time zone",
]);

/** Whether a sink column type (format_type: "json", "integer[]", "character varying(5)") is compared as text. */
export function comparedAsText(type: string | undefined): boolean {
  if (!type) return false; // unknown here: the server resolves `=` for the column
  return !EXACT_EQUALITY.has(type.replace(/\(\d+(,\d+)?\)/, ""));
}

/**
 * The statement for a record addressed by its old row (OutputRecord.byOldRow): delete, or
 * replace with the new row, ONE row equal to the old row in every source column (NULL equal to
 * NULL), by its ctid, as logical replication takes the first row it finds. One of several equal
 * rows is as good as another: they are the same value. The batch's transaction stores the
 * position with it, so a replayed batch is skipped whole and never takes a second duplicate.
 * `oneRowOf` lets the runner count a record that found no row (unmatched-rows.ts).
 */
export function oldRowStatement(r: OutputRecord, schema: string, types: Map<string, string> | undefined): { text: string; params: (string | null)[]; rows: number; oneRowOf: OutputRecord } {
  const target = qualified(r.table.name, schema);
  const before = r.before ?? {};
  const params: (string | null)[] = [];
  const param = (v: unknown) => {
    params.push(toPgText(v));
    return `$${params.length}`;
  };
  let set = "";
  if (r.op === "upsert") {
    set = r.table.columns.map((c) => `${qi(c.name)} = ${param(r.row[c.name])}`).join(", ");
  }
  const conds = r.table.columns.map((c) => {
    const v = before[c.name];
    if (v === null || v === undefined) return `${qi(c.name)} is null`;
    const type = types?.get(c.name);
    return comparedAsText(type) ? `${qi(c.name)}::text = ${param(v)}::${type}::text` : `${qi(c.name)} = ${param(v)}`;
  });
  const one = `(select ctid from ${target} where ${conds.length ? conds.join(" and ") : "true"} limit 1)`;
  const text = r.op === "delete" ? `delete from ${target} where ctid = ${one}` : `update ${target} set ${set} where ctid = ${one}`;
  return { text, params, rows: 1, oneRowOf: r };
}
