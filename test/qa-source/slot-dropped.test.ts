/**
 * An operator drops the replication slot (after terminating its walsender) or the publication while
 * the engine streams: the engine must say so in one line naming what was dropped and what to do, and
 * stop, not loop silently or lose rows without a word.
 */
import { expect, test } from "bun:test";
import { Engine, mirrorConfig, sourceAndSink, waitCaughtUp } from "../engine/e2e.ts";
import { runBinary } from "../helpers/index.ts";
import { dropSlotUnder, exitWithin, logSays, rowsOf, slotOf, startWith, writeLoop } from "./helpers.ts";

test("the slot dropped while streaming: one error line naming the slot and --resnapshot, exit 2; --resnapshot then ends equal", async () => {
  const db = await sourceAndSink("qa_slotdrop");
  await db.sql`create table t (id bigint primary key, v int)`;
  const s = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.t"]);
  const slot = await slotOf(s);
  const engine = new Engine(s);
  const w = writeLoop(db.srcUrl, "t");
  try {
    await engine.start();
    await engine.snapshotDone(["public.t"]);
    await Bun.sleep(2000);
    await dropSlotUnder(db.sql, slot);
    expect(await exitWithin(engine, 30_000)).toBe(2);
    const line = await logSays(engine, `replication slot ${slot} was dropped while streaming`);
    expect(line).toContain("--resnapshot");
    // Once in the log ("runtime failed") and once on exit (the CLI's line); the source, the
    // runtime's stop and the supervisor each repeated it before.
    expect(engine.log().split(`replication slot ${slot} was dropped while streaming`).length - 1).toBe(2);
    // The way out it names: the deletes among the lost changes must not stay in the mirror.
    await startWith(engine, s, ["--resnapshot"]);
    await Bun.sleep(3000);
    await w.stop();
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    expect(await rowsOf(db.dstUrl, "t")).toEqual(await rowsOf(db.srcUrl, "t"));
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    await w.stop();
    if (engine.proc) await engine.kill();
    await db.end();
  }
}, 120_000);

test("the publication dropped while streaming: one line naming it, the slot and the way out, exit 2 (also at the next start, which looped before); slot drop + --resnapshot ends equal", async () => {
  const db = await sourceAndSink("qa_pubdrop");
  await db.sql`create table t (id bigint primary key, v int)`;
  const s = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.t"]);
  const pub = await slotOf(s); // mirrorConfig names both alike
  const engine = new Engine(s);
  const w = writeLoop(db.srcUrl, "t");
  try {
    await engine.start();
    await engine.snapshotDone(["public.t"]);
    await Bun.sleep(2000);
    await db.sql.unsafe(`drop publication ${pub}`);
    expect(await exitWithin(engine, 30_000)).toBe(2);
    const said = `publication ${pub} was dropped while replication slot ${pub} streamed it`;
    const line = await logSays(engine, said);
    expect(line).toContain("cdc-engine slot drop --config");
    expect(line).toContain("--resnapshot");
    // A plain restart makes the publication again, but the slot still cannot pass the drop: it
    // reconnected every second for good, warning only. Now it says the same and exits 2.
    const before = engine.log().length;
    await engine.start();
    expect(await exitWithin(engine, 30_000)).toBe(2);
    expect(engine.log().slice(before)).toContain(said);
    // The way out the line names.
    const drop = await runBinary(["slot", "drop", "--config", s.config]);
    expect(drop.code).toBe(0);
    await startWith(engine, s, ["--resnapshot"]);
    await Bun.sleep(3000);
    console.log(`rows written: ${await w.stop()} transactions`);
    await waitCaughtUp(db.srcUrl, db.dstUrl);
    expect(await rowsOf(db.dstUrl, "t")).toEqual(await rowsOf(db.srcUrl, "t"));
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    await w.stop();
    if (engine.proc) await engine.kill();
    await db.end();
  }
}, 180_000);
