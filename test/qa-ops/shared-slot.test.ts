/**
 * Two engines on one replication slot, each with its own state dir (a copied config whose
 * state.dir was changed, not its slot). The second waited with "slot is active" warnings, and once
 * the first stopped (a deploy, a restart) it dropped the slot and made it again for its own
 * snapshot: the first engine's next start found its slot past its checkpoint, changes lost (QA).
 * Now a start without a checkpoint refuses a slot another process streams from: exit 2, one line.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../helpers/index.ts";
import { Engine, mirrorConfig, sourceAndSink } from "../engine/e2e.ts";
import { exitWithin, logSays, slotOf } from "../qa-source/helpers.ts";

describe("a second engine on the same slot, another state dir (compiled binary)", () => {
  test("refused with exit 2 while the first streams; the first keeps its slot", async () => {
    const db = await sourceAndSink("qaslot");
    const first = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.t"]);
    const dir = mkdtempSync(join(tmpdir(), "cdc-qa-slot2-"));
    const second = { ...first, dir, config: join(dir, "cdc.yaml"), port: await freePort(), logFile: join(dir, "engine.log") };
    writeFileSync(second.config, readFileSync(first.config, "utf8").replace(join(first.dir, "state"), join(dir, "state")).replace(`:${first.port}"`, `:${second.port}"`));
    const one = new Engine(first);
    const two = new Engine(second);
    try {
      await db.sql`create table t (id int primary key, v int)`;
      await db.sql`insert into t values (1, 1)`;
      await one.start();
      await one.snapshotDone(["public.t"]);
      await two.start();
      expect(await exitWithin(two, 20_000)).toBe(2);
      const slot = await slotOf(first);
      expect(await logSays(two, `replication slot ${slot} is in use by PID`)).toContain("this state dir holds no checkpoint of it");
      // The first engine streams on, from its own slot.
      await db.sql`insert into t values (2, 2)`;
      const until = Date.now() + 30_000;
      while ((await db.out`select count(*)::int as n from t`.catch(() => [{ n: 0 }]))[0].n < 2 && Date.now() < until) await Bun.sleep(200);
      expect((await db.out`select count(*)::int as n from t`)[0].n).toBe(2);
      expect(one.log()).not.toContain("recreating");
    } finally {
      if (one.proc) await one.kill("SIGTERM");
      if (two.proc) await two.kill();
      await db.end();
    }
  }, 90_000);

  // The refusal waits a moment: the walsender of a start killed before its first checkpoint (kill
  // -9 mid-snapshot, then an immediate restart) is still on the slot for a moment. Here another
  // consumer (pg_recvlogical) holds it and lets go 2 s after the start: the start goes on.
  test("a slot let go within moments of the start is taken, not refused", async () => {
    const db = await sourceAndSink("qaslot_gone");
    const s = await mirrorConfig(db.srcUrl, db.dstUrl, ["public.t"]);
    const slot = await slotOf(s);
    const engine = new Engine(s);
    await db.sql`create table t (id int primary key, v int)`;
    await db.sql`insert into t values (1, 1)`;
    await db.sql.unsafe(`create publication ${slot} for table t`);
    await db.sql`select pg_create_logical_replication_slot(${slot}, 'pgoutput')`;
    const u = new URL(db.srcUrl);
    const recv = Bun.spawn(["/usr/lib/postgresql/15/bin/pg_recvlogical", "-h", u.hostname, "-p", u.port, "-U", decodeURIComponent(u.username), "-d", u.pathname.slice(1), "--slot", slot, "--start", "-o", "proto_version=1", "-o", `publication_names=${slot}`, "-f", "/dev/null"], { stdout: "ignore", stderr: "ignore" });
    try {
      for (let i = 0; i < 50 && !(await db.sql`select active from pg_replication_slots where slot_name = ${slot}`)[0]?.active; i++) await Bun.sleep(100);
      await engine.start();
      await Bun.sleep(2000);
      recv.kill();
      await engine.snapshotDone(["public.t"], 30_000);
      await db.sql`insert into t values (2, 2)`;
      const until = Date.now() + 30_000;
      while ((await db.out`select count(*)::int as n from t`.catch(() => [{ n: 0 }]))[0].n < 2 && Date.now() < until) await Bun.sleep(200);
      expect((await db.out`select count(*)::int as n from t`)[0].n).toBe(2);
      expect(engine.log()).not.toContain("is in use by PID");
    } finally {
      recv.kill();
      if (engine.proc) await engine.kill("SIGTERM");
      await db.end();
    }
  }, 90_000);
});
