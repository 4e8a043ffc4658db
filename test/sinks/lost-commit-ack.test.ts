/**
 * A COMMIT the server carried out but whose answer never reached the sink (the connection died
 * in between: a crash of the sink server or a network cut at that moment). The sink retries the
 * batch; it must see that the batch and its position are already there and not write the rows
 * again. Found by QA with a postgres sink under `pg_ctl -m immediate stop`: a table without a
 * key got the batch twice. Here the loss is made exact by a proxy that swallows the reply to
 * the first COMMIT and closes the connection.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mysql from "mysql2/promise";
import { requireMysql } from "../helpers/index.ts";
import { MysqlSink } from "../../src/sinks/mysql/index.ts";
import { mysqlSinkConfig } from "../../src/sinks/mysql/config.ts";
import { batch, col, context, OID, rec, table, uniq } from "./helpers.ts";

/** Forwards bytes both ways; once armed, the server's reply to the next COMMIT is dropped and both sides are closed. */
class AckDropProxy {
  armed = false;
  dropped = 0;
  port = 0;
  private server: { stop(closeActive?: boolean): void; port: number } | null = null;
  constructor(private host: string, private targetPort: number, private commit: RegExp) {}

  start(): this {
    type Peer = { up?: { write(d: Uint8Array): number; end(): void }; pending: Uint8Array[]; commitSent: boolean };
    const self = this;
    this.server = Bun.listen<Peer>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(client) {
          client.data = { pending: [], commitSent: false };
          void Bun.connect({
            hostname: self.host,
            port: self.targetPort,
            socket: {
              open(up) {
                client.data.up = up;
                for (const d of client.data.pending) up.write(d);
                client.data.pending = [];
              },
              data(up, d) {
                if (client.data.commitSent) {
                  // The server committed; its answer is lost with the connection.
                  self.armed = false;
                  self.dropped++;
                  client.data.commitSent = false;
                  up.end();
                  client.end();
                  return;
                }
                client.write(d);
              },
              close: () => void client.end(),
              error: () => void client.end(),
            },
          }).catch(() => client.end());
        },
        data(client, d) {
          if (self.armed && self.commit.test(Buffer.from(d).toString("latin1"))) client.data.commitSent = true;
          if (client.data.up) client.data.up.write(d);
          else client.data.pending.push(new Uint8Array(d));
        },
        close: (client) => client.data.up?.end(),
        error: (client) => client.data.up?.end(),
      },
    });
    this.port = this.server.port;
    return this;
  }

  stop(): void {
    this.server?.stop(true);
  }
}

describe("a lost COMMIT reply (mysql sink)", () => {
  let admin: mysql.Connection;
  let baseUrl: string;
  const db = uniq("cdc_lostack");
  beforeAll(async () => {
    baseUrl = await requireMysql();
    admin = await mysql.createConnection({ uri: baseUrl, supportBigNumbers: true, bigNumberStrings: true });
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await admin.end();
  });

  test("the retried batch is not written twice (table without a key), and the position holds", async () => {
    const u = new URL(baseUrl);
    const proxy = new AckDropProxy(u.hostname, Number(u.port || 3306), /\x03COMMIT/).start();
    const url = `mysql://${u.username || "root"}${u.password ? ":" + u.password : ""}@127.0.0.1:${proxy.port}`;
    const s = new MysqlSink(mysqlSinkConfig.parse({ url, database: db, max_backoff: "200ms", connect_timeout: "2s" }));
    await s.open(context("m"));
    const events = table("events", [col("seq", OID.int8), col("note", OID.text)], []);
    try {
      await s.write(batch("p", [rec(events, "upsert", { seq: 1n, note: "a" }, 10n)]));
      proxy.armed = true;
      await s.write(batch("p", [rec(events, "upsert", { seq: 2n, note: "b" }, 20n), rec(events, "upsert", { seq: 3n, note: "c" }, 20n, 1)]));
      expect(proxy.dropped).toBe(1);
      await s.write(batch("p", [rec(events, "upsert", { seq: 4n, note: "d" }, 30n)]));
      expect(s.position("p")).toBe(30n);
    } finally {
      await s.close();
      proxy.stop();
    }
    const [got] = await admin.query(`SELECT seq, note FROM \`${db}\`.events ORDER BY seq`);
    expect(got as unknown[]).toEqual([{ seq: "1", note: "a" }, { seq: "2", note: "b" }, { seq: "3", note: "c" }, { seq: "4", note: "d" }]);
    const [[pos]] = (await admin.query(`SELECT lsn FROM \`${db}\`.cdc_engine_offsets WHERE pipeline = 'p'`)) as unknown as [{ lsn: string }[]];
    expect(String(pos.lsn)).toBe("30");
  }, 60_000);
});
