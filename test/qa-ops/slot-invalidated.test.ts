/**
 * The idle-slot scenario: the engine is stopped, WAL piles up past max_slot_wal_keep_size and the
 * server invalidates the slot (wal_status lost). The start said `replication slot … is missing
 * (dropped or invalidated)` while `slot status` showed it there; it now says what happened.
 * Exit 2 either way, as README's "Slot safety" says; --resnapshot then reads the tables again.
 */
import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, startPgServer, type PgServer } from "../helpers/index.ts";
import { waitUntil } from "../helpers/wait-for.ts";
import { Engine, mirrorConfig } from "../engine/e2e.ts";
import { exitWithin, logSays, rowsOf, slotOf, startWith } from "../qa-source/helpers.ts";

let server: PgServer | null = null;
afterAll(async () => {
  await server?.destroy();
});

describe("a slot invalidated by max_slot_wal_keep_size while the engine is stopped (compiled binary)", () => {
  test("exit 2 with one line saying it was invalidated; --resnapshot brings the mirror back", async () => {
    server = await startPgServer("system", ["max_slot_wal_keep_size=1MB", "max_wal_size=32MB", "min_wal_size=32MB"]);
    const [src, dst] = [await createDatabase(server, "qainv_src"), await createDatabase(server, "qainv_dst")];
    const sql = postgres(server.url(src), { max: 1, onnotice: () => {} });
    const setup = await mirrorConfig(server.url(src), server.url(dst), ["public.t"]);
    const engine = new Engine(setup);
    try {
      await sql`create table t (id int primary key, v int)`;
      await sql`insert into t select g, g from generate_series(1, 100) g`;
      await engine.start();
      await engine.snapshotDone(["public.t"]);
      expect(await engine.kill("SIGTERM")).toBe(0);
      const slot = await slotOf(setup);
      // Rows deleted and added while stopped, then WAL past the slot's allowance.
      await sql`delete from t where id <= 10`;
      await sql`insert into t select g, g from generate_series(101, 120) g`;
      await waitUntil(
        "the slot invalidated",
        async () => {
          await sql`select pg_switch_wal()`;
          await sql`insert into t values (1000, 0) on conflict (id) do update set v = t.v + 1`;
          await sql`checkpoint`;
          const [r] = await sql`select wal_status from pg_replication_slots where slot_name = ${slot}`;
          return r?.wal_status === "lost";
        },
        30_000,
        undefined,
        50,
      );
      await engine.start();
      expect(await exitWithin(engine, 20_000)).toBe(2);
      expect(await logSays(engine, `replication slot ${slot} was invalidated: the server removed WAL it still needed (max_slot_wal_keep_size)`)).toContain("--resnapshot");

      await startWith(engine, setup, ["--resnapshot"]);
      const want = await rowsOf(server.url(src), "t");
      await waitUntil("the mirror equals the source", async () => JSON.stringify(await rowsOf(server!.url(dst), "t")) === JSON.stringify(want), 45_000, () => engine.log());
    } finally {
      if (engine.proc) await engine.kill("SIGTERM");
      await sql.end();
    }
  }, 120_000);
});
