import pino, { type Logger } from "pino";
import { usageError } from "./errors.ts";
import { redactJsonLine, redactString, redactValue, MASK } from "./api/redact.ts";

export type { Logger };

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
export type LogFormat = "json" | "pretty";

export interface LoggerOptions {
  /** From the config file (log.level). */
  level?: string;
  /** From a flag (--log-level): beats CDC_LOG_LEVEL, which beats the file. */
  levelFlag?: string;
  format?: LogFormat;
  destination?: NodeJS.WritableStream;
  env?: Record<string, string | undefined>;
}

/**
 * Structured JSON logs to stdout (pino), or one readable line per event on stderr with
 * `log.format: pretty` / CDC_LOG_FORMAT=pretty (no worker-thread transport: those do not load
 * inside a compiled binary). Every field and message goes through the secret redaction, so a
 * component that logs a connection URL or an error quoting one never leaks its password.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const env = opts.env ?? process.env;
  const level = opts.levelFlag ?? (env.CDC_LOG_LEVEL || undefined) ?? opts.level ?? "info";
  if (!LEVELS.includes(level)) throw usageError("log_level", `log level '${level}' is not one of ${LEVELS.join(", ")}`);
  const format = (env.CDC_LOG_FORMAT || undefined) ?? opts.format ?? "json";
  if (format !== "json" && format !== "pretty") throw usageError("log_format", `CDC_LOG_FORMAT '${format}' is not json or pretty`);
  const base: pino.LoggerOptions = {
    level,
    base: { app: "cdc-engine" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: redactLogFields },
    // Serializers also apply to child-logger bindings (which skip formatters.log).
    serializers: { ...Object.fromEntries(SECRET_FIELDS.map((k) => [k, () => MASK])), err: (e: unknown) => (e instanceof Error ? serializeError(e) : e) },
    hooks: {
      logMethod(args, method) {
        const clean = args.map((a) => (typeof a === "string" ? redactString(a) : a)) as Parameters<typeof method>;
        return method.apply(this, clean);
      },
    },
  };
  // Last line of defence: every serialized line (child bindings included) goes through the URL/token masks.
  if (format === "pretty") {
    const out = opts.destination ?? process.stderr;
    return pino(base, { write: (line: string) => out.write(prettyLine(redactJsonLine(line))) });
  }
  // Synchronous writes: the last lines before process.exit() (final checkpoint, "stopped") must not be lost.
  const out = opts.destination ?? pino.destination({ dest: 1, sync: true });
  return pino(base, { write: (line: string) => out.write(redactJsonLine(line)) });
}

const SECRET_FIELDS = ["password", "passwd", "secret", "token", "api_key", "apiKey", "authorization", "credentials", "private_key", "client_secret"];

function serializeError(v: Error): Record<string, unknown> {
  const code = (v as { code?: unknown }).code;
  return {
    type: v.name,
    message: redactString(v.message),
    ...(code !== undefined ? { code: String(code) } : {}),
    ...(v.stack ? { stack: redactString(v.stack) } : {}),
    ...(v.cause instanceof Error ? { cause: redactString(v.cause.message) } : {}),
  };
}

/** pino calls this with the merged fields before serializing: errors keep type, message and stack, masked. */
export function redactLogFields(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v instanceof Error) {
      out[k] = serializeError(v);
    } else {
      const r = redactValue({ [k]: v }) as Record<string, unknown>;
      if (k in r) out[k] = r[k];
    }
  }
  return out;
}

function prettyLine(line: string): string {
  try {
    const { time, level, msg, app: _a, component, ...rest } = JSON.parse(line);
    const name = pino.levels.labels[level] ?? level;
    const extra = Object.keys(rest).length ? " " + JSON.stringify(rest) : "";
    return `${String(time).slice(11, 23)} ${name.toUpperCase().padEnd(5)} ${component ? `[${component}] ` : ""}${msg}${extra}\n`;
  } catch {
    return line;
  }
}
