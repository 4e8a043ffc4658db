import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Lsn } from "../../types.ts";

/**
 * Positions of a sink that has no database of its own to keep them in (http, bigquery):
 * a small JSON file under state.dir, replaced atomically (write + rename) after each batch.
 * A crash between a delivery and this write means a resend, which the target recognises by
 * its idempotency key / insertId.
 */
export class LocalPositions {
  private readonly path: string;
  private readonly map = new Map<string, Lsn>();

  constructor(stateDir: string, sinkName: string) {
    mkdirSync(stateDir, { recursive: true });
    this.path = join(stateDir, `sink-${sinkName.replace(/[^A-Za-z0-9_-]/g, "_")}.positions.json`);
    try {
      const raw = JSON.parse(readFileSync(this.path, "utf8")) as Record<string, string>;
      for (const [k, v] of Object.entries(raw)) this.map.set(k, BigInt(v));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }

  get(pipeline: string): Lsn | null {
    return this.map.get(pipeline) ?? null;
  }

  set(pipeline: string, lsn: Lsn): void {
    const cur = this.map.get(pipeline);
    if (cur !== undefined && cur >= lsn) return;
    this.map.set(pipeline, lsn);
    writeAtomically(this.path, JSON.stringify(Object.fromEntries([...this.map].map(([k, v]) => [k, v.toString()]))));
  }
}

/**
 * How far into a batch a sink that sends it in several requests got: every record up to (lsn,
 * index) was delivered or put in the dead-letter queue. A resend after a crash starts after it:
 * a request whose records went to the DLQ was sent again and delivered this time, and replaying
 * the DLQ then delivered them twice. Kept in a file of its own beside the positions.
 */
export class BatchProgress {
  private readonly path: string;
  private readonly map = new Map<string, { lsn: Lsn; index: number }>();

  constructor(stateDir: string, sinkName: string) {
    this.path = join(stateDir, `sink-${sinkName.replace(/[^A-Za-z0-9_-]/g, "_")}.progress.json`);
    try {
      const raw = JSON.parse(readFileSync(this.path, "utf8")) as Record<string, { lsn: string; index: number }>;
      for (const [k, v] of Object.entries(raw)) this.map.set(k, { lsn: BigInt(v.lsn), index: v.index });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }

  /** Done through this record: (lsn, index) at or before it is skipped. */
  done(pipeline: string, r: { lsn: Lsn; index: number }): boolean {
    const p = this.map.get(pipeline);
    return p !== undefined && (r.lsn < p.lsn || (r.lsn === p.lsn && r.index <= p.index));
  }

  mark(pipeline: string, r: { lsn: Lsn; index: number }): void {
    this.map.set(pipeline, { lsn: r.lsn, index: r.index });
    this.save();
  }

  /** The batch is done (its position is stored): forget it. */
  clear(pipeline: string): void {
    if (this.map.delete(pipeline)) this.save();
  }

  private save(): void {
    writeAtomically(this.path, JSON.stringify(Object.fromEntries([...this.map].map(([k, v]) => [k, { lsn: v.lsn.toString(), index: v.index }]))));
  }
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
