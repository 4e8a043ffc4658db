/**
 * Whether a sink column should follow a source column that was retyped to a wider type
 * (`ALTER TABLE ... ALTER COLUMN id TYPE bigint`). Without it every value past the old type's
 * range went to the dead-letter queue. Only widening inside one family of built-in types is
 * followed (smallint → integer → bigint → numeric, real → double precision, a longer varchar or
 * text, a numeric with room for more digits), and only in tables the engine created (ddl.ts
 * MANAGED_COMMENT): a column the user made narrower on purpose is left alone. Nothing is narrowed.
 * Both types are format_type() text, as describeTable() and the source give them.
 */
const INT_RANK: Record<string, number> = { smallint: 1, integer: 2, bigint: 3 };
/** Digits before the decimal point an integer type needs. */
const INT_DIGITS: Record<string, number> = { smallint: 5, integer: 10, bigint: 19 };

function numericOf(t: string): { p: number; s: number } | null | undefined {
  if (t === "numeric") return null; // unconstrained
  const m = /^numeric\((\d+),(\d+)\)$/.exec(t);
  return m ? { p: Number(m[1]), s: Number(m[2]) } : undefined;
}

function varcharOf(t: string): number | null | undefined {
  if (t === "text" || t === "character varying") return null; // unbounded
  const m = /^character varying\((\d+)\)$/.exec(t);
  return m ? Number(m[1]) : undefined;
}

export function widensTo(sinkType: string, sourceType: string): boolean {
  if (sinkType === sourceType) return false;
  if (sinkType in INT_RANK) {
    if (sourceType in INT_RANK) return INT_RANK[sourceType] > INT_RANK[sinkType];
    const n = numericOf(sourceType);
    return n === null || (n !== undefined && n.p - n.s >= INT_DIGITS[sinkType]);
  }
  if (sinkType === "real") return sourceType === "double precision";
  const from = numericOf(sinkType);
  if (from !== undefined && from !== null) {
    const to = numericOf(sourceType);
    return to === null || (to !== undefined && to.s >= from.s && to.p - to.s >= from.p - from.s);
  }
  const len = varcharOf(sinkType);
  if (len !== undefined && sinkType !== "text") {
    const to = varcharOf(sourceType);
    if (to === undefined) return false;
    if (to === null) return len !== null || sourceType === "text";
    return len !== null && to > len;
  }
  return false;
}
