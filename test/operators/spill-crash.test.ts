/**
 * kill -9 with state spilled to disk: a child process runs a join + window pipeline far over its
 * budget, checkpoints, then keeps spilling (and seals once more without a checkpoint) past the
 * last checkpoint and is killed with SIGKILL. A fresh operator restores the last checkpoint (the
 * spill file rolled back to that cut), the transactions after it are replayed, and the result
 * equals a Postgres GROUP BY over the final tables. Then a full checkpoint of the restored state
 * (the first after a start) holds only what is in memory, and restoring it is exact too.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { CheckpointStore } from "../../src/engine/checkpoint-store.ts";
import type { Row } from "../../src/types.ts";
import { AGG_SQL, asText, sortRows } from "./orders-workload.ts";
import { crashSetup } from "./spill-crash-setup.ts";

setDefaultTimeout(180_000);
const FAR = 32503680000000;

let sql: postgres.Sql;
beforeAll(async () => {
  const server = await sharedPg("system");
  sql = postgres(server.url(await createDatabase(server, "spillcrash")), { max: 1, onnotice: () => {} });
  await sql`SET TIME ZONE 'UTC'`;
}, 120_000);
afterAll(async () => {
  await sql?.end();
});

async function oracle(table: Map<bigint, Row>, customers: Map<number, Row>) {
  await sql.unsafe("DROP TABLE IF EXISTS orders; DROP TABLE IF EXISTS customers");
  await sql.unsafe("CREATE TABLE orders (order_id bigint primary key, customer_id int, product_id int, quantity int, price numeric(10,2), status text, created_at timestamptz)");
  await sql.unsafe("CREATE TABLE customers (id int primary key, name text, segment text)");
  const rows = [...table.values()].map((x) => ({ ...x, order_id: String(x.order_id) }));
  for (let i = 0; i < rows.length; i += 1000) await sql`INSERT INTO orders ${sql(rows.slice(i, i + 1000))}`;
  const cs = [...customers.values()];
  for (let i = 0; i < cs.length; i += 1000) await sql`INSERT INTO customers ${sql(cs.slice(i, i + 1000) as Record<string, string | number>[])}`;
  return asText(
    await sql.unsafe(`SELECT c.segment, to_timestamp(floor(extract(epoch from created_at) / 60) * 60)::text AS window_start,
      (to_timestamp(floor(extract(epoch from created_at) / 60) * 60) + interval '1 minute')::text AS window_end, ${AGG_SQL}
      FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1, 2, 3`),
  );
}

test("kill -9 after spills past the last checkpoint: restore + replay equals the oracle", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cdc-spill-crash-"));
  const [seed, n, stopAt] = [41, 5000, 600];
  const child = Bun.spawn(["bun", join(import.meta.dir, "spill-crash-child.ts"), dir, String(seed), String(n), String(stopAt)], { stdout: "pipe", stderr: "ignore" });
  let out = "";
  const reader = child.stdout.getReader();
  const ready = () => out.split("\n").find((l, i, all) => l.startsWith("ready ") && i < all.length - 1);
  while (!ready()) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  child.kill("SIGKILL");
  await child.exited;
  expect(child.signalCode).toBe("SIGKILL");
  const [, atCheckpoint, atKill] = ready()!.split(" ");
  const before = JSON.parse(atCheckpoint!) as { rows: number; join: number };
  const after = JSON.parse(atKill!) as { rows: number; join: number };
  expect(before.rows).toBeGreaterThan(500);
  expect(before.join).toBeGreaterThan(1000);
  expect(after.rows).toBeGreaterThan(before.rows); // the file changed after the checkpoint

  // restart: the last checkpoint, the spill file rolled back to its cut, the WAL after it replayed
  const s = await crashSetup(dir, seed, n);
  const store = new CheckpointStore(dir);
  const cp = store.latest()!;
  const saved = cp.state as unknown as { crash: { ops: unknown[] }; sink: { ops: [[string, Row][]] } };
  s.runner.restore(saved.crash.ops);
  // the file itself, rolled back: what it held at the checkpoint, not what the killed process left
  const file = (s.compiled.operators[0] as unknown as { state: { spill: { countLive(): { contribs: number; joinRows: number } } } }).state.spill;
  expect(file.countLive()).toEqual({ contribs: before.rows, joinRows: before.join });
  for (const [k, r] of saved.sink.ops[0]) s.sink.set(k, r);
  for (const t of s.txns) if (t.lsn > cp.lsn) s.apply(await s.runner.process(t));

  // a full checkpoint of the restored state holds what is in memory, not what is on disk
  const snap = s.runner.snapshot() as { $chain: string; state: { windows: { full: { json: string } } } }[];
  expect(snap[0]!.$chain).toBe("full");
  const full = JSON.parse(snap[0]!.state.windows.full.json) as { contrib: unknown[] };
  expect(full.contrib.length).toBeLessThan(200);
  expect(s.spill().rows).toBeGreaterThan(1000);
  store.save(s.txns[s.txns.length - 1]!.lsn, { crash: { lsn: "0", ops: snap }, sink: { lsn: "0", ops: [[...s.sink]] } } as unknown as Record<string, unknown[]>);
  const sinkAtFull = new Map(s.sink);

  s.apply(s.runner.onWatermark(FAR, 1n));
  s.apply(s.runner.onWatermark(FAR + 3_600_000, 2n));
  const expected = sortRows(await oracle(s.table, s.customers));
  expect(expected.length).toBeGreaterThan(200);
  expect(sortRows(asText([...s.sink.values()]))).toEqual(expected);

  // restore that full checkpoint in another fresh operator (the previous one is abandoned, as after a crash)
  const t = await crashSetup(dir, seed, n);
  t.runner.restore((store.latest()!.state as unknown as { crash: { ops: unknown[] } }).crash.ops);
  for (const [k, r] of sinkAtFull) t.sink.set(k, r);
  t.apply(t.runner.onWatermark(FAR, 1n));
  t.apply(t.runner.onWatermark(FAR + 3_600_000, 2n));
  expect(sortRows(asText([...t.sink.values()]))).toEqual(expected);
  store.close();
});
