import type { Row } from "../../types.ts";
import type { Compiled, Scope } from "../../expr/compile.ts";
import { compile, CompileError, recordingScope } from "../../expr/compile.ts";
import type { Ast } from "../../expr/parse.ts";
import { type XType, toRow } from "../../expr/types.ts";
import { EvalError } from "../../expr/values.ts";
import type { ScopeColumn } from "../../expr/scope.ts";

/** Parsed (not yet typed) stateless stages of a pipeline: where, validate, select. */
export interface ParsedStages {
  where: { text: string; ast: Ast } | null;
  validate: { text: string; ast: Ast; message: string }[];
  /** null: no select (the row passes as is) */
  select: ({ star: true } | { star: false; text: string; ast: Ast; name: string; passthrough: string | null })[] | null;
}

export type StageResult = { row: Row } | { dropped: true } | { rejected: string };

/** The stateless part compiled for one set of input column types. */
export interface RowStage {
  apply(row: Row): StageResult;
  /** True when the stage passes rows through untouched (no where/validate/select). */
  identity: boolean;
  /** SELECT only, for a delete's (often key-only) old row: a failing item gives NULL. */
  projectOnly(row: Row): Row;
  /** Output columns in order (null entries of a `*` whose columns are not known yet). */
  columns: ScopeColumn[] | null;
  /**
   * An update that left the TOASTed values of `unchanged` (input columns) out of its new row
   * (REPLICA IDENTITY DEFAULT sends them as 'unchanged'): the output columns computed from those
   * values alone, which are therefore unchanged too, and the first where/validate/select text
   * that reads one of them together with other columns (it cannot be computed: `conflict`).
   */
  unchangedOutputs(unchanged: readonly string[]): { columns: string[]; conflict: string | null };
}

/** Thrown with the expression text so the caller can name the pipeline and expression. */
export class StageCompileError extends Error {
  constructor(readonly expr: string, message: string) {
    super(message);
  }
}

function compileText(text: string, ast: Ast, scope: Scope, reads?: Set<string>): Compiled {
  try {
    return compile(ast, reads ? recordingScope(scope, reads) : scope);
  } catch (e) {
    if (e instanceof CompileError) throw new StageCompileError(text, e.message);
    throw e;
  }
}

/** As Postgres: a condition is boolean ("where: price" dropped every row before, silently). */
function condition(stage: string, text: string, c: Compiled): Compiled {
  if (c.type.kind === "bool" || c.type.kind === "unknown") return c;
  throw new StageCompileError(text, `a ${stage} condition must be boolean, not ${c.type.typeName}`);
}

/**
 * Order: WHERE on the input row, then VALIDATE rules (a failing rule rejects the row to the
 * DLQ with the rule's message), then SELECT (each item evaluated on the input row).
 * A row-level error (bad cast, division by zero) rejects the row with the expression named.
 */
export function compileRowStage(parsed: ParsedStages, scope: Scope, inputColumns: ScopeColumn[] | null): RowStage {
  const whereReads = new Set<string>();
  const where = parsed.where ? condition("where", parsed.where.text, compileText(parsed.where.text, parsed.where.ast, scope, whereReads)) : null;
  const rules = parsed.validate.map((v) => {
    const reads = new Set<string>();
    return { ...v, reads, c: condition("validate", v.text, compileText(v.text, v.ast, scope, reads)) };
  });
  type Item = { star: true } | { star: false; name: string; kind: XType["kind"]; fn: (r: Row) => unknown; text: string; passthrough: string | null; reads: Set<string> };
  const items: Item[] | null = parsed.select
    ? parsed.select.map((s) => {
        if (s.star) return { star: true };
        const reads = new Set<string>();
        const c = compileText(s.text, s.ast, scope, reads);
        return { star: false, name: s.name, kind: c.type.kind, fn: c.fn, text: s.text, passthrough: s.passthrough, reads };
      })
    : null;

  const unchangedOutputs = (unchanged: readonly string[]): { columns: string[]; conflict: string | null } => {
    const u = new Set(unchanged);
    const hits = (reads: Set<string>) => {
      let n = 0;
      for (const r of reads) if (u.has(r)) n++;
      return n;
    };
    let conflict: string | null = null;
    if (parsed.where && hits(whereReads) > 0) conflict = parsed.where.text;
    for (const r of rules) if (conflict === null && hits(r.reads) > 0) conflict = r.text;
    if (!items) return { columns: [...u], conflict };
    const out = new Set<string>();
    for (const it of items) {
      if (it.star) {
        for (const c of u) out.add(c);
        continue;
      }
      out.delete(it.name);
      const n = hits(it.reads);
      if (n === 0) continue;
      if (n === it.reads.size) out.add(it.name);
      else conflict ??= it.text;
    }
    return { columns: [...out], conflict };
  };

  let columns: ScopeColumn[] | null = [];
  if (!items) columns = inputColumns;
  else {
    const out = new Map<string, ScopeColumn>();
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (it.star) {
        if (!inputColumns) {
          columns = null;
          break;
        }
        for (const c of inputColumns) out.set(c.name, c);
      } else {
        const src = parsed.select![i] as { ast: Ast };
        out.set(it.name, { name: it.name, type: compile(src.ast, scope).type });
      }
    }
    if (columns) columns = [...out.values()];
  }

  const project = items
    ? (row: Row): Row => {
        const out: Row = {};
        for (const it of items) {
          if (it.star) Object.assign(out, row);
          else if (it.passthrough !== null) out[it.name] = row[it.passthrough] ?? null;
          else out[it.name] = toRow(it.kind, it.fn(row));
        }
        return out;
      }
    : (row: Row) => row;

  const projectSafe = items
    ? (row: Row): Row => {
        const out: Row = {};
        for (const it of items) {
          if (it.star) Object.assign(out, row);
          else if (it.passthrough !== null) out[it.name] = row[it.passthrough] ?? null;
          else {
            try {
              out[it.name] = toRow(it.kind, it.fn(row));
            } catch {
              out[it.name] = null;
            }
          }
        }
        return out;
      }
    : (row: Row) => row;

  /** The select item that fails on `row`: found again on the error path, not tracked per row. */
  const failingItem = (row: Row): string => {
    for (const it of items ?? []) {
      if (it.star || it.passthrough !== null) continue;
      try {
        toRow(it.kind, it.fn(row));
      } catch {
        return it.text;
      }
    }
    return "";
  };

  return {
    columns,
    identity: !where && rules.length === 0 && !items,
    projectOnly: projectSafe,
    unchangedOutputs,
    apply(row) {
      let stage = "where";
      let text = parsed.where?.text ?? "";
      try {
        if (where && where.fn(row) !== true) return { dropped: true };
        stage = "validate";
        for (const r of rules) {
          text = r.text;
          if (r.c.fn(row) !== true) return { rejected: r.message };
        }
        stage = "select";
        return { row: project(row) };
      } catch (e) {
        if (e instanceof EvalError) return { rejected: `${stage} '${stage === "select" ? failingItem(row) : text}' failed: ${e.message}` };
        throw e;
      }
    },
  };
}

export { CompileError };
