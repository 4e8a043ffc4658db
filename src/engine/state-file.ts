/**
 * SQLite files under state.dir (checkpoints.db, dlq.sqlite, source-snapshot.sqlite): their
 * failures said which file. A damaged one printed `cdc-engine: file is not a database` and
 * exited 1, which systemd restarted every 5 s for good; an unwritable or full state dir gave
 * `unable to open database file` or `database or disk is full` without a path.
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { CdcError } from "../errors.ts";

/** What to do about a damaged file that the engine cannot do without. */
export const REBUILD_STATE =
  "restore the state dir from a backup, or move its files away (checkpoints.db with its -wal and -shm, source-snapshot.sqlite): the next start then reads the tables again in a new snapshot, as after a lost state dir";

/** The error to throw for a failure of `path`: named, and exit 2 (kind usage) when the file is damaged. */
export function stateFileError(path: string, e: unknown, remedy: string): unknown {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return e;
  const msg = (e as Error).message;
  // Not (or no longer) a sound database (SQLITE_NOTADB, SQLITE_CORRUPT*): no restart mends it.
  if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
    return new CdcError("state_damaged", `${path} is damaged (${msg}): ${remedy}`, { cause: e, component: "state", kind: "usage" });
  }
  if (code.startsWith("SQLITE_BUSY")) return e;
  return new CdcError("state_io", `cannot use ${path}: ${msg} (state.dir must be writable by the engine's user, with free space)`, { cause: e, component: "state" });
}

/** Runs `fn` on a state file, turning its SQLite failure into stateFileError's. */
export function onStateFile<T>(path: string, remedy: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw stateFileError(path, e, remedy);
  }
}

/**
 * Opens a state file in WAL mode and reads its schema once, so a damaged or unreadable file
 * fails here, named, rather than at some later query.
 */
export function openStateDb(path: string, remedy: string, options: { strict?: boolean } = {}): Database {
  return onStateFile(path, remedy, () => {
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path, { create: true, ...options });
    try {
      db.run("pragma journal_mode = wal");
      db.query("select count(*) from sqlite_master").get();
      return db;
    } catch (e) {
      db.close();
      throw e;
    }
  });
}
