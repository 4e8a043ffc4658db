/**
 * Tables without a row identity (no primary key under REPLICA IDENTITY DEFAULT, or NOTHING) in a
 * publication that publishes updates and deletes make PostgreSQL refuse the application's own
 * UPDATE and DELETE on them ("cannot update table … because it does not have a replica identity
 * and publishes updates"): starting the engine broke the application's writes. They go into a
 * second publication, `<publication>_inserts`, that publishes inserts and truncates only (their
 * updates and deletes cannot be captured anyway), streamed together with the main one.
 *
 * pgoutput looks publications up in the historic catalog of the WAL it decodes: one created after
 * the slot's position fails the stream with "publication … does not exist". So it is streamed only
 * when the slot is made after it, or once its pg_publication row is older than the slot's
 * catalog_xmin (every transaction before that had ended before the slot's restart point). An older
 * slot keeps those tables in the main publication (as before) until a later start finds the second
 * one usable; it is created at once, empty, so that it ages.
 */
import type { Logger } from "pino";
import type { Pg } from "../../db/postgres-client.ts";
import { publicationTables, quoteIdent, quoteTable } from "./catalog.ts";

/** The second publication's name (63 bytes at most). */
export function insertsPublication(name: string): string {
  const head = Buffer.from(name).subarray(0, 55).toString("utf8").replace(/\uFFFD$/, "");
  return `${head}_inserts`;
}

/**
 * Creates the second publication, empty, when it is missing (PostgreSQL 13+: it publishes via the
 * partition root, as the main one). False when the role may not (no CREATE on the database: a DBA
 * made the main publication): the start goes on without it, as before it existed.
 */
export async function createInsertsPublication(sql: Pg, name: string, log: Logger): Promise<boolean> {
  const [row] = await sql`select 1 from pg_publication where pubname = ${name}`;
  if (row) return true;
  try {
    await sql.unsafe(`create publication ${quoteIdent(name)} with (publish = 'insert, truncate', publish_via_partition_root = true)`);
  } catch (e) {
    if ((e as { code?: unknown }).code !== "42501") throw e;
    log.warn({ publication: name }, `cannot create publication ${name} (${(e as Error).message}): tables without a row identity stay in the main publication, where PostgreSQL refuses their UPDATE and DELETE; to avoid that, grant CREATE on the database or run CREATE PUBLICATION ${quoteIdent(name)} WITH (publish = 'insert, truncate', publish_via_partition_root = true)`);
    return false;
  }
  log.info({ publication: name }, `created publication ${name} (inserts and truncates of tables without a row identity)`);
  return true;
}

/** The slot may stream from it: it existed before every transaction the slot still decodes. */
export async function insertsPublicationUsable(sql: Pg, name: string, slot: string): Promise<boolean> {
  const [row] = await sql`
    select age(p.xmin) > age(s.catalog_xmin) as older
    from pg_publication p, pg_replication_slots s
    where p.pubname = ${name} and s.slot_name = ${slot} and s.catalog_xmin is not null`;
  return row?.older === true;
}

/**
 * Adds `tables` to the second publication; with `exact`, also removes the others. Called with
 * additions first and removals last around the main publication's own change, so that a table
 * moving between the two is in one of them at every moment (in both for an instant: harmless).
 */
export async function setInsertsPublication(sql: Pg, name: string, tables: string[], exact: boolean, log: Logger): Promise<void> {
  const [row] = await sql`select 1 from pg_publication where pubname = ${name}`;
  if (!row) return;
  const have = await publicationTables(sql, [name]);
  const add = tables.filter((t) => !have.has(t));
  const drop = exact ? [...have].filter((t) => !tables.includes(t)) : [];
  if (add.length) await sql.unsafe(`alter publication ${quoteIdent(name)} add table ${add.map(quoteTable).join(", ")}`);
  if (drop.length) await sql.unsafe(`alter publication ${quoteIdent(name)} drop table ${drop.map(quoteTable).join(", ")}`);
  if (add.length || drop.length) log.info({ publication: name, added: add, removed: drop }, `altered publication ${name} (tables without a row identity)`);
}
