/**
 * The permanent logical replication slot: inspect, create (exporting a snapshot), drop.
 * Used by the source at start and by `cdc-engine slot status|drop`.
 */
import type { Pg } from "../../db/postgres-client.ts";
import { CdcError } from "../../errors.ts";
import { parseLsn, type Lsn } from "../../types.ts";
import { quoteIdent } from "./catalog.ts";

export interface SlotInfo {
  name: string;
  plugin: string | null;
  database: string | null;
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: Lsn | null;
  restartLsn: Lsn | null;
  /** WAL between the server's current LSN and confirmed_flush_lsn. */
  lagBytes: number | null;
  /** WAL held back by the slot (current LSN - restart_lsn). */
  retainedBytes: number | null;
  walStatus: string | null;
  /** max_slot_wal_keep_size in bytes; null when unlimited (-1) or unknown. */
  maxKeepBytes: number | null;
  failover: boolean | null;
}

export async function getSlot(sql: Pg, name: string): Promise<SlotInfo | null> {
  const [r] = await sql`
    select s.slot_name::text as name, s.plugin::text as plugin, s.database::text as database, s.active, s.active_pid,
           s.confirmed_flush_lsn::text as confirmed, s.restart_lsn::text as restart,
           (pg_current_wal_lsn() - s.confirmed_flush_lsn)::text as lag,
           (pg_current_wal_lsn() - s.restart_lsn)::text as retained,
           to_jsonb(s) ->> 'wal_status' as wal_status,
           to_jsonb(s) ->> 'failover' as failover,
           (select case when setting = '-1' then null else setting::bigint * 1024 * 1024 end
              from pg_settings where name = 'max_slot_wal_keep_size')::text as max_keep
    from pg_replication_slots s where s.slot_name = ${name}`;
  if (!r) return null;
  return {
    name: String(r.name),
    plugin: r.plugin == null ? null : String(r.plugin),
    database: r.database == null ? null : String(r.database),
    active: Boolean(r.active),
    activePid: r.active_pid == null ? null : Number(r.active_pid),
    confirmedFlushLsn: r.confirmed == null ? null : parseLsn(String(r.confirmed)),
    restartLsn: r.restart == null ? null : parseLsn(String(r.restart)),
    lagBytes: r.lag == null ? null : Number(r.lag),
    retainedBytes: r.retained == null ? null : Number(r.retained),
    walStatus: r.wal_status == null ? null : String(r.wal_status),
    maxKeepBytes: r.max_keep == null ? null : Number(r.max_keep),
    failover: r.failover == null ? null : r.failover === "true",
  };
}

export interface CreatedSlot {
  consistentPoint: Lsn;
  /** Exported snapshot name, valid until the replication connection runs its next command. */
  snapshotName: string | null;
}

/** CREATE_REPLICATION_SLOT on a replication connection: permanent, pgoutput, exporting a snapshot. */
export async function createSlot(repl: Pg, name: string, opts: { serverVersion: number; failover: boolean; exportSnapshot: boolean; twoPhase?: boolean; temporary?: boolean }): Promise<CreatedSlot> {
  let cmd: string;
  // TEMPORARY: dropped when the connection ends (added-tables.ts reads in its snapshot)
  const kind = opts.temporary ? "TEMPORARY LOGICAL" : "LOGICAL";
  if (opts.serverVersion >= 150000) {
    const o = [`SNAPSHOT '${opts.exportSnapshot ? "export" : "nothing"}'`];
    if (opts.twoPhase) o.push("TWO_PHASE true");
    if (opts.failover) {
      if (opts.serverVersion < 170000) throw new CdcError("slot_failover", `failover slots need PostgreSQL 17 or later; remove source.failover`, { kind: "usage", component: "source" });
      o.push("FAILOVER true");
    }
    cmd = `CREATE_REPLICATION_SLOT ${quoteIdent(name)} ${kind} pgoutput (${o.join(", ")})`;
  } else {
    if (opts.failover) throw new CdcError("slot_failover", `failover slots need PostgreSQL 17 or later; remove source.failover`, { kind: "usage", component: "source" });
    cmd = `CREATE_REPLICATION_SLOT ${quoteIdent(name)} ${kind} pgoutput ${opts.exportSnapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT"}`;
  }
  try {
    const [r] = await repl.unsafe(cmd);
    return { consistentPoint: parseLsn(String(r.consistent_point)), snapshotName: r.snapshot_name ? String(r.snapshot_name) : null };
  } catch (e) {
    throw slotError(e, name);
  }
}

export async function dropSlot(sql: Pg, name: string): Promise<boolean> {
  try {
    const [r] = await sql`select count(*)::int as n from pg_replication_slots where slot_name = ${name}`;
    if (!r.n) return false;
    await sql`select pg_drop_replication_slot(${name})`;
    return true;
  } catch (e) {
    throw slotError(e, name);
  }
}

/** Turn server errors about slots into CdcErrors that name the slot and what to do. */
export function slotError(e: unknown, slot: string): Error {
  const msg = e instanceof Error ? e.message : String(e);
  const active = /is active for PID (\d+)/.exec(msg);
  if (active) {
    return new CdcError(
      "slot_active",
      `replication slot ${slot} is in use by another process (PID ${active[1]}); stop the other cdc-engine (or consumer) using it, or configure a different source.slot`,
      { component: "source", cause: e },
    );
  }
  if (/does not exist/.test(msg) && /slot/.test(msg)) return new CdcError("slot_missing", `replication slot ${slot} does not exist`, { component: "source", cause: e });
  if (/all replication slots are in use/.test(msg))
    return new CdcError("slot_limit", `cannot create replication slot ${slot}: all replication slots are in use; raise max_replication_slots or drop unused slots`, { component: "source", cause: e });
  if (/must be superuser or replication role|permission denied to (start|create)/i.test(msg))
    return new CdcError("source_role", `the source role lacks REPLICATION; run: ALTER ROLE <user> WITH REPLICATION`, { component: "source", cause: e });
  return e instanceof Error ? e : new Error(msg);
}
