import { mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";

/** The spill dir made ready at start: spill files (txn-buffer.ts) of an earlier run are never read again. */
export function cleanSpill(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.endsWith(".spill")) unlinkSync(join(dir, f));
}
