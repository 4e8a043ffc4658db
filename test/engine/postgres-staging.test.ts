import { expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { PostgresSink } from "../../src/sinks/postgres/sink.ts";
import { postgresSinkConfig } from "../../src/sinks/postgres/config.ts";
import { col, context, OID, rec, table } from "../sinks/helpers.ts";

test("postgres sink: two COPY runs of one table in one transaction (a delete between them) do not bring the deleted row back", async () => {
  const pg = await sharedPg("system");
  const url = pg.url(await createDatabase(pg, "stage"));
  const t = table("public.items", [col("id", OID.int8, { key: true }), col("v", OID.text)], ["id"]);
  const sink = new PostgresSink(postgresSinkConfig.parse({ url }));
  await sink.open(context("wh"));
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    // The table exists first, so both runs are planned as COPY (big runs of upserts).
    await sink.write({ pipeline: "p", lsn: 1n, records: [rec(t, "upsert", { id: 0n, v: "seed" }, 1n)] });
    // Source updates: upserts through the staging table (source inserts would be COPYed straight in).
    const upd = { source: { table: "public.items", op: "update", xid: 2 } };
    const records = [];
    for (let i = 1; i <= 1500; i++) records.push(rec(t, "upsert", { id: BigInt(i), v: `a${i}` }, 2n, records.length, upd));
    records.push(rec(t, "delete", { id: 10n }, 2n, records.length));
    for (let i = 2001; i <= 3500; i++) records.push(rec(t, "upsert", { id: BigInt(i), v: `b${i}` }, 2n, records.length, upd));
    await sink.write({ pipeline: "p", lsn: 2n, records });
    const [{ n, gone }] = await sql`select count(*)::int as n, count(*) filter (where id = 10)::int as gone from items`;
    expect(gone).toBe(0);
    expect(n).toBe(1 + 1500 - 1 + 1500);
  } finally {
    await sink.close();
    await sql.end();
  }
});
