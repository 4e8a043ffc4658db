import type { OutputRecord } from "../sinks/sink.ts";

/** Rough size of a record in memory, for a writer's byte bound (strings dominate). */
export function recordBytes(r: OutputRecord): number {
  // A row the source sent as text: its wire size says it without visiting every value.
  if (r.wire !== undefined) return 64 + 24 * r.table.columns.length + 3 * (r.wire.end - r.wire.at);
  let n = 64;
  const row = r.row;
  // for-in, not Object.values(): no array per record (this ran for every record of every writer, 5-9% of the engine's CPU in bench/latency.ts and bench/lib/apply-wal.ts).
  for (const k in row) {
    const v = row[k];
    if (typeof v === "string") n += v.length * 2 + 16;
    else if (v instanceof Uint8Array) n += v.byteLength + 16;
    else n += 16;
  }
  return n;
}
