import type { Column, Row } from "../types.ts";
import { toJsonText } from "../sinks/json.ts";

/**
 * Exact JSON for rows kept outside memory (the DLQ): bigint is written as its digits and
 * read back as bigint; bytea is written as base64 and read back as bytes when the column
 * type says so. Everything else round-trips through JSON as the source decoded it.
 */
const INT8_OID = 20;
const BYTEA_OID = 17;

export function encodeRow(row: Row): string {
  return toJsonText(row);
}

export function decodeRow(text: string, columns: Column[] = []): Row {
  const types = new Map(columns.map((c) => [c.name, c.typeOid]));
  // The reviver's third argument gives the literal's source text, so large integers keep every digit.
  const row = JSON.parse(text, function (this: unknown, key: string, value: unknown, ctx?: { source?: string }) {
    if (typeof value === "number" && ctx?.source && /^-?\d+$/.test(ctx.source)) {
      if (types.get(key) === INT8_OID || !Number.isSafeInteger(value)) return BigInt(ctx.source);
    }
    return value;
  } as (this: unknown, key: string, value: unknown) => unknown) as Row;
  for (const [name, oid] of types) {
    if (oid === BYTEA_OID && typeof row[name] === "string") row[name] = new Uint8Array(Buffer.from(row[name] as string, "base64"));
  }
  return row;
}
