import type { Lsn } from "../../types.ts";
import type { StreamReader } from "./stream-reader.ts";

// Idle progress (moved out of stream-reader.ts): empty Txns at positions the server has sent
// everything before, from keepalives and heartbeat messages, so the slot's confirmed position
// moves on while nothing commits; and the flush position such an empty Txn stands for.

/** Keepalives that do not ask for a reply (the walsender sends one each time it waits for WAL) become idle progress at most this often. */
const KEEPALIVE_PROGRESS_MS = 1000;
/** Idle-progress LSNs remembered for confirm(); older ones report the LSN itself (merely conservative). */
const MAX_PROGRESS_LSNS = 1024;

/**
 * A keepalive reports the server's sent position (walEnd): every transaction that commits
 * before it was sent ahead of it, every later one commits at or after it. When nothing is in
 * flight, an empty Txn at walEnd - 1 lets the engine confirm up to there (flushPositionFor
 * reports walEnd for it). Without this the slot's flush position stays at the last commit we
 * received, and a smart/fast shutdown of the server waits for it to reach the sent position
 * forever. walEnd - 1, not walEnd: a commit record may start exactly at walEnd, and a
 * position stored at a commit's own LSN would skip that commit on replay.
 */
export async function keepaliveProgress(reader: StreamReader, walEnd: Lsn, replyRequested: boolean): Promise<void> {
  if (reader.open || reader.streams.size) return; // a transaction is in flight: its commit confirms
  const lsn = walEnd - 1n;
  const floor = reader.lastLsn ?? reader.o.startLsn ?? -1n;
  // Already handed over as idle progress, but now the server waits for it (shutdown): say so again, at most once a second.
  const again = replyRequested && lsn === reader.lastLsn && reader.progressLsns.at(-1) === lsn && Date.now() - reader.lastHandover >= KEEPALIVE_PROGRESS_MS;
  if (lsn <= floor && !again) return;
  // The walsender asks for a reply when it waits for us (shutdown, timeout): answer at once.
  if (!replyRequested && Date.now() - reader.lastHandover < KEEPALIVE_PROGRESS_MS) return;
  if (!again) reader.progressLsns.push(lsn);
  if (reader.progressLsns.length > MAX_PROGRESS_LSNS) reader.progressLsns.shift();
  await reader.handover({ lsn, endLsn: walEnd, xid: 0, commitTime: BigInt(Date.now()) * 1000n, changes: [], ...(replyRequested ? { awaited: true } : {}) });
}

/**
 * Empty Txn for idle progress, coalesced to about two per heartbeat interval. `sentUpTo`: `lsn`
 * is one before a position the server has sent everything before (a heartbeat message's), which
 * flushPositionFor reports when the engine confirms `lsn`.
 */
export async function idleProgress(reader: StreamReader, lsn: Lsn, endLsn: Lsn = lsn, sentUpTo = false, now = false): Promise<void> {
  if (reader.lastLsn !== null && lsn <= reader.lastLsn) return;
  if (!now && Date.now() - reader.lastHandover < reader.o.heartbeatMs / 2) return;
  if (sentUpTo) {
    reader.progressLsns.push(lsn);
    if (reader.progressLsns.length > MAX_PROGRESS_LSNS) reader.progressLsns.shift();
  }
  await reader.handover({ lsn, endLsn, xid: 0, commitTime: BigInt(Date.now()) * 1000n, changes: [] });
}

/**
 * The flush position to report when the engine confirms `lsn`: one past a keepalive's or a
 * heartbeat message's empty Txn (the server's sent position, which nothing commits before),
 * else the LSN itself.
 * Forgets progress LSNs up to `lsn`.
 */
export function flushPositionFor(progressLsns: Lsn[], lsn: Lsn): Lsn {
  let out = lsn;
  let n = 0;
  while (n < progressLsns.length && progressLsns[n] <= lsn) {
    if (progressLsns[n] === lsn) out = lsn + 1n;
    n++;
  }
  if (n) progressLsns.splice(0, n);
  return out;
}
