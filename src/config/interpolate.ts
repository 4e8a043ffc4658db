import { usageError } from "../errors.ts";

/**
 * `${VAR}` and `${VAR:-default}` in string values, resolved after YAML parsing so a value
 * holding YAML-special characters cannot break the document, and so a missing variable
 * can be reported with the key path it sits under. `$${` escapes a literal `${`.
 * As in the shell, `:-` also takes the default for a variable set to ""; a bare `${X}` set to ""
 * is an error ("is empty"), `${X:-}` allows it.
 */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function interpolate(value: unknown, env: Record<string, string | undefined>, file: string, path: string[] = []): unknown {
  if (typeof value === "string") return value.includes("$") ? expand(value, env, file, path) : value;
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, file, [...path, String(i)]));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, file, [...path, k]);
    return out;
  }
  return value;
}

/**
 * One string's `${...}`: scanned rather than matched by a pattern so that a default may hold
 * another reference, `${A:-${B}}` (as docker compose reads it; the pattern stopped at the first
 * `}` and left a literal `${B}` behind).
 */
function expand(text: string, env: Record<string, string | undefined>, file: string, path: string[]): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf("$", i);
    if (at < 0) break;
    out += text.slice(i, at);
    if (text.startsWith("$${", at)) {
      out += "${";
      i = at + 3;
      continue;
    }
    if (text[at + 1] !== "{") {
      out += "$";
      i = at + 1;
      continue;
    }
    const end = closing(text, at + 2);
    const body = end < 0 ? "" : text.slice(at + 2, end);
    const sep = body.indexOf(":-");
    const name = sep < 0 ? body : body.slice(0, sep);
    if (end < 0 || !NAME.test(name)) {
      // not a reference (no closing brace, or no variable name): kept as written
      out += "${";
      i = at + 2;
      continue;
    }
    out += resolve(name, sep < 0 ? undefined : body.slice(sep + 2), env, file, path);
    i = end + 1;
  }
  return out + text.slice(i);
}

/** Index of the `}` that closes a `${` whose body starts at `from`, counting nested `${`; -1 when none. */
function closing(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    if (text[i] === "$" && text[i + 1] === "{") (depth++, i++);
    else if (text[i] === "}") {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

function resolve(name: string, def: string | undefined, env: Record<string, string | undefined>, file: string, path: string[]): string {
  const v = env[name];
  if (v !== undefined && v !== "") return v;
  if (def !== undefined) return expand(def, env, file, path);
  const why = v === undefined ? `environment variable ${name} is not set and has no default` : `environment variable ${name} is empty and has no default (write \${${name}:-} to allow an empty value)`;
  throw usageError("config_env", `${file}: ${path.join(".") || "(root)"}: ${why}`);
}
