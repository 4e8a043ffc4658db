import { arrayDelimiter, boundsPrefix } from "../../array-bounds.ts";
/**
 * Values to Postgres text input form, sent as untyped parameters so the server parses them
 * with the target column's own input function: int8 and numeric stay exact (bigint /
 * decimal strings are never turned into floats), timestamps keep their microseconds.
 */
export function toPgText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case "string":
      return v;
    case "bigint":
      return v.toString();
    case "boolean":
      return v ? "t" : "f";
    case "number":
      // String(-0) is "0": a float -0 (which Postgres keeps) would come out as 0.
      return Number.isFinite(v) ? (Object.is(v, -0) ? "-0" : String(v)) : Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  }
  if (v instanceof Uint8Array) return "\\x" + Buffer.from(v).toString("hex");
  if (Array.isArray(v)) return arrayLiteral(v);
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}

/** A Postgres array literal: {a,"b c",NULL,{1,2}} ([0:1]={...} when a lower bound is not 1). Elements are always quoted except NULL and nested arrays. */
export function arrayLiteral(items: unknown[], delim: string = arrayDelimiter(items)): string {
  const parts = items.map((x) => {
    if (x === null || x === undefined) return "NULL";
    if (Array.isArray(x)) return arrayLiteral(x, delim);
    const s = toPgText(x)!;
    return '"' + s.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  });
  return boundsPrefix(items) + "{" + parts.join(delim) + "}";
}

/** A quoted identifier: any name is safe, including `weird"name;drop`. */
export function qi(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

/** "schema.table" → ["schema", "table"] (split at the first dot; a bare name goes to `defaultSchema`). */
export function splitTable(name: string, defaultSchema = "public"): [string, string] {
  const i = name.indexOf(".");
  return i < 0 ? [defaultSchema, name] : [name.slice(0, i), name.slice(i + 1)];
}

export function qualified(name: string, defaultSchema = "public"): string {
  const [s, t] = splitTable(name, defaultSchema);
  return `${qi(s)}.${qi(t)}`;
}
