/**
 * A TRUNCATE reaches the webhook as a Debezium-style `op: "t"` envelope (README: `op: c|u|d|r|t`).
 * The http sink dropped every truncate record, so a receiver that mirrors the table kept rows the
 * source had emptied, while the Postgres and MySQL sinks emptied theirs.
 */
import { afterEach, expect, test } from "bun:test";
import { HttpSink } from "../../src/sinks/http/index.ts";
import { httpSinkConfig } from "../../src/sinks/http/config.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { batch, col, context, OID, rec, table } from "../sinks/helpers.ts";

const receivers: HttpReceiver[] = [];
afterEach(() => {
  for (const r of receivers.splice(0)) r.stop();
});

const items = table("public.items", [col("id", OID.int8, { key: true }), col("v", OID.text)], ["id"]);

test("a truncate between two inserts arrives as op t, in order, with the table named", async () => {
  const rx = new HttpReceiver();
  receivers.push(rx);
  const s = new HttpSink(httpSinkConfig.parse({ url: rx.url, payload: "envelope", batch_size: 10 }));
  const ctx = context("hook", [{ pipeline: "p", options: {} }]);
  await s.open(ctx);
  const src = (op: "insert" | "truncate") => ({ source: { table: "public.items", op, xid: 5 } });
  const a = rec(items, "upsert", { id: 1n, v: "a" }, 100n, 0, src("insert"));
  const t = rec(items, "truncate", {}, 200n, 0, { ...src("truncate"), truncate: { cascade: false, restartIdentity: false } });
  const b = rec(items, "upsert", { id: 2n, v: "b" }, 300n, 0, src("insert"));
  await s.write(batch("p", [a]));
  await s.write(batch("p", [t]));
  await s.write(batch("p", [b]));
  await s.close();
  expect(ctx.dead).toEqual([]);
  const sent = rx.requests.flatMap((r) => JSON.parse(r.body) as { op: string; before: unknown; after: unknown; source: { lsn: number; schema: string; table: string } }[]);
  expect(sent.map((e) => [e.op, e.source.lsn, e.source.schema, e.source.table, e.before, e.after])).toEqual([
    ["c", 100, "public", "items", null, { id: 1, v: "a" }],
    ["t", 200, "public", "items", null, null],
    ["c", 300, "public", "items", null, { id: 2, v: "b" }],
  ]);
  expect(rx.requests.map((r) => r.key)).toEqual(["p:100:0", "p:200:0", "p:300:0"]);
});
