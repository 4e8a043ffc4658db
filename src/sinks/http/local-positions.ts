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

type RecordId = { lsn: Lsn; index: number };
type ProgressEntry = { done?: RecordId; unanswered?: { from: RecordId; to: RecordId } };
type RecordIdJson = { lsn: string; index: number };

/**
 * How far into a batch a sink that sends it in several requests got: every record up to (lsn,
 * index) was delivered or put in the dead-letter queue. A resend after a crash starts after it:
 * a request whose records went to the DLQ was sent again and delivered this time, and replaying
 * the DLQ then delivered them twice. Kept in a file of its own beside the positions.
 *
 * Also the request that was sent and left unanswered (stopped mid-request, or held back by an
 * open circuit): the receiver may have stored it, so the resend must carry the same records, and
 * so the same Idempotency-Key, even when the batch after a restart is cut differently.
 */
export class BatchProgress {
  private readonly path: string;
  private readonly map = new Map<string, ProgressEntry>();

  constructor(stateDir: string, sinkName: string) {
    this.path = join(stateDir, `sink-${sinkName.replace(/[^A-Za-z0-9_-]/g, "_")}.progress.json`);
    try {
      // {lsn, index} at the top level is what earlier versions wrote (done only).
      const raw = JSON.parse(readFileSync(this.path, "utf8")) as Record<string, Partial<RecordIdJson> & { unanswered?: { from: RecordIdJson; to: RecordIdJson } }>;
      for (const [k, v] of Object.entries(raw)) {
        const e: ProgressEntry = {};
        if (v.lsn !== undefined && v.index !== undefined) e.done = { lsn: BigInt(v.lsn), index: v.index };
        if (v.unanswered) e.unanswered = { from: idOf(v.unanswered.from), to: idOf(v.unanswered.to) };
        this.map.set(k, e);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }

  /** Done through this record: (lsn, index) at or before it is skipped. */
  done(pipeline: string, r: RecordId): boolean {
    const p = this.map.get(pipeline)?.done;
    return p !== undefined && (r.lsn < p.lsn || (r.lsn === p.lsn && r.index <= p.index));
  }

  mark(pipeline: string, r: RecordId): void {
    this.map.set(pipeline, { done: { lsn: r.lsn, index: r.index } });
    this.save();
  }

  /** A request from `from` to `to` was sent (maybe) and neither delivered nor refused. */
  unanswered(pipeline: string, from: RecordId, to: RecordId): void {
    const e = this.map.get(pipeline) ?? {};
    this.map.set(pipeline, { ...e, unanswered: { from: { lsn: from.lsn, index: from.index }, to: { lsn: to.lsn, index: to.index } } });
    this.save();
  }

  /**
   * How many of `records` (the rest of a batch) make up the unanswered request, to send them
   * again as one request; 0 when there is none, or when it does not start the rest or ends past it.
   */
  unansweredLength(pipeline: string, records: RecordId[]): number {
    const u = this.map.get(pipeline)?.unanswered;
    if (!u || !records.length || !same(records[0], u.from)) return 0;
    return records.findIndex((r) => same(r, u.to)) + 1;
  }

  /** The batch is done (its position is stored): forget it. */
  clear(pipeline: string): void {
    if (this.map.delete(pipeline)) this.save();
  }

  private save(): void {
    const json = (r: RecordId): RecordIdJson => ({ lsn: r.lsn.toString(), index: r.index });
    const out = Object.fromEntries(
      [...this.map].map(([k, v]) => [k, { ...(v.done ? json(v.done) : {}), ...(v.unanswered ? { unanswered: { from: json(v.unanswered.from), to: json(v.unanswered.to) } } : {}) }]),
    );
    writeAtomically(this.path, JSON.stringify(out));
  }
}

const idOf = (r: RecordIdJson): RecordId => ({ lsn: BigInt(r.lsn), index: r.index });
const same = (a: RecordId, b: RecordId) => a.lsn === b.lsn && a.index === b.index;

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
