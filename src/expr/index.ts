import type { Row } from "../types.ts";
import { compile, type Compiled } from "./compile.ts";
import { parseExpr } from "./parse.ts";
import { makeScope } from "./scope.ts";
import { type XType, toRow, typeOfColumn } from "./types.ts";

export { Dec } from "./decimal.ts";
export { parseTimestamp, formatTimestamp } from "./time.ts";
export type { XType } from "./types.ts";

/**
 * One expression compiled against named, typed columns; `eval` takes and returns values in
 * row form (numeric as decimal text, timestamps as Postgres text). For tests and tools.
 */
export function compileExpression(
  text: string,
  columns: { name: string; typeOid: number; typeName?: string }[],
  maps: Record<string, Map<string, string>> = {},
): { type: XType; eval(row: Row): unknown; compiled: Compiled } {
  const cols = new Map(columns.map((c) => [c.name, { name: c.name, type: typeOfColumn(c) }]));
  const scope = makeScope([{ qualifiers: [], columns: cols }], maps);
  const c = compile(parseExpr(text), scope);
  return { type: c.type, compiled: c, eval: (row) => toRow(c.type.kind, c.fn(row)) };
}
