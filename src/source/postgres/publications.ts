/**
 * The publications to stream: the main one with every captured table that has a row identity,
 * and the inserts-only one with those that have none when the slot can stream it (see
 * inserts-publication.ts); otherwise all in the main one, as before.
 */
import type { Logger } from "pino";
import type { SourceConfig } from "../../config/schema.ts";
import type { Pg } from "../../db/postgres-client.ts";
import { CdcError } from "../../errors.ts";
import { ensurePublication } from "./catalog.ts";
import { createInsertsPublication, insertsPublication, insertsPublicationUsable, setInsertsPublication } from "./inserts-publication.ts";
import { publicationProblem } from "./publication-rights.ts";

export interface PublicationsOptions {
  sql: Pg;
  config: SourceConfig;
  log: Logger;
  tables: string[];
  /** Captured tables without a row identity (warnReplicaIdentity). */
  insertsOnly: string[];
  /** The slot is made (again) in this start. */
  recreate: boolean;
  version: number;
  /** The inserts-only publication the state dir marks as the slot's own. */
  marked: string | null;
}

/**
 * Sets the publications up. Returns the names to stream and, when a new slot is made with it,
 * the inserts-only publication to mark as the slot's own.
 */
export async function setPublications(o: PublicationsOptions): Promise<{ publications: string[]; second: string | null }> {
  const { sql, config: c, log, tables, insertsOnly, recreate, version, marked } = o;
  const second = insertsPublication(c.publication);
  const [main] = await sql`select puballtables from pg_publication where pubname = ${c.publication}`;
  if (main?.puballtables || version < 130000) {
    await ensurePublication(sql, c.publication, tables, log, version);
    return { publications: [c.publication], second: null };
  }
  // Made before a new slot (even empty): a table without a row identity added later can use it at once.
  const made = recreate || insertsOnly.length ? await createInsertsPublication(sql, second, log) : true;
  const usable = made && insertsOnly.length > 0 && (recreate || marked === second || (await insertsPublicationUsable(sql, second, c.slot)));
  const moved = usable ? insertsOnly : [];
  if (insertsOnly.length && !usable) {
    log.warn(
      { tables: insertsOnly, publication: c.publication },
      `${insertsOnly.join(", ")} stay in publication ${c.publication} for now, where PostgreSQL refuses UPDATE and DELETE on them (the application's too: "does not have a replica identity and publishes updates"); they move to ${second} (inserts and truncates only) at a start after the slot has passed its creation`,
    );
  }
  // Additions before removals: a table moving between the two is never in neither.
  await setInsertsPublication(sql, second, moved, false, log);
  try {
    await ensurePublication(sql, c.publication, tables.filter((t) => !moved.includes(t)), log, version);
  } catch (e) {
    if ((e as { code?: unknown }).code !== "42501") throw e;
    // The role may not alter the main publication (a DBA made it): if it already covers every table, stream it as it is.
    const problem = await publicationProblem(sql, c.publication, tables);
    if (problem || !moved.length) throw new CdcError("source_publication", `${problem ?? `cannot set publication ${c.publication}`} (${(e as Error).message})`, { component: "source" });
    log.warn({ publication: c.publication, tables: moved }, `cannot take ${moved.join(", ")} out of publication ${c.publication} (${(e as Error).message}): they stay in it`);
    return { publications: [c.publication], second: recreate && made ? second : null };
  }
  await setInsertsPublication(sql, second, moved, true, log);
  return { publications: usable ? [c.publication, second] : [c.publication], second: recreate && made ? second : null };
}
