import { openPg, redactUrl } from "../../db/postgres-client.ts";
import { CdcError } from "../../errors.ts";
import type { SourceConfig } from "../../config/schema.ts";
import { loadRelations, resolveTables } from "./catalog.ts";
import { publicationProblem } from "./publication-rights.ts";
import type { Relation } from "../../types.ts";

export interface SourceCheck {
  version: number;
  versionText: string;
  walLevel: string;
  canReplicate: boolean;
}

/** What `check` and start-up verify about the source before any replication is attempted. */
export async function inspectSource(config: Pick<SourceConfig, "url" | "sslmode" | "tls">): Promise<SourceCheck> {
  const sql = openPg(config.url, { sslmode: config.sslmode, tls: config.tls, max: 1 });
  try {
    const [row] = await sql`
      select current_setting('server_version_num')::int as num,
             current_setting('server_version') as text,
             current_setting('wal_level') as wal_level,
             (select rolreplication or rolsuper from pg_roles where rolname = current_user) as can_replicate`;
    return { version: Number(row.num), versionText: String(row.text), walLevel: String(row.wal_level), canReplicate: Boolean(row.can_replicate) };
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/**
 * `tables`: what the pipelines read ("schema.table" or "schema.*", joined tables included); a
 * table that does not exist is named here (a usage error, as at `serve`), not first at start-up.
 */
export async function checkSource(config: Pick<SourceConfig, "url" | "sslmode" | "tls"> & { publication?: string }, tables: string[] = []): Promise<string> {
  const info = await inspectSource(config);
  const at = redactUrl(config.url);
  if (info.version < 100000) {
    throw new CdcError("source_version", `PostgreSQL ${info.versionText} at ${at} is too old: pgoutput needs 10 or later`, { component: "source" });
  }
  if (info.walLevel !== "logical") {
    throw new CdcError(
      "source_wal_level",
      `wal_level is '${info.walLevel}' at ${at}; logical replication needs wal_level=logical (ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL)`,
      { component: "source" },
    );
  }
  if (!info.canReplicate) {
    throw new CdcError("source_role", `the role in ${at} lacks REPLICATION; run: ALTER ROLE <user> WITH REPLICATION`, { component: "source" });
  }
  let captured = "";
  if (tables.length) {
    const sql = openPg(config.url, { sslmode: config.sslmode, tls: config.tls, max: 1 });
    try {
      const resolved = await resolveTables(sql, tables);
      captured = `, ${resolved.length} table(s) to capture`;
      const problem = config.publication ? await publicationProblem(sql, config.publication, resolved) : null;
      if (problem) throw new CdcError("source_publication", problem, { component: "source" });
    } finally {
      await sql.end({ timeout: 2 });
    }
  }
  return `postgres ${info.versionText} at ${at}, wal_level=logical, replication allowed${captured}`;
}

/** The columns of the tables pipelines read, for `check` to compile expressions against them as serve will. */
export async function sourceRelations(config: Pick<SourceConfig, "url" | "sslmode" | "tls">, tables: string[]): Promise<Map<string, Relation>> {
  const sql = openPg(config.url, { sslmode: config.sslmode, tls: config.tls, max: 1 });
  try {
    return await loadRelations(sql, await resolveTables(sql, tables));
  } finally {
    await sql.end({ timeout: 2 });
  }
}
