import type { TokenSource } from "./auth.ts";

/** An error answer from the BigQuery REST API ({error: {code, message, errors: [{reason}]}}) or the network. */
export class BqError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly reason: string | null,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const RETRYABLE_REASONS = new Set(["rateLimitExceeded", "backendError", "internalError", "quotaExceeded_streaming"]);

export interface TableField {
  name: string;
  type: string;
  mode?: "NULLABLE" | "REQUIRED" | "REPEATED";
  fields?: TableField[];
}
export interface TableResource {
  tableReference: { projectId: string; datasetId: string; tableId: string };
  schema: { fields: TableField[] };
  timePartitioning?: { type: string; field?: string; expirationMs?: string };
  rangePartitioning?: { field: string; range: { start: string; end: string; interval: string } };
  clustering?: { fields: string[] };
}
export interface InsertAllResponse {
  kind?: string;
  insertErrors?: { index: number; errors: { reason?: string; message?: string; location?: string }[] }[];
}

/** A path segment: a table id may hold spaces and non-ASCII letters (names.ts). */
const enc = encodeURIComponent;

/** The handful of BigQuery v2 REST calls the sink makes, over fetch. */
export class BigQueryRest {
  constructor(
    private readonly endpoint: string,
    readonly project: string,
    private readonly tokens: TokenSource,
    private readonly timeoutMs: number,
  ) {}

  private base(): string {
    return `${this.endpoint.replace(/\/$/, "")}/bigquery/v2/projects/${encodeURIComponent(this.project)}`;
  }

  async call<T>(method: string, path: string, body?: unknown, opts: { allow404?: boolean; retried?: boolean } = {}): Promise<T | null> {
    const url = this.base() + path;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${await this.tokens.token()}`, "content-type": "application/json" },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { status?: number };
      if (err.status !== undefined) throw new BqError(err.message, err.status, null, err.status >= 500 || err.status === 429);
      throw new BqError(`${method} ${url}: ${err.name === "TimeoutError" ? `no answer within ${this.timeoutMs}ms` : err.message}`, null, null, true);
    }
    if (res.status === 401 && !opts.retried) {
      // An expired token: get a new one once.
      this.tokens.invalidate();
      await res.body?.cancel();
      return this.call(method, path, body, { ...opts, retried: true });
    }
    if (res.status === 404 && opts.allow404) {
      await res.body?.cancel();
      return null;
    }
    const text = await res.text();
    if (res.ok) return (text ? JSON.parse(text) : {}) as T;
    let message = text.slice(0, 300);
    let reason: string | null = null;
    try {
      const j = JSON.parse(text) as { error?: { message?: string; errors?: { reason?: string }[] } };
      message = j.error?.message ?? message;
      reason = j.error?.errors?.[0]?.reason ?? null;
    } catch {}
    const retryable = res.status >= 500 || res.status === 429 || (reason !== null && RETRYABLE_REASONS.has(reason));
    throw new BqError(`${method} ${path}: HTTP ${res.status}${reason ? ` ${reason}` : ""}: ${message}`, res.status, reason, retryable);
  }

  getDataset(dataset: string) {
    return this.call<{ id: string }>("GET", `/datasets/${enc(dataset)}`, undefined, { allow404: true });
  }
  insertDataset(dataset: string, location: string) {
    return this.call("POST", "/datasets", { datasetReference: { projectId: this.project, datasetId: dataset }, location });
  }
  getTable(dataset: string, table: string) {
    return this.call<TableResource>("GET", `/datasets/${enc(dataset)}/tables/${enc(table)}`, undefined, { allow404: true });
  }
  insertTable(resource: TableResource) {
    return this.call<TableResource>("POST", `/datasets/${enc(resource.tableReference.datasetId)}/tables`, resource);
  }
  patchTable(dataset: string, table: string, fields: TableField[]) {
    return this.call<TableResource>("PATCH", `/datasets/${enc(dataset)}/tables/${enc(table)}`, { schema: { fields } });
  }
  /** Body is pre-serialised JSON text (exact int64/numeric as strings). */
  insertAll(dataset: string, table: string, body: string) {
    return this.call<InsertAllResponse>("POST", `/datasets/${enc(dataset)}/tables/${enc(table)}/insertAll`, body) as Promise<InsertAllResponse>;
  }
}
