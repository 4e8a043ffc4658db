import { usageError } from "../errors.ts";

/**
 * `${VAR}` and `${VAR:-default}` in string values, resolved after YAML parsing so a value
 * holding YAML-special characters cannot break the document, and so a missing variable
 * can be reported with the key path it sits under. `$${` escapes a literal `${`.
 * As in the shell, `:-` also takes the default for a variable set to ""; a bare `${X}` set to ""
 * is an error ("is empty"), `${X:-}` allows it.
 */
const PATTERN = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function interpolate(value: unknown, env: Record<string, string | undefined>, file: string, path: string[] = []): unknown {
  if (typeof value === "string") {
    return value.replace(PATTERN, (whole, name: string | undefined, def: string | undefined) => {
      if (whole === "$${") return "${";
      const v = env[name!];
      if (v !== undefined && v !== "") return v;
      if (def !== undefined) return def;
      const why = v === undefined ? `environment variable ${name} is not set and has no default` : `environment variable ${name} is empty and has no default (write \${${name}:-} to allow an empty value)`;
      throw usageError("config_env", `${file}: ${path.join(".") || "(root)"}: ${why}`);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, file, [...path, String(i)]));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, file, [...path, k]);
    return out;
  }
  return value;
}
