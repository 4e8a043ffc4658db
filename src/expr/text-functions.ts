/** Text functions' pieces that follow Postgres: LIKE/ILIKE patterns and operands, UPPER/LOWER's case mapping. */
import { type Compiled, CompileError, lit } from "./compile.ts";
import { type Fn, pgTypeName, strict, text } from "./function-args.ts";
import { T } from "./types.ts";

function likeRegex(pattern: string, insensitive: boolean): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "\\" && i + 1 < pattern.length) re += pattern[++i].replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    else if (ch === "%") re += "[\\s\\S]*";
    else if (ch === "_") re += "[\\s\\S]";
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  // "u": `_` is one character (code point), as in Postgres, not half of a surrogate pair
  return new RegExp(`^${re}$`, insensitive ? "iu" : "u");
}

/**
 * Postgres has LIKE for text (varchar, char, name) only and casts nothing to text implicitly:
 * `label LIKE 5` and `5 LIKE '5'` are "operator does not exist: text ~~ integer". They compiled
 * and matched the number's text. A column of a type not known here is left to the row.
 */
function likeOperands(op: string, args: Compiled[]): void {
  if (args.every((a) => a.type.kind === "text" || a.type.kind === "unknown")) return;
  throw new CompileError(`operator does not exist: ${pgTypeName(args[0])} ${op} ${pgTypeName(args[1])} (LIKE matches text: cast the other side, e.g. n::text LIKE '5%')`);
}

export function like(negate: boolean, insensitive: boolean): Fn {
  const op = `${negate ? "!" : ""}~~${insensitive ? "*" : ""}`;
  return (args) => {
    likeOperands(op, args);
    const [s, p] = [text(args[0]), text(args[1])];
    if (p.literal) {
      if (p.literal.value === null) return lit(T.bool, null);
      const re = likeRegex(String(p.literal.value), insensitive);
      return strict(T.bool, [s], (v) => re.test(String(v)) !== negate);
    }
    return strict(T.bool, [s, p], (v, q) => likeRegex(String(q), insensitive).test(String(v)) !== negate);
  };
}

/**
 * UPPER/LOWER one character at a time, as Postgres does (towupper): a character whose full
 * case mapping is several characters ('ß' → 'SS', 'İ' → 'i̇') stays as it is, so the
 * length never changes.
 */
export function caseMap(s: string, upper: boolean): string {
  const m = upper ? s.toUpperCase() : s.toLowerCase();
  // Σ too: JS lowercases a word-final one to 'ς' by context, Postgres always to 'σ'
  if (m.length === s.length && !/[\u0130\u0149\u01f0\u0390\u03a3\u03b0\u0587\u1e96-\u1e9a\u1f50-\u1ffc\ufb00-\ufb17\u00df]/.test(s)) return m;
  let out = "";
  for (const ch of s) {
    const c = upper ? ch.toUpperCase() : ch.toLowerCase();
    out += [...c].length === 1 ? c : ch;
  }
  return out;
}
