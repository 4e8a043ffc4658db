/**
 * A local stand-in for the parts of the BigQuery v2 REST API (and Google's OAuth token
 * endpoint) that the bigquery sink calls, written from the public reference: paths, request
 * and response bodies, the {error: {code, message, errors: [{reason}], status}} error shape,
 * insertAll's per-row insertErrors with skipInvalidRows, and insertId de-duplication.
 * Not the real service: type checks are the common ones, dedup is kept forever here.
 */
import { createVerify, type KeyObject } from "node:crypto";

interface Field { name: string; type: string; mode?: string }
interface Table { resource: Record<string, unknown> & { schema: { fields: Field[] } }; rows: Record<string, unknown>[]; insertIds: Set<string> }

export class BigQueryServer {
  readonly datasets = new Map<string, Map<string, Table>>();
  readonly requests: { method: string; path: string }[] = [];
  private readonly tokens = new Set<string>();
  private failures: { count: number; status: number; reason: string }[] = [];
  private server: ReturnType<typeof Bun.serve>;

  constructor(readonly project: string, private readonly publicKey?: KeyObject, staticToken = "test-token") {
    this.tokens.add(staticToken);
    this.server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => this.handle(req) });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }
  get tokenUri(): string {
    return `${this.endpoint}/token`;
  }
  /** The next `count` API calls (not token exchanges) fail with this status. */
  failNext(count: number, status = 503, reason = "backendError"): void {
    this.failures.push({ count, status, reason });
  }
  clearFailures(): void {
    this.failures = [];
  }
  /**
   * The next `count` insertAll rows are refused with a row-level error of this reason (e.g.
   * "backendError", "timeout": transient, per Google to be retried) and are not stored.
   */
  failRowsNext(count: number, reason = "backendError"): void {
    this.rowFailures.push({ count, reason });
  }
  private rowFailures: { count: number; reason: string }[] = [];
  table(dataset: string, table: string): Table | undefined {
    return this.datasets.get(dataset)?.get(table);
  }
  stop(): void {
    this.server.stop(true);
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === "/token" && req.method === "POST") return this.token(new URLSearchParams(await req.text()));
    this.requests.push({ method: req.method, path: url.pathname });
    const auth = req.headers.get("authorization")?.replace(/^Bearer /, "");
    if (!auth || !this.tokens.has(auth)) return err(401, "Request had invalid authentication credentials. Expected OAuth 2 access token.", "authError", "UNAUTHENTICATED");
    const f = this.failures[0];
    if (f) {
      if (--f.count <= 0) this.failures.shift();
      return err(f.status, "Simulated failure", f.reason, f.status === 429 ? "RESOURCE_EXHAUSTED" : "UNAVAILABLE");
    }
    const m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets(?:\/([^/]+)(?:\/tables(?:\/([^/]+)(\/insertAll)?)?)?)?$/.exec(url.pathname);
    if (!m) return err(404, `Not found: URL ${url.pathname}`, "notFound", "NOT_FOUND");
    // Path segments arrive percent-encoded (a table id may hold spaces); BigQuery decodes them.
    const [, project, ds, tb, insert] = m.map((x) => (x === undefined ? x : decodeURIComponent(x)));
    if (project !== this.project) return err(404, `Not found: Project ${project}`, "notFound", "NOT_FOUND");
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- request bodies are checked field by field below
    const body: any = req.method === "GET" ? null : await req.json();
    const dataset = ds ? this.datasets.get(ds) : undefined;
    const isTables = url.pathname.includes("/tables");

    if (!ds) {
      if (req.method === "GET") return ok({ kind: "bigquery#datasetList", datasets: [...this.datasets.keys()].map((d) => ({ datasetReference: { projectId: project, datasetId: d } })) });
      const id = body.datasetReference?.datasetId;
      if (!id) return err(400, "Required parameter is missing", "required", "INVALID_ARGUMENT");
      if (this.datasets.has(id)) return err(409, `Already Exists: Dataset ${project}:${id}`, "duplicate", "ALREADY_EXISTS");
      this.datasets.set(id, new Map());
      return ok({ kind: "bigquery#dataset", id: `${project}:${id}`, ...body });
    }
    if (!dataset) return err(404, `Not found: Dataset ${project}:${ds}`, "notFound", "NOT_FOUND");
    if (!isTables) return ok({ kind: "bigquery#dataset", id: `${project}:${ds}`, datasetReference: { projectId: project, datasetId: ds } });
    if (!tb) {
      const id = body.tableReference?.tableId;
      if (dataset.has(id)) return err(409, `Already Exists: Table ${project}:${ds}.${id}`, "duplicate", "ALREADY_EXISTS");
      const problem = checkTable(body);
      if (problem) return err(400, problem, "invalid", "INVALID_ARGUMENT");
      dataset.set(id, { resource: { kind: "bigquery#table", id: `${project}:${ds}.${id}`, ...body }, rows: [], insertIds: new Set() });
      return ok(dataset.get(id)!.resource);
    }
    const table = dataset.get(tb);
    if (!table) return err(404, `Not found: Table ${project}:${ds}.${tb}`, "notFound", "NOT_FOUND");
    if (!insert) {
      if (req.method === "PATCH") {
        const old = table.resource.schema.fields;
        const fields = body.schema.fields as Field[];
        if (old.some((o, i) => fields[i]?.name !== o.name || fields[i]?.type !== o.type)) return err(400, "Provided Schema does not match Table. Cannot drop or change fields.", "invalid", "INVALID_ARGUMENT");
        const problem = checkTable({ tableReference: { tableId: tb }, schema: { fields } });
        if (problem) return err(400, problem, "invalid", "INVALID_ARGUMENT");
        table.resource.schema = { fields };
      }
      return ok(table.resource);
    }
    return ok(this.insertAll(table, body));
  }

  private insertAll(table: Table, body: { rows: { insertId?: string; json: Record<string, unknown> }[]; skipInvalidRows?: boolean; ignoreUnknownValues?: boolean }) {
    const fields = new Map(table.resource.schema.fields.map((f) => [f.name, f]));
    const errors: { index: number; errors: { reason: string; location: string; message: string; debugInfo: string }[] }[] = [];
    body.rows.forEach((row, index) => {
      for (const [k, v] of Object.entries(row.json)) {
        const f = fields.get(k);
        if (!f) {
          if (!body.ignoreUnknownValues) errors.push({ index, errors: [{ reason: "invalid", location: k, message: "no such field: " + k + ".", debugInfo: "" }] });
          continue;
        }
        const bad = checkValue(v, f.type);
        if (bad) {
          errors.push({ index, errors: [{ reason: "invalid", location: k, message: `Cannot convert value to ${bad}`, debugInfo: "" }] });
          break;
        }
      }
    });
    body.rows.forEach((_r, index) => {
      const f = this.rowFailures[0];
      if (!f || errors.some((e) => e.index === index)) return;
      errors.push({ index, errors: [{ reason: f.reason, location: "", message: `row-level ${f.reason}`, debugInfo: "" }] });
      if (--f.count === 0) this.rowFailures.shift();
    });
    const badIdx = new Set(errors.map((e) => e.index));
    if (badIdx.size && !body.skipInvalidRows) {
      body.rows.forEach((_r, index) => {
        if (!badIdx.has(index)) errors.push({ index, errors: [{ reason: "stopped", location: "", message: "", debugInfo: "" }] });
      });
      return { kind: "bigquery#tableDataInsertAllResponse", insertErrors: errors };
    }
    body.rows.forEach((row, index) => {
      if (badIdx.has(index)) return;
      if (row.insertId) {
        if (table.insertIds.has(row.insertId)) return; // best-effort dedup by insertId
        table.insertIds.add(row.insertId);
      }
      table.rows.push(row.json);
    });
    return errors.length ? { kind: "bigquery#tableDataInsertAllResponse", insertErrors: errors } : { kind: "bigquery#tableDataInsertAllResponse" };
  }

  private token(form: URLSearchParams): Response {
    const assertion = String(form.get("assertion") ?? "");
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return Response.json({ error: "unsupported_grant_type" }, { status: 400 });
    const [h, c, s] = assertion.split(".");
    const verified = this.publicKey && h && c && s && createVerify("RSA-SHA256").update(`${h}.${c}`).verify(this.publicKey, Buffer.from(s, "base64url"));
    if (!verified) return Response.json({ error: "invalid_grant", error_description: "Invalid JWT Signature." }, { status: 400 });
    const claims = JSON.parse(Buffer.from(c, "base64url").toString());
    const now = Date.now() / 1000;
    if (claims.aud !== this.tokenUri || !String(claims.scope).includes("bigquery") || claims.exp < now || claims.iat > now + 60) {
      return Response.json({ error: "invalid_grant", error_description: "Invalid JWT: claims" }, { status: 400 });
    }
    const token = `ya29.test-${crypto.randomUUID()}`;
    this.tokens.add(token);
    return Response.json({ access_token: token, expires_in: 3599, token_type: "Bearer" });
  }
}

function ok(body: unknown): Response {
  return Response.json(body);
}
function err(code: number, message: string, reason: string, status: string): Response {
  return Response.json({ error: { code, message, errors: [{ message, domain: "global", reason }], status } }, { status: code });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function checkTable(body: any): string | null {
  const id = String(body.tableReference?.tableId ?? "");
  // Google's rules: table ids of letters, marks, numbers, connectors, dashes and spaces, up to 1,024 bytes;
  // (flexible) column names without these characters, up to 300, unique regardless of case.
  if (!/^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$/u.test(id) || Buffer.byteLength(id) > 1024) return `Invalid table ID "${id}".`;
  const seen = new Set<string>();
  for (const f of (body.schema?.fields ?? []) as Field[]) {
    if (!f.name || f.name.length > 300 || /[!"$()*,./;?@[\\\]^`{}~\p{Cc}]/u.test(f.name) || /^(_TABLE_|_FILE_|_PARTITION|_ROW_TIMESTAMP|__ROOT__|_COLON_)/i.test(f.name)) return `Invalid field name "${f.name}".`;
    if (seen.has(f.name.toLowerCase())) return `Field ${f.name} already exists in schema`;
    seen.add(f.name.toLowerCase());
  }
  const names = new Set((body.schema?.fields ?? []).map((f: Field) => f.name));
  const rp = body.rangePartitioning;
  if (rp) {
    if (!names.has(rp.field)) return `The field specified for partitioning cannot be found in the schema`;
    const n = (BigInt(rp.range.end) - BigInt(rp.range.start)) / BigInt(rp.range.interval);
    if (n > 10_000n) return "Too many partitions: integer range partitioning allows at most 10000";
  }
  if (body.timePartitioning?.field && !names.has(body.timePartitioning.field)) return "The field specified for partitioning cannot be found in the schema";
  for (const c of body.clustering?.fields ?? []) if (!names.has(c)) return `The field specified for clustering cannot be found in the schema: ${c}`;
  return null;
}

function checkValue(v: unknown, type: string): string | null {
  if (v === null) return null;
  switch (type) {
    case "INT64": {
      const s = typeof v === "number" && Number.isInteger(v) ? String(v) : typeof v === "string" ? v : "";
      return /^-?\d+$/.test(s) && BigInt(s) >= -(2n ** 63n) && BigInt(s) < 2n ** 63n ? null : "INT64";
    }
    case "NUMERIC":
      return typeof v === "string" && /^-?\d{1,29}(\.\d{1,9})?$/.test(v) ? null : "NUMERIC";
    case "BIGNUMERIC":
      return typeof v === "string" && /^-?\d{1,39}(\.\d{1,38})?$/.test(v) ? null : "BIGNUMERIC";
    case "FLOAT64":
      return typeof v === "number" || ["NaN", "Infinity", "-Infinity"].includes(String(v)) ? null : "FLOAT64";
    case "BOOL":
      return typeof v === "boolean" ? null : "BOOL";
    case "TIMESTAMP":
      return typeof v === "string" && /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z| UTC|[+-]\d{2}:\d{2})$/.test(v) ? null : "TIMESTAMP";
    case "DATETIME":
      return typeof v === "string" && /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/.test(v) ? null : "DATETIME";
    case "DATE":
      return typeof v === "string" && /^\d{4}-\d{2}-\d{2}$/.test(v) ? null : "DATE";
    case "JSON":
      try {
        JSON.parse(String(v));
        return typeof v === "string" ? null : "JSON";
      } catch {
        return "JSON";
      }
    case "BYTES":
      return typeof v === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(v) ? null : "BYTES";
    default:
      return typeof v === "string" ? null : type;
  }
}
