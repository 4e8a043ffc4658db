/**
 * Whether the role can set the publication to the captured tables, as the start will. `check`
 * said "ok" for a role with REPLICATION and SELECT only, and `serve` then failed on "permission
 * denied for database" or "must be owner of table" without saying that making the publication
 * was what failed. Creating a publication FOR TABLE needs CREATE on the database and ownership of
 * each table; altering one, ownership of it and of the tables. A publication made by the DBA that
 * already covers exactly the captured tables (or FOR ALL TABLES) needs neither.
 */
import type { Pg } from "../../db/postgres-client.ts";
import { publicationTables, quoteIdent, quoteTable } from "./catalog.ts";

/** What stops the role from setting `publication` to `tables`, or null when nothing does. */
export async function publicationProblem(sql: Pg, publication: string, tables: string[]): Promise<string | null> {
  const [me] = await sql`
    select r.rolsuper as superuser, has_database_privilege(current_user, current_database(), 'CREATE') as can_create, current_user::text as role
    from pg_roles r where r.rolname = current_user`;
  if (me?.superuser) return null;
  const [pub] = await sql`select puballtables, pg_has_role(current_user, pubowner, 'USAGE') as mine, pg_get_userbyid(pubowner)::text as owner from pg_publication where pubname = ${publication}`;
  if (pub?.puballtables) return null;
  if (pub) {
    const have = await publicationTables(sql, [publication]);
    if (have.size === tables.length && tables.every((t) => have.has(t))) return null;
  }
  const create = `CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${tables.map(quoteTable).join(", ")} WITH (publish_via_partition_root = true)`;
  const notOwned = (
    await sql`select t from unnest(${tables}::text[]) as t
      join pg_class c on c.oid = to_regclass(quote_ident(split_part(t, '.', 1)) || '.' || quote_ident(substr(t, length(split_part(t, '.', 1)) + 2)))
      where not pg_has_role(current_user, c.relowner, 'USAGE')`
  ).map((r) => String(r.t));
  const owned = notOwned.length ? `; it does not own ${notOwned.join(", ")}` : "";
  if (!pub && (!me?.can_create || notOwned.length)) {
    return `role ${me?.role} cannot create publication ${publication} for the captured tables (it needs CREATE on the database and to own each table${me?.can_create ? "" : "; it has no CREATE on the database"}${owned}): grant those, or have an owner run ${create}`;
  }
  if (pub && (!pub.mine || notOwned.length)) {
    return `role ${me?.role} cannot alter publication ${publication} (owner ${pub.owner}) to cover exactly the captured tables (it needs to own the publication and each table${owned}): have its owner run ALTER PUBLICATION ${quoteIdent(publication)} SET TABLE ${tables.map(quoteTable).join(", ")}`;
  }
  return null;
}
