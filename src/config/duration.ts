/**
 * Durations: "500ms", "30s", "5m", "1h", "2d"; a bare number reads as milliseconds here, but the
 * config (fields.ts, except 0) and the generator's flags refuse it: see unitless.
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string | number): number | null {
  if (typeof text === "number") return Number.isFinite(text) && text >= 0 ? text : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return null;
  return Math.round(Number(m[1]) * UNITS[m[2] ?? "ms"]);
}

/** The number of a duration written without a unit ("5", 5), or undefined: `5` read as 5 ms was a silent misreading. */
export function unitless(v: string | number): string | undefined {
  return typeof v === "number" ? String(v) : /^\s*(\d+(?:\.\d+)?)\s*$/.exec(v)?.[1];
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
