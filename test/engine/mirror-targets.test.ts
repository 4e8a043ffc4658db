/**
 * A single-table mirror into two sinks with `to: [{sink, table, key}, {sink, table}]`: the first
 * entry's table and key were ignored as soon as there was a second entry (the copy kept the
 * source's name and, for a table without a primary key, stayed append-only). Compiled binary.
 */
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { Engine, mirrorConfig, waitCaughtUp } from "./e2e.ts";

describe("mirror with several targets (compiled binary)", () => {
  test("the first target's table and key apply; the second target gets its own table name", async () => {
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "mt_src"), await createDatabase(pg, "mt_dst")];
    const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    const out = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
    let engine: Engine | null = null;
    try {
      await sql.unsafe(`create table readings (device text not null, reading int); alter table readings replica identity full; insert into readings values ('a', 1), ('b', 2)`);
      const s = await mirrorConfig(pg.url(src), pg.url(dst), ["public.readings"]);
      const lite = join(s.dir, "r.sqlite");
      const text = (await Bun.file(s.config).text())
        .replace("  wh: { type: postgres", `  lite: { type: sqlite, path: "${lite}" }\n  wh: { type: postgres`)
        .replace("    to: wh\n", "    to: [{ sink: wh, table: r1, key: [device] }, { sink: lite, table: r2 }]\n");
      await Bun.write(s.config, text);
      engine = new Engine(s);
      await engine.start();
      await engine.snapshotDone(["public.readings"]);
      await sql`update readings set reading = 5 where device = 'a'`;
      await sql`delete from readings where device = 'b'`;
      await waitCaughtUp(pg.url(src), pg.url(dst));
      expect((await out`select device, reading from public.r1 order by 1`).map((r) => `${r.device}${r.reading}`)).toEqual(["a5"]);
      expect((await out`select to_regclass('public.readings') as t`)[0].t).toBeNull();
      const [{ pk }] = await out`select count(*)::int as pk from pg_constraint where conrelid = 'public.r1'::regclass and contype = 'p'`;
      expect(pk).toBe(1);
      const until = Date.now() + 20_000;
      let rows: string[] = [];
      while (Date.now() < until) {
        const db = new Database(lite, { create: true });
        try {
          rows = (db.query("select device, reading from r2 order by 1").all() as { device: string; reading: number }[]).map((r) => `${r.device}${r.reading}`);
        } catch {
          rows = [];
        } finally {
          db.close();
        }
        if (rows.join() === "a5") break;
        await Bun.sleep(100);
      }
      expect(rows).toEqual(["a5"]);
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      await sql.end();
      await out.end();
    }
  }, 120_000);
});
