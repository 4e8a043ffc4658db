/**
 * One error class for the whole engine. `code` is stable (scripts and tests match on it);
 * `component` prefixes the message (`[sink:redis] ...`) so a log line says where it came from.
 * A `usage` error is the user's to fix (bad flag, bad config): the CLI prints one line and exits 2.
 */
export type ErrorKind = "usage" | "runtime";

export class CdcError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly component?: string;

  constructor(code: string, message: string, opts: { cause?: unknown; kind?: ErrorKind; component?: string } = {}) {
    super(opts.component ? `[${opts.component}] ${message}` : message, { cause: opts.cause });
    this.name = "CdcError";
    this.code = code;
    this.kind = opts.kind ?? "runtime";
    this.component = opts.component;
  }
}

/** A mistake in flags or config: exit 2, one line, no stack. */
export function usageError(code: string, message: string, component?: string): CdcError {
  return new CdcError(code, message, { kind: "usage", component });
}

export function isUsageError(e: unknown): e is CdcError {
  return e instanceof CdcError && e.kind === "usage";
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** The `code`s along an error's cause chain (driver codes, SQLSTATEs, CdcError codes), outermost first. */
export function errorCodes(e: unknown): string[] {
  const out: string[] = [];
  for (let x = e, depth = 0; x && typeof x === "object" && depth < 6; x = (x as { cause?: unknown }).cause, depth++) {
    const code = (x as { code?: unknown }).code;
    if (code !== undefined && code !== null) out.push(String(code));
  }
  return out;
}
