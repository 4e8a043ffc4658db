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
 * A string parameter is Postgres text input already (a key read back as `::text`, a timestamp with
 * its microseconds): it goes as given, whatever type the server gives the parameter. postgres.js'
 * own codecs for those types turned a timestamp string into a JS Date (microseconds lost, the
 * process' time zone applied), re-encoded a bytea's text, quoted a json text as a JSON string and
 * sent 't' as false. Other values (a Date, a Buffer, an object) and every result keep postgres.js'
 * handling. The sink and the generator, which also read results as text, set their own.
 */
const asGiven = (codec: (x: unknown) => string) => (x: unknown) => (typeof x === "string" ? x : codec(x));
const TEXT_PARAMS = {
  date: { to: 1184, from: [1082, 1114, 1184], serialize: asGiven((x) => (x instanceof Date ? x : new Date(x as string)).toISOString()), parse: (x: string) => new Date(x) },
  json: { to: 114, from: [114, 3802], serialize: asGiven((x) => JSON.stringify(x)), parse: (x: string) => JSON.parse(x) },
  boolean: { to: 16, from: [16], serialize: asGiven((x) => (x === true ? "t" : "f")), parse: (x: string) => x === "t" },
  bytea: { to: 17, from: [17], serialize: asGiven((x) => "\\x" + Buffer.from(x as Uint8Array).toString("hex")), parse: (x: string) => Buffer.from(x.slice(2), "hex") },
};

/**
 * A postgres.js client for the source or a sink. int8 stays a bigint and numeric a string
 * (never a JS float), string parameters go as given (TEXT_PARAMS); notices are silenced (they
 * are logged by callers that care).
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
      ...TEXT_PARAMS,
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
