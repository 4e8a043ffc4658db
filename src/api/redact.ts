/**
 * Secret redaction for everything that leaves the process as text: /status, the dashboard
 * stream, and log lines. It does not trust the producer: whatever a component puts in its
 * status or log fields, passwords in URLs, credential-named keys and bearer tokens become "***".
 */

export const MASK = "***";

/** Keys whose values are secrets whatever they hold. Not "key" alone: pipelines have key columns. */
const SECRET_KEY =
  /^(pass|passwd|password|pwd|secret|token|auth|authorization|credentials?|api_?key|access_?key|secret_?key|private_?key|client_?secret|session_?token|access_?token|refresh_?token|bearer|cookie|set-cookie|x-api-key|service_?account(_json)?|key_?json)$|password|secret|token$|_token_|credential/i;

/** scheme://user:password@host, scheme://:password@host (Redis) */
// No quotes or backslashes inside: the same patterns run over whole JSON log lines and must keep them valid.
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@?#"\\]*:)[^\s@/?#"\\]+@/gi;
/** password=... in query strings and libpq key/value strings; token=..., secret=... too. */
const KV_SECRET = /\b((?:ssl)?password|passwd|pwd|secret|token|api_?key|access_?token|client_secret)(\s*=\s*)(\\"[^"\\]*\\"|'[^']*'|"[^"]*"|[^\s&;,'"\\]+)/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;

/** Mask secrets inside one string. */
export function redactString(s: string): string {
  if (s.length === 0) return s;
  return s.replace(URL_USERINFO, `$1${MASK}@`).replace(KV_SECRET, `$1$2${MASK}`).replace(BEARER, `$1 ${MASK}`);
}

const KV_SECRET_IN_JSON = /\b((?:ssl)?password|passwd|pwd|secret|token|api_?key|access_?token|client_secret)(\s*=\s*)(\\"[^"\\]*\\"|[^\s&;,'"\\]+)/gi;

/** Mask secrets in an already serialized JSON line (log output) without breaking its syntax. */
export function redactJsonLine(line: string): string {
  return line.replace(URL_USERINFO, `$1${MASK}@`).replace(KV_SECRET_IN_JSON, `$1$2${MASK}`).replace(BEARER, `$1 ${MASK}`);
}

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/**
 * A JSON-safe copy of a value with secrets masked. Bigints become decimal strings (JSON has
 * no bigint; LSNs and int8 values stay exact), byte arrays become their length, errors their
 * message, cycles "[circular]".
 */
export function redactValue(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || value === undefined) return value ?? null;
  switch (typeof value) {
    case "string":
      return redactString(value);
    case "bigint":
      return value.toString();
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "boolean":
      return value;
    case "function":
    case "symbol":
      return undefined;
  }
  if (depth > 12) return "[too deep]";
  const obj = value as object;
  if (seen.has(obj)) return "[circular]";
  seen.add(obj);
  try {
    if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
    if (obj instanceof Uint8Array) return `[${obj.byteLength} bytes]`;
    if (obj instanceof Error) return { error: redactString(obj.message), ...("code" in obj ? { code: String((obj as { code: unknown }).code) } : {}) };
    if (obj instanceof URL) return redactString(obj.href);
    if (obj instanceof Map) return redactValue(Object.fromEntries(obj), depth + 1, seen);
    if (obj instanceof Set) return redactValue([...obj], depth + 1, seen);
    if (Array.isArray(obj)) return obj.map((v) => redactValue(v, depth + 1, seen) ?? null);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      if (isSecretKey(k) && v !== null && v !== undefined && v !== "" && typeof v !== "boolean") {
        out[k] = MASK;
        continue;
      }
      const r = redactValue(v, depth + 1, seen);
      if (r !== undefined) out[k] = r;
    }
    return out;
  } finally {
    seen.delete(obj);
  }
}
