/**
 * Whether a MySQL/MariaDB column should follow a source column retyped to a wider type
 * (`ALTER TABLE ... ALTER COLUMN id TYPE bigint` in Postgres): without it every value past the
 * old type's range went to the dead-letter queue ("Out of range value"). Only widening inside
 * one family is followed (SMALLINT → INT → BIGINT → DECIMAL, FLOAT → DOUBLE, a longer VARCHAR
 * or a TEXT type, a DECIMAL with room for more digits), and only in tables the engine created
 * (ddl.ts MANAGED_COMMENT): a column the user made narrower on purpose is left alone. Nothing is narrowed.
 * `have` is information_schema's COLUMN_TYPE ("smallint(6)", "varchar(10)"), `want` what
 * columnType() gives for the source column now ("BIGINT", "VARCHAR(20)").
 */
const INT_RANK: Record<string, number> = { tinyint: 1, smallint: 2, mediumint: 3, int: 4, bigint: 5 };
const INT_DIGITS: Record<string, number> = { tinyint: 3, smallint: 5, mediumint: 7, int: 10, bigint: 19 };
const TEXT_RANK: Record<string, number> = { tinytext: 1, text: 2, mediumtext: 3, longtext: 4 };
/** Characters each TEXT type holds for sure (utf8mb4: 4 bytes a character). */
const TEXT_CHARS: Record<string, number> = { tinytext: 63, text: 16383, mediumtext: 4194303, longtext: 1073741823 };

interface Parsed {
  base: string;
  n?: number;
  s?: number;
  unsigned: boolean;
}

function parse(t: string): Parsed {
  const m = /^\s*([a-z]+)\s*(?:\((\d+)(?:\s*,\s*(\d+))?\))?\s*(unsigned)?/i.exec(t);
  if (!m) return { base: t.toLowerCase(), unsigned: false };
  return { base: m[1].toLowerCase(), n: m[2] ? Number(m[2]) : undefined, s: m[3] ? Number(m[3]) : undefined, unsigned: !!m[4] };
}

export function mysqlWidensTo(have: string, want: string): boolean {
  const a = parse(have);
  const b = parse(want);
  if (a.unsigned || b.unsigned) return false;
  if (a.base in INT_RANK) {
    if (b.base in INT_RANK) return INT_RANK[b.base] > INT_RANK[a.base];
    return b.base === "decimal" && (b.n ?? 10) - (b.s ?? 0) >= INT_DIGITS[a.base];
  }
  if (a.base === "float") return b.base === "double";
  if (a.base === "decimal") {
    if (b.base === "decimal") return (b.s ?? 0) >= (a.s ?? 0) && (b.n ?? 10) - (b.s ?? 0) >= (a.n ?? 10) - (a.s ?? 0) && (b.n !== a.n || b.s !== a.s);
    return b.base === "longtext"; // wider than DECIMAL(65): kept as exact text
  }
  if (a.base === "varchar") {
    if (b.base === "varchar") return (b.n ?? 0) > (a.n ?? 0);
    return b.base in TEXT_RANK && TEXT_CHARS[b.base] >= (a.n ?? 0);
  }
  if (a.base in TEXT_RANK) return b.base in TEXT_RANK && TEXT_RANK[b.base] > TEXT_RANK[a.base];
  return false;
}
