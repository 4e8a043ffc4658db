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
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createDatabase, freePort, sharedPg } from "../helpers/index.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { Engine } from "./e2e.ts";

const ROWS = 60_000;

describe("kill -9 during the initial snapshot, rows deleted meanwhile, into a de-duplicating webhook (compiled binary)", () => {
  test("each row is stored once as read, each delete once", async () => {
    const pg = await sharedPg("system");
    const src = await createDatabase(pg, "qahttp_src");
    const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
    const rx = new HttpReceiver();
    let engine: Engine | null = null;
    try {
      await sql.unsafe(`create table big (id int primary key, v text); insert into big select g, md5(g::text) from generate_series(1, ${ROWS}) g`);
      const dir = mkdtempSync(join(tmpdir(), "cdc-qahttp-"));
      const port = await freePort();
      const slot = `s_${Math.random().toString(36).slice(2, 10)}`;
      const config = join(dir, "cdc.yaml");
      writeFileSync(
        config,
        `source: { url: "${pg.url(src)}", slot: ${slot}, publication: ${slot}, heartbeat_interval: 1s, snapshot_chunk_size: 1000 }
state: { dir: "${join(dir, "state")}", checkpoint_interval: 1h }
api: { listen: "127.0.0.1:${port}" }
sinks:
  hook: { type: http, url: "${rx.url}", batch_size: 100, batch_delay: 10ms, payload: envelope }
pipelines:
  - { name: big_hook, from: public.big, to: hook }
`,
      );
      engine = new Engine({ dir, config, port, logFile: join(dir, "engine.log") });
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
      const checkpoints = () => {
        try {
          const db = new Database(join(dir, "state", "checkpoints.db"), { readonly: true });
          try {
            return (db.query("select count(*) as n from checkpoints").get() as { n: number }).n;
          } finally {
            db.close();
          }
        } catch {
          return 0;
        }
      };
      // First kill before any checkpoint, after deleting rows the receiver has (the next start
      // hands the deletes over, then reads the table again); the second after a checkpoint.
      let seen = 0;
      for (let kill = 0; kill < 2; kill++) {
        if (kill === 1) writeFileSync(config, readFileSync(config, "utf8").replace("checkpoint_interval: 1h", "checkpoint_interval: 200ms"));
        await engine.start();
        const until = Date.now() + 60_000;
        while ((stored().reads.size <= seen + 12_000 || (kill === 1 && checkpoints() === 0)) && Date.now() < until) await Bun.sleep(20);
        if (kill === 0) await sql`delete from big where id <= 7`;
        seen = stored().reads.size;
        expect(engine.log()).not.toContain("snapshot of public.big done"); // killed mid-snapshot
        await engine.kill("SIGKILL");
      }
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
      const sentFile = join(dir, "state", "sink-hook.snapshot-sent.sqlite");
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
