/**
 * The publication is ours to keep (ensurePublication sets it at start), but it can be edited by
 * hand while the engine streams: a table dropped from it stops sending changes with no error
 * anywhere, and those changes are lost for good. The slot monitor asks every few seconds and
 * says so loudly, once per change of the missing set.
 */
import type { Logger } from "pino";
import type { Pg } from "../../db/postgres-client.ts";
import { publicationTables, quoteIdent, quoteTable } from "./catalog.ts";

/** Captured tables the publications no longer cover (all of them when they are gone). */
export async function tablesOutOfPublication(sql: Pg, publications: string[], tables: string[]): Promise<string[]> {
  const have = await publicationTables(sql, publications);
  return tables.filter((t) => !have.has(t));
}

export class PublicationWatch {
  private missing = "";

  private readonly name: string;

  /** `insertsOnly`: the second publication streamed (inserts-publication.ts), whose tables move to `publications[0]` once they have a row identity. */
  constructor(private o: { publications: string[]; tables: string[]; log: Logger; insertsOnly?: string }) {
    this.name = o.publications.join(" and ");
  }

  async check(sql: Pg): Promise<void> {
    if (this.o.insertsOnly) await this.moveIdentified(sql, this.o.publications[0], this.o.insertsOnly);
    const missing = await tablesOutOfPublication(sql, this.o.publications, this.o.tables);
    const now = missing.join(",");
    if (now === this.missing) return;
    this.missing = now;
    if (missing.length) {
      // A table dropped or renamed leaves the publication's list under its old name too; saying
      // "edited while streaming?" and "restart to put them back" sent users the wrong way.
      const rows = await sql`select t from unnest(${missing}::text[]) as t where to_regclass(quote_ident(split_part(t, '.', 1)) || '.' || quote_ident(substr(t, length(split_part(t, '.', 1)) + 2))) is null`;
      const gone = new Set(rows.map((r) => String(r.t)));
      const edited = missing.filter((t) => !gone.has(t));
      if (gone.size)
        this.o.log.error(
          { publications: this.o.publications, tables: [...gone] },
          gone.size > 1
            ? `tables ${[...gone].join(", ")} no longer exist under those names (dropped, or renamed while streaming: a renamed table's changes come under its new name, which no pipeline reads); their changes are not captured from then on: rename them back, or name the new tables in from: and restart`
            : `table ${[...gone].join(", ")} no longer exists under that name (dropped, or renamed while streaming: a renamed table's changes come under its new name, which no pipeline reads); its changes are not captured from then on: rename it back, or name the new table in from: and restart`,
        );
      if (edited.length)
        this.o.log.error(
          { publications: this.o.publications, tables: edited },
          `publication ${this.name} no longer covers ${edited.join(", ")} (edited while streaming?): their changes are not captured from then on, and the slot never sends the ones it skipped. A restart puts them back for the changes after it; for the ones missed meanwhile too: stop cdc-engine, run \`cdc-engine slot drop --config <file>\`, then serve --resnapshot (a --resnapshot alone does nothing while the slot is intact)`,
        );
    } else this.o.log.info({ publications: this.o.publications }, `publication ${this.name} covers every captured table again`);
  }

  /**
   * A table in the inserts-only publication that got a row identity while streaming (ALTER TABLE
   * … ADD PRIMARY KEY, or REPLICA IDENTITY FULL, as the start's warning says) moves to the main
   * publication now, not at the next start: its updates and deletes were lost until then. Those
   * made before this check (a few seconds at most) are not captured. Additions first, so the
   * table is in one publication at every moment.
   */
  private async moveIdentified(sql: Pg, main: string, second: string): Promise<void> {
    const rows = await sql`
      select p.schemaname::text || '.' || p.tablename::text as t
      from pg_publication_tables p
      join pg_namespace n on n.nspname = p.schemaname join pg_class c on c.relnamespace = n.oid and c.relname = p.tablename
      where p.pubname = ${second} and (c.relreplident = 'f'
        or (c.relreplident = 'd' and exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary))
        or (c.relreplident = 'i' and exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisreplident)))`;
    if (!rows.length) return;
    const tables = rows.map((r) => String(r.t));
    const inMain = await publicationTables(sql, [main]);
    const add = tables.filter((t) => !inMain.has(t));
    if (add.length) await sql.unsafe(`alter publication ${quoteIdent(main)} add table ${add.map(quoteTable).join(", ")}`);
    await sql.unsafe(`alter publication ${quoteIdent(second)} drop table ${tables.map(quoteTable).join(", ")}`);
    this.o.log.info({ tables, publication: main }, `${tables.join(", ")} ha${tables.length > 1 ? "ve" : "s"} a row identity now: updates and deletes are captured from here on (moved from publication ${second} to ${main})`);
  }
}
