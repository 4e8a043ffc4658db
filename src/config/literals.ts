import type { z } from "zod";

/**
 * `${VAR}` always yields text, so `pool: ${POOL:-4}` arrives as "4". Where the schema wanted a
 * number or boolean and got a string that is exactly such a literal, the literal is used and the
 * value validated again. Only there: a string field keeps "12345" (a password stays text), and
 * "4x" or "yes" stay strings, so the error still names the field.
 */
const LITERAL: Record<string, RegExp> = { number: /^-?\d+(\.\d+)?$/, int: /^-?\d+$/, boolean: /^(true|false)$/ };

export function parseWithLiterals<S extends z.ZodType>(schema: S, raw: unknown): { result: z.ZodSafeParseResult<z.output<S>>; input: unknown } {
  let input = raw;
  for (;;) {
    const result = schema.safeParse(input);
    if (result.success) return { result, input };
    const fixes = result.error.issues.flatMap((i) => literalPaths(i, [])).filter(({ path, expected }) => {
      const v = at(input, path);
      return typeof v === "string" && LITERAL[expected].test(v);
    });
    // Each fix turns a string into a number or boolean, so this ends.
    if (fixes.length === 0) return { result, input };
    input = structuredClone(input);
    for (const { path, expected } of fixes) {
      const parent = at(input, path.slice(0, -1)) as Record<PropertyKey, unknown>;
      const key = path[path.length - 1];
      parent[key] = expected === "boolean" ? parent[key] === "true" : Number(parent[key]);
    }
  }
}

type Fix = { path: PropertyKey[]; expected: string };

/** Paths where a number/integer/boolean was expected and a string given, also inside union branches. */
function literalPaths(issue: z.core.$ZodIssue, prefix: PropertyKey[]): Fix[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === "invalid_union") return issue.errors.flatMap((branch) => branch.flatMap((i) => literalPaths(i, path)));
  if (issue.code === "invalid_type" && issue.expected in LITERAL && / received string$/.test(issue.message) && path.length > 0) return [{ path, expected: issue.expected }];
  return [];
}

function at(value: unknown, path: PropertyKey[]): unknown {
  let v = value;
  for (const k of path) v = v && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}
