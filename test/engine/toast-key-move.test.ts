/**
 * An UPDATE that changes a row's primary key sends its unchanged TOAST columns as "unchanged"
 * only: the mirrors (Postgres, SQLite) got NULL there, since the row is new under its new key.
 * The source reads those values again by the new key (toast-reselect.ts).
 */
import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { Engine, mirrorConfig, verify, waitCaughtUp } from "./e2e.ts";

test("a key change keeps the row's unchanged TOAST values in the Postgres and SQLite mirrors (compiled binary)", async () => {
  const pg = await sharedPg("system");
  const [src, dst] = [await createDatabase(pg, "tk_src"), await createDatabase(pg, "tk_dst")];
  const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
  const out = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
  let engine: Engine | null = null;
  try {
    await sql.unsafe(`
      create table tt (id int primary key, a int, big text, bb bytea);
      alter table tt alter column big set storage external;
      insert into tt select g, g, repeat(md5(g::text), 4000), decode(repeat(md5(g::text), 2000), 'hex') from generate_series(1, 10) g;`);
    const s = await mirrorConfig(pg.url(src), pg.url(dst), ["public.tt"]);
    const lite = join(s.dir, "wh.db");
    const cfg = (await Bun.file(s.config).text())
      .replace("sinks:\n", `sinks:\n  lite: { type: sqlite, path: "${lite}", batch_delay: 50ms }\n`)
      .concat(`  - name: lite_mirror\n    from: public.tt\n    to: lite\n`);
    await Bun.write(s.config, cfg);
    engine = new Engine(s);
    await engine.start();
    await engine.snapshotDone(["public.tt"]);
    await sql`update tt set id = 101 where id = 1`;
    await sql`update tt set id = id + 1000, a = a * 10 where id in (4, 5)`;
    await sql`update tt set a = -1 where id = 101`;
    await waitCaughtUp(pg.url(src), pg.url(dst));
    const shape = `select id, a, md5(big) as big, md5(bb) as bb from tt order by id`;
    const want = await sql.unsafe(shape);
    expect(want.map((r) => r.id)).toEqual([2, 3, 6, 7, 8, 9, 10, 101, 1004, 1005]);
    expect(want.every((r) => r.big !== null && r.bb !== null)).toBe(true);
    expect(await out.unsafe(shape)).toEqual(want);
    const v = await verify(s.config);
    expect(`exit ${v.code}\n${v.stdout}`).toContain("exit 0\n");
    // SQLite: the same values (text as is, bytea as a blob).
    const db = new Database(lite, { readonly: true });
    try {
      const rows = db.query(`select id, a, big, bb from tt order by id`).all() as { id: number; a: number; big: string; bb: Uint8Array }[];
      const hash = (x: string | Uint8Array) => new Bun.CryptoHasher("md5").update(x).digest("hex");
      expect(rows.map((r) => ({ id: r.id, a: r.a, big: r.big === null ? null : hash(r.big), bb: r.bb === null ? null : hash(r.bb) }))).toEqual(want.map((r) => ({ id: r.id, a: r.a, big: r.big, bb: r.bb })));
    } finally {
      db.close();
    }
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    if (engine?.proc) await engine.kill();
    await sql.end();
    await out.end();
  }
}, 180_000);
