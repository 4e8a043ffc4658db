import type { Row } from "./types.ts";

/** The columns `cols` of `row` (a key out of a full row). */
export function pick(cols: string[], row: Row): Row {
  const o: Row = {};
  for (const c of cols) o[c] = row[c];
  return o;
}

/** Whether the key columns `cols` differ between `a` (the old row or key) and `b`; a column `a` lacks counts as unchanged. */
export function keyChanged(cols: string[], a: Row, b: Row): boolean {
  for (const c of cols) {
    if (!(c in a)) return false;
    const x = a[c];
    const y = b[c];
    if (x instanceof Uint8Array && y instanceof Uint8Array) {
      if (Buffer.compare(x, y) !== 0) return true;
    } else if (x !== y) return true;
  }
  return false;
}
