import type { Logger } from "pino";

/** One window per (sink, pipeline, table): the first dead letter is logged whole, the rest counted. */
export const DEAD_LETTER_LOG_WINDOW_MS = 10_000;

interface Window {
  sink: string;
  pipeline: string;
  table: string;
  /** Dead letters after the first of this window, and the last one's error. */
  more: number;
  lastError: string;
  timer: ReturnType<typeof setTimeout> | null;
}

/**
 * Logs the records sinks send to the dead-letter queue without a line per record: a table the
 * sink refuses (a shape MySQL cannot hold, a name BigQuery refuses) logged one warn line of
 * ~700 bytes for each of its rows, a million for a million-row table. As Vector's internal log
 * rate limit does: the first of each (sink, pipeline, table) in a 10-s window is logged with its
 * error, the others of the window in one line at its end with their count and the last error.
 * The queue itself (`dlq list`) and cdc_engine_dlq_* metrics still have every record.
 */
export class DeadLetterLog {
  private windows = new Map<string, Window>();

  constructor(
    private log: Logger,
    private windowMs = DEAD_LETTER_LOG_WINDOW_MS,
  ) {}

  note(sink: string, pipeline: string, table: string, error: string): void {
    const key = `${sink}\u0000${pipeline}\u0000${table}`;
    const w = this.windows.get(key);
    if (w) {
      w.more++;
      w.lastError = error;
      return;
    }
    this.log.warn({ sink, pipeline, table, error }, "record sent to the dead-letter queue");
    const fresh: Window = { sink, pipeline, table, more: 0, lastError: error, timer: null };
    fresh.timer = setTimeout(() => this.close(key), this.windowMs);
    fresh.timer.unref?.();
    this.windows.set(key, fresh);
  }

  /** Logs what each open window counted (at stop: nothing counted is left unsaid). */
  flush(): void {
    for (const key of [...this.windows.keys()]) this.close(key);
  }

  private close(key: string): void {
    const w = this.windows.get(key);
    if (!w) return;
    if (w.timer) clearTimeout(w.timer);
    this.windows.delete(key);
    if (w.more === 0) return;
    const { sink, pipeline, table, more, lastError } = w;
    this.log.warn({ sink, pipeline, table, records: more, lastError, windowMs: this.windowMs }, `${more} more records of ${table} sent to the dead-letter queue`);
  }
}
