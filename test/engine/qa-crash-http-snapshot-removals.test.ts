/**
 * kill -9 during the initial snapshot into a webhook that keeps one copy per Idempotency-Key, with
 * rows deleted at the source while the first attempt reads. The next start hands those deletes
 * over first and reads the table again: its requests were cut differently (7 deletes before them
 * shifted every boundary), each had a new key, and the receiver stored every row the first
 * attempt had delivered a second time (QA, a live workload: 19,992 rows twice in one run; the
 * 04:30 fix held only when nothing changed in between). The http sink now keeps the names of the
 * snapshot records it sent (state.dir/sink-<name>.snapshot-sent.sqlite): a settled one is not
 * sent again, an unanswered one goes out again under its request's key.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { bigSnapshotSetup, Engine, killTwiceMidSnapshot } from "./e2e.ts";

const ROWS = 60_000;

describe("kill -9 during the initial snapshot, rows deleted meanwhile, into a de-duplicating webhook (compiled binary)", () => {
  test("each row is stored once as read, each delete once", async () => {
    const pg = await sharedPg("system");
    const src = await createDatabase(pg, "qahttp_src");
    const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    const rx = new HttpReceiver();
    let engine: Engine | null = null;
    try {
      const setup = await bigSnapshotSetup(sql, pg.url(src), ROWS, `sinks:
  hook: { type: http, url: "${rx.url}", batch_size: 100, batch_delay: 10ms, payload: envelope }
pipelines:
  - { name: big_hook, from: public.big, to: hook }
`);
      engine = new Engine(setup);
      const stored = () => {
        const reads = new Map<number, number>();
        const deletes = new Map<number, number>();
        for (const body of rx.byKey.values())
          for (const r of JSON.parse(body) as { op: string; after: { id: number } | null; before: { id: number } | null }[]) {
            const m = r.op === "d" ? deletes : reads;
            const id = (r.op === "d" ? r.before : r.after)!.id;
            m.set(id, (m.get(id) ?? 0) + 1);
          }
        return { reads, deletes };
      };
      // First kill before any checkpoint (the slot is made again, a new snapshot), the second
      // after one (the snapshot resumes after its last saved key).
      await killTwiceMidSnapshot(engine, setup, () => stored().reads.size, async (kill) => (kill === 0 ? sql`delete from big where id <= 7` : undefined));
      await engine.start();
      await engine.snapshotDone(["public.big"], 60_000);
      const until = Date.now() + 60_000;
      while (stored().reads.size < ROWS && Date.now() < until) await Bun.sleep(100);
      await Bun.sleep(500);
      const { reads, deletes } = stored();
      const missing = Array.from({ length: ROWS }, (_, i) => i + 1).filter((id) => !reads.has(id));
      const twice = [...reads].filter(([, n]) => n > 1).map(([id]) => id);
      expect({ read: reads.size, missing: missing.slice(0, 5), twice: twice.length, examples: twice.slice(0, 5) }).toEqual({ read: ROWS, missing: [], twice: 0, examples: [] });
      expect([...deletes].sort(([a], [b]) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7].map((id) => [id, 1]));
      expect(engine.log()).toContain("holds 7 deletes or truncates");
      // Streaming, the snapshot is behind: the names of its records sent are gone, file and all.
      const sentFile = join(setup.dir, "state", "sink-hook.snapshot-sent.sqlite");
      expect(existsSync(sentFile)).toBe(true);
      await sql`insert into big values (${ROWS + 1}, 'streamed')`;
      const until2 = Date.now() + 30_000;
      while (!stored().reads.has(ROWS + 1) && Date.now() < until2) await Bun.sleep(50);
      expect(stored().reads.get(ROWS + 1)).toBe(1);
      while (existsSync(sentFile) && Date.now() < until2) await Bun.sleep(50); // removed once the position is stored
      expect(existsSync(sentFile)).toBe(false);
      expect(engine.log()).toContain("resuming after the last saved key");
      expect(await engine.kill("SIGTERM")).toBe(0);
    } finally {
      if (engine?.proc) await engine.kill();
      rx.stop();
      await sql.end();
    }
  }, 120_000);
});
