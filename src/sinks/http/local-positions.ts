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
 * How far into the stream a sink that sends a batch in several requests got, by record identity
 * (lsn, index), not by batch: every record up to `done` was delivered or put in the dead-letter
 * queue, and `unanswered` is the request sent last and not known to be answered. Kept in a file of
 * its own beside the positions, until the stored position has passed every record it names: the
 * batches after a restart are cut differently (whole transactions, but not the same ones), so a
 * first batch that ends before the mark must not erase it (QA: it did, and the next batch was sent
 * again from its first record under new keys). A resend skips through `done` (a record that went to
 * the DLQ and was then delivered by the resend was delivered twice by `dlq replay`), and sends the
 * unanswered request again as it was, so under the same Idempotency-Key: the receiver may have
 * stored it (a kill -9 or a stop in the middle of the request, or an open circuit).
 */
export class BatchProgress {
  private readonly path: string;
  private readonly map = new Map<string, ProgressEntry>();

  constructor(stateDir: string, sinkName: string) {
    this.path = join(stateDir, `sink-${sinkName.replace(/[^A-Za-z0-9_-]/g, "_")}.progress.json`);
    try {
      // {lsn, index} at the top level is the mark (`done`); earlier versions wrote only that.
      const raw = JSON.parse(readFileSync(this.path, "utf8")) as Record<string, Partial<RecordIdJson> & { unanswered?: { from: RecordIdJson; to: RecordIdJson } }>;
      for (const [k, v] of Object.entries(raw)) {
        const e: ProgressEntry = {};
        if (v.lsn !== undefined && v.index !== undefined) e.done = { lsn: BigInt(v.lsn), index: v.index };
        if (v.unanswered) e.unanswered = { from: parseId(v.unanswered.from), to: parseId(v.unanswered.to) };
        this.map.set(k, e);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }

  /** Done through the mark: (lsn, index) at or before it is skipped. */
  done(pipeline: string, r: RecordId): boolean {
    const p = this.map.get(pipeline)?.done;
    return p !== undefined && (r.lsn < p.lsn || (r.lsn === p.lsn && r.index <= p.index));
  }

  /**
   * Before sending the request `from`..`to`: saved first, so that after a kill -9 in the middle
   * of it the resend carries the same records. `done` (the last record of the request before, if
   * this batch sent one) moves the mark in the same write; otherwise the mark stays as it is.
   */
  sending(pipeline: string, done: RecordId | undefined, from: RecordId, to: RecordId): void {
    const mark = done ? idOf(done) : this.map.get(pipeline)?.done;
    this.map.set(pipeline, { ...(mark ? { done: mark } : {}), unanswered: { from: idOf(from), to: idOf(to) } });
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

  /** The position `lsn` is stored: forget the entry once every record it names is at or below it (the fence skips those). */
  passed(pipeline: string, lsn: Lsn): void {
    const e = this.map.get(pipeline);
    if (!e) return;
    const ids = [e.done, e.unanswered?.from, e.unanswered?.to].filter((r) => r !== undefined);
    if (ids.every((r) => r.lsn <= lsn) && this.map.delete(pipeline)) this.save();
  }

  private save(): void {
    const json = (r: RecordId): RecordIdJson => ({ lsn: r.lsn.toString(), index: r.index });
    const out = Object.fromEntries(
      [...this.map].map(([k, v]) => [k, { ...(v.done ? json(v.done) : {}), ...(v.unanswered ? { unanswered: { from: json(v.unanswered.from), to: json(v.unanswered.to) } } : {}) }]),
    );
    writeAtomically(this.path, JSON.stringify(out));
  }
}

const parseId = (r: RecordIdJson): RecordId => ({ lsn: BigInt(r.lsn), index: r.index });
/** Only the identity of a record (an OutputRecord carries its row too). */
const idOf = (r: RecordId): RecordId => ({ lsn: r.lsn, index: r.index });
const same = (a: RecordId, b: RecordId) => a.lsn === b.lsn && a.index === b.index;

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
