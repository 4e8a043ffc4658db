import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { Engine, mirrorConfig, verify, waitCaughtUp } from "./e2e.ts";

describe("mirrors of REPLICA IDENTITY FULL tables (compiled binary)", () => {
  test("a FULL table with a primary key mirrors updates and deletes by that key; one without applies them to one row equal to the old row; `to: key` keys a table that has none", async () => {
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "ri_src"), await createDatabase(pg, "ri_dst")];
    const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    const out = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
    let engine: Engine | null = null;
    let keyed: Engine | null = null;
    try {
      await sql.unsafe(`
        create table orders (order_id bigserial primary key, qty int, price numeric(10,2), status text);
        alter table orders replica identity full;
        create table events (device text, reading int);
        alter table events replica identity full;
        create table readings (device text not null, reading int);
        alter table readings replica identity full;`);
      await sql`insert into orders (qty, price, status) select g, g * 1.5, 'new' from generate_series(1, 20) g`;
      await sql`insert into events values ('a', 1), ('a', 1), ('b', 2)`;
      const s = await mirrorConfig(pg.url(src), pg.url(dst), ["public.orders", "public.events"]);
      engine = new Engine(s);
      await engine.start();
      await engine.snapshotDone(["public.orders", "public.events"]);
      await sql`update orders set status = 'paid', price = price + 0.01 where order_id % 2 = 0`;
      await sql`delete from orders where order_id % 5 = 0`;
      await sql`update orders set order_id = order_id + 1000 where order_id = 1`;
      await sql`insert into events values ('c', 3)`;
      await sql`update events set reading = 9 where device = 'b'`;
      await waitCaughtUp(pg.url(src), pg.url(dst));
      const v = await verify(s.config);
      expect(v.stdout).toContain("orders");
      const rows = await out`select order_id::int as id, price::text as price, status from public.orders order by 1`;
      const want = await sql`select order_id::int as id, price::text as price, status from public.orders order by 1`;
      expect(rows).toEqual(want);
      expect(rows.length).toBe(16);
      const [{ pk }] = await out`select count(*)::int as pk from pg_constraint where conrelid = 'public.orders'::regclass and contype = 'p'`;
      expect(pk).toBe(1);
      // No key: inserts append (duplicates kept), the update of 'b' replaces the row equal to its old row.
      const ev = await out`select device, reading from public.events order by 1, 2`;
      expect(ev.map((r) => `${r.device}${r.reading}`)).toEqual(["a1", "a1", "b9", "c3"]);
      expect(await engine.kill("SIGTERM")).toBe(0);

      // A single-table mirror whose `to:` names the key: upserts and deletes by it.
      const k = await mirrorConfig(pg.url(src), pg.url(dst), ["public.readings"]);
      await Bun.write(k.config, (await Bun.file(k.config).text()).replace("    to: wh\n", "    to: { sink: wh, key: [device] }\n"));
      keyed = new Engine(k);
      await keyed.start();
      await keyed.snapshotDone(["public.readings"]);
      await sql`insert into readings values ('x', 1), ('y', 2)`;
      await sql`update readings set reading = 5 where device = 'x'`;
      await sql`delete from readings where device = 'y'`;
      await waitCaughtUp(pg.url(src), pg.url(dst));
      const rd = await out`select device, reading from public.readings order by 1`;
      expect(rd.map((r) => `${r.device}${r.reading}`)).toEqual(["x5"]);
      expect(await keyed.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      if (keyed?.proc) await keyed.kill();
      await sql.end();
      await out.end();
    }
  }, 180_000);
});
