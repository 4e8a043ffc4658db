/**
 * A long transaction open when the engine makes its slot: CREATE_REPLICATION_SLOT waits for every
 * transaction running at that moment to end. The start must say why it waits (not hang silently),
 * and the rows of that transaction arrive once after it commits.
 */
import { expect, test } from "bun:test";
import postgres from "postgres";
import { Engine, mirrorConfig, sourceAndSink, waitCaughtUp } from "../engine/e2e.ts";
import { logSays, rowsOf } from "./helpers.ts";

test("a transaction held open while the slot is made: the start logs what it waits for; its rows arrive once", async () => {
  const db = await sourceAndSink("qa_longtx");
  await db.sql`create table t (id bigint primary key, v int)`;
  await db.sql`create table k (id bigint, v int)`; // no key: a row arriving twice would show
  await db.sql`insert into t select g, g from generate_series(1, 1000) g`;
  const s = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.t", "public.k"]);
  const engine = new Engine(s);
  const holder = postgres(db.srcUrl, { max: 1, onnotice: () => {} });
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const [{ pid }] = await holder`select pg_backend_pid() as pid`;
  const held = holder.begin(async (t) => {
    await t`insert into t select g, g from generate_series(1001, 3000) g`;
    await t`insert into k select g, g from generate_series(1, 500) g`;
    await released;
  });
  try {
    await Bun.sleep(300);
    await engine.start();
    const line = await logSays(engine, `PID ${pid} `, 30_000);
    console.log(line);
    expect(line).toContain("creating replication slot");
    expect(line).toContain("pg_terminate_backend");
    expect(JSON.parse(line).level).toBe(40);
    const h = await engine.health("source");
    expect(h.code).toBe(503);
    expect(String(h.body.reason ?? JSON.stringify(h.body))).toContain(`PID ${pid} `);
    // Still waiting, still saying so; nothing of the open transaction anywhere.
    await Bun.sleep(3000);
    expect(engine.log()).not.toContain("snapshot of public.t done");
    release();
    await held;
    await engine.snapshotDone(["public.t", "public.k"]);
    await db.sql`insert into t values (5000, 5000)`;
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    expect(await rowsOf(db.dstUrl, "t")).toEqual(await rowsOf(db.srcUrl, "t"));
    expect((await rowsOf(db.dstUrl, "k")).length).toBe(500);
    expect(await rowsOf(db.dstUrl, "k")).toEqual(await rowsOf(db.srcUrl, "k"));
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    release();
    await held.catch(() => {});
    await holder.end();
    if (engine.proc) await engine.kill();
    await db.end();
  }
}, 120_000);
