/** A mirror of one table into a postgres, a SQLite and a MariaDB sink at once (the keyless FULL tests). */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { createDatabase, freePort, mysqlUrl, requireMysql, sharedPg } from "../helpers/index.ts";
import type { MirrorSetup } from "./e2e.ts";

export interface ThreeSinks {
  srcUrl: string;
  dstUrl: string;
  /** The source (pool of `srcPool`) and the postgres sink. */
  sql: postgres.Sql;
  out: postgres.Sql;
  cfg: MirrorSetup;
  /** The SQLite sink's file and the MariaDB sink's database (pipelines mirror → wh, tolite → lite, tomaria → maria). */
  lite: string;
  myDb: string;
  /** Closes the connections and drops the MariaDB database. */
  end(): Promise<void>;
}

export async function threeSinkMirror(prefix: string, table: string, o: { checkpointInterval: string; batchDelay: string; srcPool?: number }): Promise<ThreeSinks> {
  const my = await requireMysql();
  const pg = await sharedPg("system");
  const [src, dst] = [await createDatabase(pg, `${prefix}_src`), await createDatabase(pg, `${prefix}_dst`)];
  const sql = postgres(pg.url(src), { max: o.srcPool ?? 1, onnotice: () => {} });
  const out = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
  const dir = mkdtempSync(join(tmpdir(), `cdc-${prefix}-`));
  const lite = join(dir, "lite.db");
  const myDb = `cdc_${prefix}_${Math.random().toString(36).slice(2, 10)}`;
  const slot = `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
  const cfg: MirrorSetup = { dir, config: join(dir, "cdc.yaml"), port: await freePort(), logFile: join(dir, "engine.log") };
  writeFileSync(
    cfg.config,
    `source: { url: "${pg.url(src)}", slot: ${slot}, publication: ${slot}, heartbeat_interval: 1s }
state: { dir: "${join(dir, "state")}", checkpoint_interval: ${o.checkpointInterval} }
api: { listen: "127.0.0.1:${cfg.port}" }
sinks:
  wh: { type: postgres, url: "${pg.url(dst)}", batch_delay: ${o.batchDelay} }
  lite: { type: sqlite, path: "${lite}", batch_delay: ${o.batchDelay} }
  maria: { type: mysql, url: "${my}", database: ${myDb} }
pipelines:
  - { name: mirror, from: [${table}], to: wh }
  - { name: tolite, from: [${table}], to: lite }
  - { name: tomaria, from: [${table}], to: maria }
`,
  );
  return {
    srcUrl: pg.url(src),
    dstUrl: pg.url(dst),
    sql,
    out,
    cfg,
    lite,
    myDb,
    async end() {
      await sql.end();
      await out.end();
      const admin = await mysql.createConnection({ uri: mysqlUrl() });
      await admin.query(`drop database if exists ${myDb}`);
      await admin.end();
    },
  };
}
