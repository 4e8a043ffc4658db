import postgres from "postgres";
import { readFileSync } from "node:fs";

export type Pg = postgres.Sql<Record<string, unknown>>;

export interface PgOptions {
  sslmode?: "disable" | "prefer" | "require" | "verify-ca" | "verify-full";
  tls?: { ca?: string; cert?: string; key?: string; reject_unauthorized?: boolean };
  max?: number;
  /** Extra postgres.js options (e.g. connection: { replication: "database" }). */
  extra?: Record<string, unknown>;
}

/**
 * A postgres.js client for the source or a sink. int8 stays a bigint and numeric a string
 * (never a JS float); notices are silenced (they are logged by callers that care).
 */
export function openPg(url: string, opts: PgOptions = {}): Pg {
  return postgres(url, {
    max: opts.max ?? 4,
    ssl: sslOption(opts),
    onnotice: () => {},
    idle_timeout: 60,
    connect_timeout: 10,
    types: {
      bigint: postgres.BigInt,
    },
    connection: { application_name: "cdc-engine" },
    ...(opts.extra ?? {}),
  }) as unknown as Pg;
}

function sslOption(opts: PgOptions): boolean | "prefer" | "require" | object {
  const mode = opts.sslmode;
  const t = opts.tls;
  if (!mode && !t) return false;
  if (mode === "disable") return false;
  if (mode === "prefer") return "prefer";
  const base: Record<string, unknown> = {};
  if (t?.ca) base.ca = readFileSync(t.ca);
  if (t?.cert) base.cert = readFileSync(t.cert);
  if (t?.key) base.key = readFileSync(t.key);
  if (mode === "require") return { ...base, rejectUnauthorized: false };
  if (mode === "verify-ca") return { ...base, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  return { ...base, rejectUnauthorized: t?.reject_unauthorized ?? true };
}

/** Connection URL with the password masked, for logs and messages. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, "$1***@");
}
