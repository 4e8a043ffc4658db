import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { Engine, mirrorConfig, verify, waitCaughtUp } from "./e2e.ts";

const SCHEMA = `
  create table users (id bigint primary key, name text not null);
  create table transactions (id bigint primary key, user_id bigint not null references users(id), amount numeric(12,2) not null);
  create table detailed_transactions (id bigint primary key, transaction_id bigint not null references transactions(id), line text not null);`;

/** One client: new user + transaction + details in one transaction; now and then deletes an older chain child-first. */
async function client(url: string, id: number, until: number): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  let n = 0;
  while (Date.now() < until) {
    const u = id * 1_000_000 + n;
    await sql.begin(async (tx) => {
      await tx`insert into users values (${u}, ${"user " + u})`;
      await tx`insert into transactions values (${u}, ${u}, ${(n % 1000) + ".25"})`;
      for (let d = 0; d < 3; d++) await tx`insert into detailed_transactions values (${u * 10 + d}, ${u}, ${"line " + d})`;
      if (n >= 4 && n % 4 === 0) {
        const old = u - 4;
        await tx`delete from detailed_transactions where transaction_id = ${old}`;
        await tx`delete from transactions where id = ${old}`;
        await tx`delete from users where id = ${old}`;
      }
      if (n % 3 === 0) await tx`update transactions set amount = amount + 1 where id = ${u}`;
    });
    n++;
  }
  await sql.end();
  return n;
}

describe("foreign keys hold in the sink (compiled binary)", () => {
  test("users → transactions → detailed_transactions mirrored with FKs in the sink while writes run: no violation", async () => {
    const pg = await sharedPg("system");
    const [src, dst] = [await createDatabase(pg, "fk_src"), await createDatabase(pg, "fk_dst")];
    for (const db of [src, dst]) {
      const sql = postgres(pg.url(db), { max: 1, onnotice: () => {} });
      await sql.unsafe(SCHEMA);
      await sql.end();
    }
    const tables = ["public.users", "public.transactions", "public.detailed_transactions"];
    const s = await mirrorConfig(pg.url(src), pg.url(dst), tables);
    const engine = new Engine(s);
    try {
      await engine.start();
      await engine.snapshotDone(tables);
      const until = Date.now() + 12_000;
      const counts = await Promise.all([1, 2, 3, 4].map((i) => client(pg.url(src), i, until)));
      expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThan(200);
      await waitCaughtUp(pg.url(src), pg.url(dst), 120_000);
      const v = await verify(s.config);
      expect(v.stdout).toContain("all 3 table(s) equal");
      expect(v.code).toBe(0);
      // Any FK violation would have failed a sink write (and been retried): there was none.
      expect(engine.log()).not.toContain("violates foreign key");
      expect(engine.log()).not.toContain("sink write failed");
      const dstSql = postgres(pg.url(dst), { max: 1, onnotice: () => {} });
      const [{ n }] = await dstSql`select count(*)::int as n from pg_constraint where contype = 'f'`;
      expect(n).toBe(2);
      await dstSql.end();
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine.proc) await engine.kill();
    }
  }, 300_000);
});
