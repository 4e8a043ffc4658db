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

/** Parse one select item (`expr [AS alias]`) or a bare expression. */
export function parseItem(text: string): SelectItem {
  let ast: Ast;
  try {
    ast = parser.astify(`SELECT ${text} FROM t`, { database: "postgresql" });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new ParseError(`syntax error${/found (.*)\.$/.exec(msg)?.[1] ? ` near ${/found (.*)\.$/.exec(msg)![1]}` : ""}`);
  }
  const stmt = Array.isArray(ast) ? ast[0] : ast;
  if (!stmt || stmt.type !== "select" || !Array.isArray(stmt.columns) || stmt.columns.length !== 1 || stmt.where || stmt.groupby) {
    throw new ParseError("expected exactly one expression");
  }
  const col = stmt.columns[0];
  return { expr: fixLogic(col.expr), alias: typeof col.as === "string" ? col.as : (col.as?.value ?? null) };
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
