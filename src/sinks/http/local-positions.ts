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
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries([...this.map].map(([k, v]) => [k, v.toString()]))));
    renameSync(tmp, this.path);
  }
}
