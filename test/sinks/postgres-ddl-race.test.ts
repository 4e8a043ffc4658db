/**
 * Two engines on one warehouse (examples/orders.yaml and warehouse.yaml default to the same one)
 * create the same table at the same moment: CREATE TABLE IF NOT EXISTS races in Postgres
 * (duplicate key on pg_type_typname_nsp_index) and one engine exited. ensureTable takes the
 * table the other one made.
 */
import { expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { ensureTable } from "../../src/sinks/postgres/ddl.ts";
import type { OutputTable } from "../../src/sinks/sink.ts";

test("ensureTable from eight connections at once: every call gets the table, none fails", async () => {
  const pg = await sharedPg("system");
  const db = await createDatabase(pg, "ddl_race");
  const clients = Array.from({ length: 8 }, () => postgres(pg.url(db), { max: 1, onnotice: () => {} }));
  try {
    for (let round = 0; round < 5; round++) {
      const t: OutputTable = { name: `race_schema_${round}.t${round}`, key: ["id"], columns: [{ name: "id", typeOid: 20, typeMod: -1, isKey: true }, { name: "v", typeOid: 25, typeMod: -1, isKey: false }] };
      const infos = await Promise.all(clients.map((c) => ensureTable(c as never, t, "public")));
      for (const info of infos) expect([...info.columns.keys()].sort()).toEqual(["id", "v"]);
    }
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
});
