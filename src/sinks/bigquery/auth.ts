import { createSign } from "node:crypto";
import { readFileSync } from "node:fs";
import { CdcError } from "../../errors.ts";

const SCOPE = "https://www.googleapis.com/auth/bigquery";

interface ServiceAccountKey {
  type?: string;
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
  project_id?: string;
}

export interface TokenSource {
  token(): Promise<string>;
  /** Forget the cached token (after a 401). */
  invalidate(): void;
  projectId?: string;
}

export function loadKeyFile(path: string): ServiceAccountKey {
  let key: ServiceAccountKey;
  try {
    key = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new CdcError("sink_credentials", `cannot read service-account key file ${path}: ${(e as Error).message}`, { component: "sink:bigquery", kind: "usage" });
  }
  if (!key.client_email || !key.private_key) {
    throw new CdcError("sink_credentials", `${path} is not a service-account key (client_email and private_key are required)`, { component: "sink:bigquery", kind: "usage" });
  }
  return key;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/** A signed JWT assertion for the OAuth 2.0 JWT-bearer grant (RFC 7523), RS256 via node:crypto. */
export function signAssertion(key: ServiceAccountKey, nowS = Math.floor(Date.now() / 1000)): string {
  const header = { alg: "RS256", typ: "JWT", ...(key.private_key_id ? { kid: key.private_key_id } : {}) };
  const claims = { iss: key.client_email, scope: SCOPE, aud: key.token_uri ?? "https://oauth2.googleapis.com/token", iat: nowS, exp: nowS + 3600 };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = createSign("RSA-SHA256").update(input).sign(key.private_key);
  return `${input}.${b64url(sig)}`;
}

/** Exchanges a signed assertion for an access token and caches it until a minute before expiry. */
export class ServiceAccountTokens implements TokenSource {
  private cached: { token: string; until: number } | null = null;
  readonly projectId?: string;
  constructor(private readonly key: ServiceAccountKey) {
    this.projectId = key.project_id;
  }
  async token(): Promise<string> {
    if (this.cached && Date.now() < this.cached.until) return this.cached.token;
    const uri = this.key.token_uri ?? "https://oauth2.googleapis.com/token";
    const res = await fetch(uri, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: signAssertion(this.key) }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error?: string; error_description?: string };
    if (!res.ok || !body.access_token) {
      const err = new CdcError("sink_auth", `token exchange at ${uri} failed: HTTP ${res.status} ${body.error ?? ""} ${body.error_description ?? ""}`.trim(), { component: "sink:bigquery" });
      (err as CdcError & { status?: number }).status = res.status;
      throw err;
    }
    this.cached = { token: body.access_token, until: Date.now() + Math.max(0, (body.expires_in ?? 3600) - 60) * 1000 };
    return body.access_token;
  }
  invalidate(): void {
    this.cached = null;
  }
}

export class StaticToken implements TokenSource {
  constructor(private readonly value: string) {}
  async token(): Promise<string> {
    return this.value;
  }
  invalidate(): void {}
}

/** access_token > credentials_file > $GOOGLE_APPLICATION_CREDENTIALS. */
export function tokenSource(c: { access_token?: string; credentials_file?: string }, env = process.env): TokenSource {
  if (c.access_token) return new StaticToken(c.access_token);
  const path = c.credentials_file ?? env.GOOGLE_APPLICATION_CREDENTIALS;
  if (!path) throw new CdcError("sink_credentials", "no credentials: set credentials_file or access_token, or GOOGLE_APPLICATION_CREDENTIALS", { component: "sink:bigquery", kind: "usage" });
  return new ServiceAccountTokens(loadKeyFile(path));
}
