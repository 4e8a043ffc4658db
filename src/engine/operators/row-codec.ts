import type { Row } from "../../types.ts";

/** Rows in checkpoints: bigint and bytes kept exact inside plain JSON. */
export function encodeRow(row: Row | null | undefined): unknown {
  if (!row) return null;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (typeof v === "bigint") out[k] = { $b: v.toString() };
    else if (v instanceof Uint8Array) out[k] = { $x: Buffer.from(v).toString("hex") };
    else out[k] = v;
  }
  return out;
}

export function decodeRow(o: unknown): Row | null {
  if (!o) return null;
  const out: Row = {};
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if (v && typeof v === "object" && !Array.isArray(v) && "$b" in v) out[k] = BigInt((v as { $b: string }).$b);
    else if (v && typeof v === "object" && !Array.isArray(v) && "$x" in v) out[k] = new Uint8Array(Buffer.from((v as { $x: string }).$x, "hex"));
    else out[k] = v;
  }
  return out;
}
