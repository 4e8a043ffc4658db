import type { Compiled } from "./compile.ts";
import { CompileError } from "./compile.ts";
import { T } from "./types.ts";
import { EvalError, toText } from "./values.ts";

/**
 * JSON field access on json/jsonb text: `->` gives JSON (text), `->>` gives text,
 * `#>`/`#>>` take a path '{a,b}'. A parsed document is cached per row object, so
 * `payload->>'a'` and `payload->>'b'` in one row parse the text once.
 */
const cache = new WeakMap<object, Map<string, unknown>>();
const MISSING = Symbol("missing");

type RawJson = { rawJSON: string };
const J = JSON as unknown as {
  parse(text: string, reviver: (key: string, value: unknown, ctx: { source?: string }) => unknown): unknown;
  rawJSON(text: string): RawJson;
  isRawJSON(v: unknown): v is RawJson;
};
/** Numbers a double would change: 16+ digits, a trailing zero after the point, an exponent, -0. */
const INEXACT_NUMBER = /\d{16}|\.\d*0(?![\d])|\d[eE]|-0(?![.\d])/;
/** Numbers keep their source text (1.50 stays 1.50, 12345678901234567890 every digit), as Postgres gives them. */
const keepNumber = (_k: string, v: unknown, ctx: { source?: string }) => (typeof v === "number" && ctx?.source !== undefined ? J.rawJSON(ctx.source) : v);

function parseDoc(text: string): unknown {
  try {
    return INEXACT_NUMBER.test(text) ? J.parse(text, keepNumber) : JSON.parse(text);
  } catch {
    throw new EvalError(`invalid json: '${text.slice(0, 40)}'`);
  }
}

function step(doc: unknown, key: string | number): unknown {
  if (doc === null || typeof doc !== "object" || J.isRawJSON(doc)) return MISSING;
  if (Array.isArray(doc)) {
    const i = typeof key === "number" ? key : /^-?\d+$/.test(key) ? Number(key) : NaN;
    if (Number.isNaN(i)) return MISSING;
    const v = doc[i < 0 ? doc.length + i : i];
    return v === undefined ? MISSING : v;
  }
  const v = (doc as Record<string, unknown>)[String(key)];
  return v === undefined ? MISSING : v;
}

/**
 * A jsonb value printed as Postgres prints jsonb: `{"a": 1, "b": [1, 2]}` (a space after ':' and
 * ','), keys shortest first, then by their bytes (jsonb's own order, which JS objects do not keep
 * for keys like "10"). A part taken out of a jsonb column (`payload->'a'`) was printed compactly,
 * unlike the same value selected whole or in Postgres.
 */
function jsonbText(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (J.isRawJSON(v)) return v.rawJSON;
  if (Array.isArray(v)) return `[${v.map(jsonbText).join(", ")}]`;
  const keys = Object.keys(v).sort((a, b) => {
    const x = Buffer.byteLength(a), y = Buffer.byteLength(b);
    return x !== y ? x - y : Buffer.compare(Buffer.from(a), Buffer.from(b));
  });
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonbText((v as Record<string, unknown>)[k])}`).join(", ")}}`;
}

export function compileJsonAccess(op: string, left: Compiled, right: Compiled): Compiled {
  const asText = op === "->>" || op === "#>>";
  const isPath = op === "#>" || op === "#>>";
  const lf = left.fn;
  const rf = right.fn;
  const rawLeft = left.type.kind === "json" || left.type.kind === "jsonb" || left.type.kind === "unknown" || left.type.kind === "text";
  if (!rawLeft) throw new CompileError(`operator ${op} needs a json or jsonb value on the left, not ${left.type.typeName}`);
  const constKey = right.literal ? right.literal.value : undefined;
  const print = left.type.kind === "jsonb" ? jsonbText : JSON.stringify;
  return {
    type: asText ? T.text : T.jsonb,
    fn: (row) => {
      const src = lf(row);
      if (src === null || src === undefined) return null;
      let doc: unknown;
      if (typeof src === "string") {
        let per = cache.get(row);
        if (!per) cache.set(row, (per = new Map()));
        doc = per.get(src);
        if (doc === undefined) per.set(src, (doc = parseDoc(src)));
      } else doc = src;
      const k = constKey !== undefined ? constKey : rf(row);
      if (k === null || k === undefined) return null;
      let v: unknown = doc;
      if (isPath) {
        const path = String(k).replace(/^\{|\}$/g, "").split(",").map((s) => s.trim().replace(/^"|"$/g, ""));
        for (const p of path) if ((v = step(v, p)) === MISSING) return null;
      } else if ((v = step(v, typeof k === "number" ? k : toText("text", k))) === MISSING) return null;
      if (asText) return v === null ? null : typeof v === "string" ? v : J.isRawJSON(v) ? v.rawJSON : print(v);
      return J.isRawJSON(v) ? v.rawJSON : print(v);
    },
  };
}
