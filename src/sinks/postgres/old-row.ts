import type { OutputRecord } from "../sink.ts";
import { qi, qualified, toPgText } from "./values.ts";

/**
 * Types without a usable `=`: none at all (json, xml, point, line, path, polygon), or one that
 * compares something else than the value (box and circle compare areas). PostgreSQL's own
 * replication finds the row by the type's default btree/hash equality; these have none, so
 * they are compared as text, the stored value and the old one both printed by the type's
 * output function in this session.
 */
const NO_EQUALITY = new Set(["json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle"]);

/** Whether a sink column type (format_type: "json", "point[]", "character varying(5)") is compared as text. */
export function comparedAsText(type: string | undefined): boolean {
  if (!type) return false;
  return NO_EQUALITY.has(type.replace(/\[\]$/, "").replace(/\(.*\)$/, "").trim());
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
