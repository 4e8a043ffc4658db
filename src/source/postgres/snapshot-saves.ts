import type { Lsn } from "../../types.ts";
import type { SnapshotState, TableProgress } from "./snapshot-state.ts";

/**
 * When snapshot progress (and the slot's removals) may be saved: only once what the engine took
 * is durable in every sink, i.e. a checkpoint cut after it is stored, or a position past the
 * snapshot is confirmed. A crash before that re-reads those chunks (upserts) instead of
 * skipping rows that never reached a sink.
 */
export class SnapshotSaves {
  /** The slot's removals (gap-deletes.ts) went to the engine; saved until a cut after them is stored. */
  removalsHanded = false;
  /**
   * A confirmed position above this proves that every snapshot chunk is durable: only a
   * checkpoint after a streamed transaction (which comes after the snapshot) gets there.
   */
  barrier: Lsn | null = null;
  /** Snapshot progress the engine has taken but not yet made durable (see cut()). */
  private unsaved = new Map<string, TableProgress>();
  /** What was saved last per table (saved progress never goes back). */
  private saved = new Map<string, TableProgress>();

  constructor(
    private slot: string,
    /** Null once the source shut down: nothing is saved then. */
    private state: () => SnapshotState | null,
  ) {}

  /** The engine took a chunk: its progress is saved once durable. */
  handed(p: TableProgress): void {
    this.unsaved.set(p.table, p);
  }

  /**
   * The engine cuts a checkpoint: the chunks handed over so far belong to it, and once it is
   * stored they are durable in every sink, so their progress can be saved.
   */
  cut(): () => void {
    const atCut = new Map(this.unsaved);
    // A cut taken after the removals were handed over holds them: once it is stored they are durable.
    const removals = this.removalsHanded;
    return () => {
      this.save(atCut);
      const state = this.state();
      if (removals && state) {
        state.setRemovals(this.slot, null);
        this.removalsHanded = false;
      }
    };
  }

  /** A position was confirmed. */
  confirmed(lsn: Lsn): void {
    // Past the snapshot's position: a checkpoint after the snapshot, so every chunk is durable.
    if (this.unsaved.size && this.barrier !== null && lsn > this.barrier) this.save(new Map(this.unsaved));
  }

  private save(entries: Map<string, TableProgress>): void {
    const state = this.state();
    if (!state) return;
    for (const [table, p] of entries) {
      const saved = this.saved.get(table);
      // Cuts are stored in order, but confirm() may have saved a later state already: never go back.
      if (!saved || p.rowsDone > saved.rowsDone || (p.done && !saved.done)) {
        state.save(this.slot, p);
        this.saved.set(table, p);
      }
      if (this.unsaved.get(table) === p) this.unsaved.delete(table); // nothing newer handed over since
    }
  }
}
