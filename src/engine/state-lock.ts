/**
 * One engine per state dir. A second `serve` on the same config found the first one's slot
 * "made by a start that ended before its first checkpoint", dropped it mid-snapshot and took over
 * (the first died on "database is locked"); against a streaming one it looped on the shared
 * checkpoints.db. The lock is an exclusive SQLite transaction on `state.dir/engine.lock`, held
 * for the life of the process: SQLite's POSIX locks are released by the kernel when the process
 * dies (kill -9 too), and hold across containers sharing the volume, where a PID file cannot tell
 * a stale PID 1 from a live one. `engine.pid` only names the holder in the message.
 */
import { Database } from "bun:sqlite";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CdcError } from "../errors.ts";
import { onStateFile } from "./state-file.ts";

/** Locks this process holds, by state dir (taken again by the same process: a no-op). */
const held = new Map<string, Database>();

/** Takes the state dir's lock, or throws naming the process that holds it. */
export function lockStateDir(dir: string): void {
  const at = resolve(dir);
  if (held.has(at)) return;
  mkdirSync(at, { recursive: true });
  // (an unwritable state dir failed here as `unable to open database file`, naming nothing)
  const db = onStateFile(join(at, "engine.lock"), "", () => new Database(join(at, "engine.lock")));
  try {
    db.exec("pragma busy_timeout = 0");
    db.exec("pragma locking_mode = exclusive");
    db.exec("begin exclusive");
  } catch (e) {
    db.close();
    if (!/locked|busy/i.test((e as Error).message)) throw e;
    throw new CdcError("state_dir_in_use", `state.dir ${at} is in use by another cdc-engine${holder(at)}: one engine per state dir (stop it, or give this config its own state.dir and slot)`, { component: "engine" });
  }
  held.set(at, db);
  try {
    writeFileSync(join(at, "engine.pid"), `${process.pid}\n`);
  } catch {
    /* only for the message */
  }
}

/** Lets go of the state dir (the runtime's stop: an in-process restart takes it again). */
export function unlockStateDir(dir: string): void {
  const at = resolve(dir);
  const db = held.get(at);
  if (!db) return;
  held.delete(at);
  try {
    db.exec("rollback");
  } catch {}
  db.close();
}

/** Whether another process holds the state dir's lock (the CLI asks before writing where the engine would). */
export function stateDirInUse(dir: string): string | null {
  const at = resolve(dir);
  if (held.has(at)) return null;
  let db: Database;
  try {
    db = new Database(join(at, "engine.lock"));
  } catch {
    return null;
  }
  try {
    db.exec("pragma busy_timeout = 0");
    db.exec("begin exclusive");
    db.exec("rollback");
    return null;
  } catch {
    return `in use by a running cdc-engine${holder(at)}`;
  } finally {
    db.close();
  }
}

function holder(at: string): string {
  try {
    const pid = readFileSync(join(at, "engine.pid"), "utf8").trim();
    return /^\d+$/.test(pid) ? ` (PID ${pid})` : "";
  } catch {
    return "";
  }
}
