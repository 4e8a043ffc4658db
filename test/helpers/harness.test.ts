import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, pgFlavors, sharedPg } from "./index.ts";

describe.each(pgFlavors())("test Postgres (%s)", (flavor) => {
  test("runs with wal_level=logical and gives each test its own database", async () => {
    const pg = await sharedPg(flavor);
    const db = await createDatabase(pg);
    const sql = postgres(pg.url(db), { max: 1 });
    try {
      const [row] = await sql`select current_setting('wal_level') as wal, current_database() as db, current_setting('server_version_num')::int / 10000 as major`;
      expect(row.wal).toBe("logical");
      expect(row.db).toBe(db);
      expect(row.major).toBe(flavor === "embedded" ? 18 : pg.major);
    } finally {
      await sql.end();
    }
  });
});
