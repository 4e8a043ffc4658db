/**
 * The permanent logical replication slot: inspect, create (exporting a snapshot), drop.
 * Used by the source at start and by `cdc-engine slot status|drop`.
 */
import type { Logger } from "pino";
import type { Pg } from "../../db/postgres-client.ts";
import { CdcError, errorMessage } from "../../errors.ts";
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
export async function createSlot(
  repl: Pg,
  name: string,
  opts: { serverVersion: number; failover: boolean; exportSnapshot: boolean; twoPhase?: boolean; temporary?: boolean; watch?: { sql: Pg; log: Logger; onWait?(reason: string): void } },
): Promise<CreatedSlot> {
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
  const waiting = opts.watch ? await watchSlotWait(opts.watch.sql, opts.watch.log, name, opts.watch.onWait) : null;
  try {
    const [r] = await repl.unsafe(cmd);
    return { consistentPoint: parseLsn(String(r.consistent_point)), snapshotName: r.snapshot_name ? String(r.snapshot_name) : null };
  } catch (e) {
    throw slotError(e, name);
  } finally {
    waiting?.();
  }
}

/** First report after this long, then every SLOT_WAIT_EVERY_MS while the slot is still not made. */
const SLOT_WAIT_FIRST_MS = 2000;
const SLOT_WAIT_EVERY_MS = 10_000;

/**
 * CREATE_REPLICATION_SLOT returns only when every transaction that had a transaction id when it
 * began has ended (in any database of the server, prepared ones too): that is when PostgreSQL
 * has a consistent snapshot. A transaction left open (a session idle in transaction, a long batch
 * job) held the start with no word at all. This names them while it waits. Returns a stopper.
 */
async function watchSlotWait(sql: Pg, log: Logger, slot: string, onWait?: (reason: string) => void): Promise<() => void> {
  const [{ t0 }] = await sql`select now() as t0`;
  const began = Date.now();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let done = false;
  const report = async () => {
    try {
      const open = await sql`
        select pid, datname::text as db, state, application_name as app, extract(epoch from now() - xact_start)::int as secs, left(query, 120) as query
        from pg_stat_activity where backend_xid is not null and xact_start <= ${t0} order by xact_start`;
      const prepared = await sql`select gid, database::text as db, extract(epoch from now() - prepared)::int as secs from pg_prepared_xacts where prepared <= ${t0}`;
      if (done) return;
      const list = [
        ...open.map((r) => `PID ${r.pid} (database ${r.db}, ${r.state}${r.app ? `, application ${r.app}` : ""}, open ${r.secs} s: ${String(r.query).replace(/\s+/g, " ")})`),
        ...prepared.map((r) => `prepared transaction '${r.gid}' (database ${r.db}, prepared ${r.secs} s ago)`),
      ];
      const secs = Math.round((Date.now() - began) / 1000);
      const msg = list.length
          ? `creating replication slot ${slot} has waited ${secs} s for ${list.length} transaction(s) open since before it began to end (PostgreSQL makes a slot consistent only then): ${list.join("; ")}. Commit or roll them back, or end them with pg_terminate_backend(pid) / ROLLBACK PREPARED`
          : `creating replication slot ${slot} has waited ${secs} s for the transactions open when it began to end (PostgreSQL makes a slot consistent only then)`;
      log.warn({ slot, waitingSeconds: secs, transactions: list }, msg);
      onWait?.(msg);
    } catch (e) {
      log.debug({ err: errorMessage(e) }, "cannot list the transactions a new slot waits for");
    }
    if (!done) timer = setTimeout(report, SLOT_WAIT_EVERY_MS);
  };
  timer = setTimeout(report, SLOT_WAIT_FIRST_MS);
  return () => {
    done = true;
    if (timer) clearTimeout(timer);
  };
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
