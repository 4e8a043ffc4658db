/**
 * An UPDATE that moves a row to a new primary key carries the old key and the new row, but not
 * the TOASTed values it left unchanged ('u' in pgoutput). The sinks keep an unchanged column only
 * of a row they still have, and the moved row is new under its new key: its large columns came
 * out NULL in every sink. Those values are read again from the source table by the new key (what
 * Debezium's reselect post-processor does for unavailable values). The same is done for every such
 * update of a table a change-log sink (webhook, BigQuery) is fed from: those store each change as
 * it came, with no earlier value to keep.
 *
 * They are the values of now, not of the change. When the row changed again later, its later
 * changes follow in the stream and converge it: a later delete removes it, a later move reads
 * again, a later update of the column carries the value. A row that is gone by now is left with
 * the columns missing, as before (a later change in the stream removes or moves it).
 */
import type { Logger } from "pino";
import type { Pg } from "../../db/postgres-client.ts";
import { arrayLiteral, toPgText } from "../../sinks/postgres/values.ts";
import type { Change, Relation, Row } from "../../types.ts";
import { quoteIdent, quoteTable } from "./catalog.ts";
import { asOutputText } from "./output-text.ts";
import type { TypeDecoders } from "./type-decoders.ts";

const CHUNK = 1000;
/** Undefined table or column: the table was dropped or altered since (its later messages say so). */
const GONE = new Set(["42P01", "42703"]);

/** An update whose new row lacks unchanged TOAST values and whose key changed. */
export function movedWithoutToast(c: Change): boolean {
  if (c.op !== "update" || !c.unchangedToast?.length || !c.before || !c.after) return false;
  for (const col of c.relation.columns) if (col.isKey && toPgText(c.before[col.name]) !== toPgText(c.after[col.name])) return true;
  return false;
}

export async function reselectToast(sql: Pg, changes: Change[], types: TypeDecoders, log: Logger): Promise<void> {
  const byRel = new Map<Relation, Change[]>();
  for (const c of changes) {
    const list = byRel.get(c.relation);
    if (list) list.push(c);
    else byRel.set(c.relation, [c]);
  }
  for (const [rel, list] of byRel) {
    for (let i = 0; i < list.length; i += CHUNK) {
      try {
        await fill(sql, rel, list.slice(i, i + CHUNK), types);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (!code || !GONE.has(code)) throw e;
        log.warn({ table: rel.table, err: (e as Error).message }, `cannot read the unchanged TOAST values of rows moved to a new key in ${rel.table}; they stay unset`);
      }
    }
  }
}

async function fill(sql: Pg, rel: Relation, changes: Change[], types: TypeDecoders): Promise<void> {
  const keys = rel.columns.filter((c) => c.isKey);
  const wanted = [...new Set(changes.flatMap((c) => c.unchangedToast!))].map((n) => rel.columns.find((c) => c.name === n)).filter((c) => c !== undefined);
  if (!keys.length || !wanted.length) return;
  // The new keys as text, cast to the key's own type so that the primary key's index is used.
  const on = keys.map((k, j) => (k.typeName ? `t.${quoteIdent(k.name)} = u.k${j}::${k.typeName}` : `${asOutputText(`t.${quoteIdent(k.name)}`, k.typeOid, types)} = u.k${j}`));
  const params = keys.map((k) => arrayLiteral(changes.map((c) => toPgText(c.after![k.name]))));
  const q = `select u.i::int4, ${wanted.map((c) => asOutputText(`t.${quoteIdent(c.name)}`, c.typeOid, types)).join(", ")}
    from unnest(${keys.map((_, j) => `$${j + 1}::text[]`).join(", ")}) with ordinality as u(${keys.map((_, j) => `k${j}`).join(", ")}, i)
    join ${quoteTable(rel.table)} as t on ${on.join(" and ")}`;
  const rows = (await sql.unsafe(q, params).values()) as unknown as (string | number | null)[][];
  const decoders = wanted.map((c) => types.decoder(c.typeOid));
  for (const r of rows) {
    const c = changes[Number(r[0]) - 1];
    const after = c.after as Row;
    wanted.forEach((col, j) => {
      if (c.unchangedToast!.includes(col.name)) after[col.name] = r[j + 1] === null ? null : decoders[j](r[j + 1] as string);
    });
    // `wanted` holds every unchanged column of these changes: none is left unset.
    delete c.unchangedToast;
  }
}
