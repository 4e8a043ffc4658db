/**
 * How far the slot may be confirmed while two-phase transactions are around.
 *
 * On a restart the server decodes from the slot's confirmed position F: it skips a PREPARE that
 * starts before F and sends a COMMIT PREPARED that starts at or after F. A transaction with
 * PREPARE < F <= COMMIT PREPARED therefore comes back as a bare COMMIT PREPARED, without its
 * changes, and the reader can only stop (prepared_lost). Holding F at the oldest *open* PREPARE
 * is not enough: with p1 and p2 prepared and p1 committed, F sits at p2's PREPARE, which lies
 * between p1's PREPARE and its commit. So a transaction keeps its hold after COMMIT PREPARED until
 * the confirmed position has passed its commit, and F is lowered to the PREPARE of every
 * transaction whose commit F would not pass (fixed point: lowering F can catch another one).
 * Holds outlive a reconnect (the changes are dropped and sent again, the hold is not).
 */
import type { Lsn } from "../../types.ts";

interface Hold {
  prepareLsn: Lsn;
  /** Set at COMMIT PREPARED; null while the transaction is still prepared. */
  commitLsn: Lsn | null;
}

export class PreparedHolds {
  private holds = new Map<number, Hold>();

  prepared(xid: number, prepareLsn: Lsn): void {
    const h = this.holds.get(xid);
    if (!h || prepareLsn < h.prepareLsn) this.holds.set(xid, { prepareLsn, commitLsn: null });
  }

  committed(xid: number, commitLsn: Lsn): void {
    const h = this.holds.get(xid);
    if (h) h.commitLsn = commitLsn;
  }

  /** ROLLBACK PREPARED: sent again after a restart only together with its PREPARE, or not at all. */
  rolledBack(xid: number): void {
    this.holds.delete(xid);
  }

  /** The position to confirm instead of `flush`; forgets the transactions it has passed for good. */
  cap(flush: Lsn): Lsn {
    let f = flush;
    for (let changed = true; changed; ) {
      changed = false;
      for (const h of this.holds.values()) {
        if ((h.commitLsn === null || h.commitLsn >= f) && h.prepareLsn < f) {
          f = h.prepareLsn;
          changed = true;
        }
      }
    }
    for (const [xid, h] of this.holds) if (h.commitLsn !== null && h.commitLsn < f) this.holds.delete(xid);
    return f;
  }
}
