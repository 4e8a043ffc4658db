import { Parser } from "node-sql-parser/build/postgresql";

/**
 * Expressions are parsed by node-sql-parser's PostgreSQL grammar as `SELECT <expr> FROM t`,
 * once, at config load. Its AST is loose JSON, so it is typed as `Ast` here and checked by
 * the compiler node by node.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Ast = any;

const parser = new Parser();

export class ParseError extends Error {}

export interface SelectItem {
  expr: Ast;
  alias: string | null;
}

/**
 * The grammar reads some number literals through a JS double: a decimal whose integer part is
 * below 2^53 (`parseFloat(...).toFixed(n)`: `0.12345678901234567890` came back as
 * 0.12345678901234567737) and a negative integer (`-9223372036854775808` as
 * -9223372036854776000). A literal with more than 15 significant digits is handed to it as
 * `CAST('…' AS numeric)` (an integer that fits int8: `AS bigint`, its type as a literal) instead,
 * which keeps its digits. Quoted text and identifiers are left alone.
 */
export function exactLiterals(text: string): string {
  if (!/\d[\d.]{15}/.test(text)) return text; // no literal long enough
  return text.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|[A-Za-z_$][\w$]*|(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?(?![\w.])/g, (tok, num: string | undefined, exp: string | undefined) => {
    if (num === undefined || num.replace(/\D/g, "").replace(/^0+/, "").length <= 15) return tok;
    const int8 = !exp && /^\d+$/.test(num) && BigInt(num) <= 9223372036854775807n;
    return `(CAST('${num}${exp ?? ""}' AS ${int8 ? "bigint" : "numeric"}))`;
  });
}

/**
 * In Postgres `::` binds tighter than a unary minus: `-0.0::float8` is -(0.0::float8), a double
 * -0, and `-5::text` is -(5::text), an error. The grammar takes the minus into the literal
 * instead, and for a zero drops it (`-0.0` came back as 0.0): `-0.0::float8` gave 0. A minus
 * right before a number literal that is cast with `::` is put outside it: `-(0.0)::float8`.
 */
export function unaryMinusBeforeCast(text: string): string {
  if (!/-\s*[\d.][\d.eE+-]*\s*::/.test(text)) return text;
  // quoted text, identifiers and numbers (1e-5) are tokens of their own; the space before the
  // minus keeps `a-(2)` from being read as a call of a function named `a-`
  return text.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|[A-Za-z_$][\w$]*|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?|-(\s*)((?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)(?=\s*::)/g, (tok, space: string | undefined, num: string | undefined) =>
    num === undefined ? tok : ` -${space}(${num})`);
}

/** Parse one select item (`expr [AS alias]`) or a bare expression. */
export function parseItem(text: string): SelectItem {
  let ast: Ast;
  try {
    ast = parser.astify(`SELECT ${exactLiterals(unaryMinusBeforeCast(text))} FROM t`, { database: "postgresql" });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new ParseError(`syntax error${/found (.*)\.$/.exec(msg)?.[1] ? ` near ${/found (.*)\.$/.exec(msg)![1]}` : ""}`);
  }
  const stmt = Array.isArray(ast) ? ast[0] : ast;
  if (!stmt || stmt.type !== "select" || !Array.isArray(stmt.columns) || stmt.columns.length !== 1 || stmt.where || stmt.groupby) {
    throw new ParseError("expected exactly one expression");
  }
  const col = stmt.columns[0];
  return { expr: fixLogic(castAfterCast(col)), alias: typeof col.as === "string" ? col.as : (col.as?.value ?? null) };
}

/**
 * `CAST(x AS a)::b` takes a path of its own in the grammar: the item itself is the `::` cast, and
 * what follows it (`+ 1`) comes as a `tail` without precedence; `1 + CAST(x AS a)::b` comes back as
 * (1 + CAST(x AS a))::b. Reading only the item's `expr` dropped the `::b` and the tail, so the
 * value was silently wrong. The item on its own is kept; anything around it is refused.
 */
function castAfterCast(col: Ast): Ast {
  if (col.type !== "cast") return col.expr;
  if (!col.tail && col.expr?.type === "cast") return { type: "cast", symbol: "::", expr: col.expr, target: col.target };
  throw new ParseError("'CAST(…)::type' inside a larger expression is read wrongly by the parser: write (CAST(x AS a))::b or CAST(CAST(x AS a) AS b)");
}

export function parseExpr(text: string): Ast {
  const item = parseItem(text);
  if (item.alias) throw new ParseError(`unexpected alias '${item.alias}' here`);
  return item.expr;
}

const LOGIC = new Set(["AND", "OR"]);

/**
 * The grammar nests unparenthesised AND/OR chains to the right without precedence
 * (`a AND b OR c` comes back as a AND (b OR c)). Flatten each such chain and rebuild it with
 * SQL precedence: AND binds tighter than OR, both left-associative.
 */
export function fixLogic(node: Ast): Ast {
  if (!node || typeof node !== "object") return node;
  if (Array.isArray(node)) return node.map(fixLogic);
  if (node.type === "binary_expr" && LOGIC.has(String(node.operator).toUpperCase())) {
    const operands: Ast[] = [];
    const ops: string[] = [];
    let cur: Ast = node;
    let first = true;
    while (cur && cur.type === "binary_expr" && LOGIC.has(String(cur.operator).toUpperCase()) && (first || !cur.parentheses)) {
      operands.push(fixLogic(cur.left));
      ops.push(String(cur.operator).toUpperCase());
      cur = cur.right;
      first = false;
    }
    operands.push(fixLogic(cur));
    // Split on OR; each part is an AND chain.
    const orParts: Ast[] = [];
    let acc = operands[0];
    for (let i = 0; i < ops.length; i++) {
      if (ops[i] === "AND") acc = { type: "binary_expr", operator: "AND", left: acc, right: operands[i + 1] };
      else {
        orParts.push(acc);
        acc = operands[i + 1];
      }
    }
    orParts.push(acc);
    let out = orParts[0];
    for (let i = 1; i < orParts.length; i++) out = { type: "binary_expr", operator: "OR", left: out, right: orParts[i] };
    if (node.parentheses) out = { ...out, parentheses: true };
    return out;
  }
  const out: Ast = {};
  for (const [k, v] of Object.entries(node)) out[k] = typeof v === "object" ? fixLogic(v) : v;
  return out;
}

/** Source text of a string literal as the parser keeps it ('it''s' → it's). */
export function stringValue(node: Ast): string {
  const v = String(node.value);
  return node.type === "single_quote_string" ? v.replace(/''/g, "'") : v;
}
