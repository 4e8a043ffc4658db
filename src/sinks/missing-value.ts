import type { Column } from "../types.ts";

/** Types whose text a row carries as is (or as a boolean): a sink's own value path takes it. */
const AS_TEXT = new Set([20, 21, 23, 700, 701, 1700, 25, 1043, 1042, 1082, 1083, 1114, 1184, 2950, 114, 3802]);

/**
 * A column's missing value (Column.missing: what the source's rows read for a column added with a
 * constant default) as a row value, for a sink that fills the rows it has with an UPDATE (mysql,
 * sqlite). undefined when there is none, or for a type whose text a row does not carry as is
 * (arrays, bytea, ranges…): those sinks add such a column empty, and say so.
 */
export function missingRowValue(c: Column): unknown {
  if (c.missing === undefined) return undefined;
  if (c.typeOid === 16) return c.missing === "t" ? true : c.missing === "f" ? false : undefined;
  return AS_TEXT.has(c.typeOid) ? c.missing : undefined;
}
