import type { Txn } from "../types.ts";

/**
 * What an admin-paused pipeline holds back: the source transactions it has not processed yet,
 * in commit order. Its operators and writers see nothing while paused, so its checkpointed
 * state and its sinks' positions stay at the pause point and the slot is not confirmed past
 * it (the runtime confirms the minimum over all writers): a crash while paused loses nothing.
 * On resume the held transactions are processed in order and the pipeline catches up.
 *
 * Bounded by changes and estimated bytes; once full, the runtime stops taking transactions
 * from the source until the pipeline is resumed (every pipeline waits: the source is one
 * stream). Unpaused pipelines go on as long as the hold has room.
 */
export class PauseHold {
  private txns: Txn[] = [];
  changes = 0;
  bytes = 0;
  private waiters: (() => void)[] = [];

  constructor(private maxChanges: number, private maxBytes: number) {}

  add(txn: Txn): void {
    this.txns.push(txn);
    this.changes += txn.changes.length;
    this.bytes += estimateTxnBytes(txn);
  }

  full(): boolean {
    return this.changes >= this.maxChanges || this.bytes >= this.maxBytes;
  }

  get length(): number {
    return this.txns.length;
  }

  /** Take everything held (oldest first) and empty the hold. */
  drain(): Txn[] {
    const out = this.txns;
    this.txns = [];
    this.changes = 0;
    this.bytes = 0;
    return out;
  }

  /** Resolves on the next release() (resume or stop). */
  waitForRelease(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  release(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }
}

/** Rough in-memory size of a transaction (strings dominate), for the byte bound. */
export function estimateTxnBytes(txn: Txn): number {
  let n = 128;
  for (const c of txn.changes) {
    n += 96;
    for (const row of [c.after, c.before]) {
      if (!row) continue;
      for (const v of Object.values(row)) {
        if (typeof v === "string") n += v.length * 2 + 16;
        else if (v instanceof Uint8Array) n += v.byteLength + 16;
        else n += 16;
      }
    }
  }
  return n;
}
