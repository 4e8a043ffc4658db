/**
 * Where generated timestamps come from. Unseeded runs use the wall clock (live pipelines window
 * on event time near now). Seeded runs must be reproducible, so they use a virtual clock: a fixed
 * base plus the row schedule (row i of a run at `rate` rows/s is at base + i / rate seconds).
 */
export const SEEDED_BASE_MS = Date.UTC(2025, 5, 1, 0, 0, 0);

export interface Clock {
  /** Microseconds since the epoch for the row about to be generated. */
  nowMicros(): number;
  /** True when values must not depend on the wall clock (seeded). */
  readonly virtual: boolean;
}

export class WallClock implements Clock {
  readonly virtual = false;
  private last = 0;
  nowMicros(): number {
    // performance.timeOrigin + now() gives sub-millisecond resolution; keep it strictly increasing.
    const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
    this.last = us > this.last ? us : this.last + 1;
    return this.last;
  }
}

export class VirtualClock implements Clock {
  readonly virtual = true;
  private rows = 0;
  /** `ratePerSec` 0 (unlimited) spaces rows 1 ms apart. */
  constructor(
    private readonly baseMs: number,
    private readonly ratePerSec: number,
  ) {}
  nowMicros(): number {
    const step = this.ratePerSec > 0 ? 1_000_000 / this.ratePerSec : 1000;
    return this.baseMs * 1000 + Math.floor(this.rows++ * step);
  }
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** `2025-06-01 12:00:00.123456+00` (timestamptz text, microseconds kept). */
export function tsTz(us: number): string {
  const ms = Math.floor(us / 1000);
  const d = new Date(ms);
  const micro = us - Math.floor(us / 1_000_000) * 1_000_000;
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(micro, 6)}+00`;
}

/** `2017-10-02 10:56:33` (timestamp without time zone, whole seconds, like the Olist export). */
export function tsSec(us: number): string {
  const d = new Date(Math.floor(us / 1000));
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** Midnight of the day of `us`, as timestamp text (Olist's estimated delivery and review dates). */
export function tsDay(us: number): string {
  const d = new Date(Math.floor(us / 1000));
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} 00:00:00`;
}

export const MICROS = { second: 1_000_000, minute: 60_000_000, hour: 3_600_000_000, day: 86_400_000_000 } as const;
