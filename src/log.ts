import pino, { type Logger } from "pino";

export type { Logger };

/**
 * Structured JSON logs to stdout (pino). Passwords in URLs are masked by the redact paths
 * and by callers using redactUrl(); `pretty` gives one readable line per event on a terminal
 * without a worker-thread transport (those do not load inside a compiled binary).
 */
export function createLogger(opts: { level?: string; format?: "json" | "pretty"; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = process.env.CDC_LOG_LEVEL ?? opts.level ?? "info";
  const base = {
    level,
    base: { app: "cdc-engine" },
    redact: { paths: ["password", "*.password", "url", "*.url", "token", "*.token"], censor: "***" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if ((process.env.CDC_LOG_FORMAT ?? opts.format) === "pretty") {
    return pino(base, { write: (line: string) => (opts.destination ?? process.stderr).write(prettyLine(line)) });
  }
  return pino(base, (opts.destination as pino.DestinationStream | undefined) ?? pino.destination(1));
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
