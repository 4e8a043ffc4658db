/**
 * While streaming: heartbeats (so an idle slot advances) and the slot's lag, exported as
 * metrics, with a warning (at most once a minute) when the WAL retained behind the slot nears
 * max_slot_wal_keep_size; and whether the publication still covers the captured tables.
 */
import type { Logger } from "pino";
import type { Pg } from "../../db/postgres-client.ts";
import { errorMessage } from "../../errors.ts";
import { slotRetainedBytes, sourceLagBytes, sourceLagSeconds } from "../../metrics/metrics.ts";
import { getSlot, type SlotInfo } from "./slot.ts";
import { HEARTBEAT_PREFIX } from "./stream-reader.ts";
import type { PublicationWatch } from "./publication-watch.ts";

export interface SlotMonitorOptions {
  sql(): Pg | null;
  slot: string;
  heartbeatMs: number;
  serverVersion: number;
  warnRatio: number;
  lagSeconds(): number;
  log: Logger;
  /** checked on each refresh: a captured table taken out of the publication by hand */
  publication?: PublicationWatch;
}

export class SlotMonitor {
  info: SlotInfo | null = null;
  private timers: ReturnType<typeof setInterval>[] = [];
  private lastWarn = 0;

  constructor(private o: SlotMonitorOptions) {}

  start(): void {
    const o = this.o;
    if (o.heartbeatMs > 0 && o.serverVersion >= 140000) {
      // Non-transactional message: decoded by every slot of the database without a commit, so an
      // idle slot advances even when the captured tables see no writes.
      this.timers.push(
        setInterval(() => {
          o.sql()?.unsafe(`select pg_logical_emit_message(false, '${HEARTBEAT_PREFIX}', $1)`, [o.slot]).catch((e: unknown) => o.log.debug({ err: errorMessage(e) }, "heartbeat failed"));
        }, o.heartbeatMs),
      );
    }
    const every = Math.max(1000, Math.min(o.heartbeatMs || 10_000, 10_000));
    this.timers.push(setInterval(() => void this.refresh(), every));
    // At once too: until the first round, /status and /metrics said lag 0 for a start ~9 MB behind (QA).
    void this.refresh();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private async refresh(): Promise<void> {
    const sql = this.o.sql();
    if (!sql) return;
    await this.o.publication?.check(sql).catch((e: unknown) => this.o.log.debug({ err: errorMessage(e) }, "publication query failed"));
    try {
      const s = (this.info = await getSlot(sql, this.o.slot));
      if (!s) return;
      sourceLagBytes.set(s.lagBytes ?? 0);
      slotRetainedBytes.set(s.retainedBytes ?? 0);
      sourceLagSeconds.set(this.o.lagSeconds());
      if (s.maxKeepBytes && s.retainedBytes && s.retainedBytes > s.maxKeepBytes * this.o.warnRatio && Date.now() - this.lastWarn > 60_000) {
        this.lastWarn = Date.now();
        this.o.log.warn(
          { slot: s.name, retainedBytes: s.retainedBytes, maxSlotWalKeepSize: s.maxKeepBytes },
          `slot ${s.name} retains ${s.retainedBytes} bytes of WAL, near max_slot_wal_keep_size: the slot will be invalidated if the engine does not catch up`,
        );
      }
    } catch (e) {
      this.o.log.debug({ err: errorMessage(e) }, "lag query failed");
    }
  }
}
