import { afterAll, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, startPgServer, type PgServer } from "../helpers/index.ts";
import { sourceConfig, startSource } from "./source-helpers.ts";

let server: PgServer | null = null;
afterAll(async () => {
  await server?.destroy();
});

/** A self-signed certificate for 127.0.0.1 (it is its own CA). */
async function makeCert(): Promise<{ dir: string; cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), "cdc-tls-"));
  const cert = join(dir, "server.crt");
  const key = join(dir, "server.key");
  await Bun.$`openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:TRUE -keyout ${key} -out ${cert}`.quiet();
  chmodSync(dir, 0o755);
  chmodSync(key, 0o600);
  if (process.getuid?.() === 0) {
    const uid = Number((await Bun.$`id -u postgres`.text()).trim());
    const gid = Number((await Bun.$`id -g postgres`.text()).trim());
    chownSync(key, uid, gid);
    chownSync(cert, uid, gid);
  }
  return { dir, cert, key };
}

// TLS is the connection layer, the same for both server versions: the machine's PostgreSQL.
test("TLS: sslmode verify-full streams over TLS; a wrong CA is refused", async () => {
  const { cert, key } = await makeCert();
  server = await startPgServer("system", ["ssl=on", `ssl_cert_file=${cert}`, `ssl_key_file=${key}`]);
  const db = await createDatabase(server, "tls");
  const url = server.url(db);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql.unsafe(`create table t (id int primary key)`);
  const cfg = sourceConfig(url, { snapshot: "never", sslmode: "verify-full", tls: { ca: cert } });
  const { source, collector } = await startSource(cfg, ["public.t"]);
  try {
    await sql`insert into t values (42)`;
    await collector.waitFor(() => collector.changes.length === 1, "insert over TLS");
    expect(collector.changes[0].after).toEqual({ id: 42 });
    // Both of our connections (the walsender and the query one) use TLS.
    const rows = await sql`select s.ssl, a.backend_type from pg_stat_ssl s join pg_stat_activity a using (pid) where a.application_name = 'cdc-engine' order by 2`;
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows.every((r) => r.ssl === true)).toBe(true);
    expect(rows.some((r) => r.backend_type === "walsender")).toBe(true);
  } finally {
    await source.stop();
  }
  // A CA that did not sign the server certificate.
  const other = await makeCert();
  const err = await startSource(sourceConfig(url, { snapshot: "never", sslmode: "verify-full", tls: { ca: other.cert } }), ["public.t"]).catch((e) => e);
  expect(err).toBeInstanceOf(Error);
  expect(String((err as Error).message)).toMatch(/certificate|self.signed|verify/i);
  await sql.end();
}, 90_000);
