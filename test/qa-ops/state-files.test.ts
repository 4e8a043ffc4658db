/**
 * A damaged or unusable state dir, with the compiled binary (QA of operational incidents). Before,
 * a damaged checkpoints.db, dlq.sqlite or source-snapshot.sqlite printed `cdc-engine: file is not a
 * database` (or `database disk image is malformed`) and exited 1, which the systemd unit restarts
 * every 5 s for good; an unwritable state dir said `unable to open database file`, and a full one
 * `database or disk is full`, none naming the file. Now: the file named, exit 2 with the way out
 * for a damaged one (no restart mends it), exit 1 for one that cannot be written (a restart can).
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { freePort, runBinary } from "../helpers/index.ts";

/** A config whose runtime fails at its state files, before it reaches the (unreachable) source. */
async function setup(): Promise<{ dir: string; state: string; config: string }> {
  const dir = mkdtempSync(join(tmpdir(), "cdc-qa-state-"));
  const state = join(dir, "state");
  mkdirSync(state);
  const config = join(dir, "cdc.yaml");
  writeFileSync(
    config,
    `source: { url: "postgres://postgres@127.0.0.1:${await freePort()}/none" }
state: { dir: "${state}" }
api: { listen: "127.0.0.1:${await freePort()}" }
sinks:
  out: { type: sqlite, path: "${join(dir, "out.sqlite")}" }
pipelines:
  - { name: p, from: public.t, to: out }
`,
  );
  return { dir, state, config };
}

/** A real SQLite file cut short: its header says more pages than it has. */
function truncatedDb(path: string): void {
  const db = new Database(path, { create: true });
  db.run("create table checkpoints (id integer primary key, lsn text, created_at integer, state text)");
  db.run("insert into checkpoints (lsn, created_at, state) select 1, 1, hex(randomblob(2000)) from (with recursive n(i) as (select 1 union all select i + 1 from n where i < 50) select i from n)");
  db.close();
  writeFileSync(path, readFileSync(path).subarray(0, 5000));
}

const serve = (config: string) => runBinary(["serve", "--config", config], { timeoutMs: 30_000 });

describe("damaged or unusable state files (compiled binary)", () => {
  test("a damaged checkpoints.db or dlq.sqlite: exit 2, one line naming the file and what to do", async () => {
    const cases: [string, (p: string) => void, RegExp][] = [
      ["checkpoints.db", (p) => writeFileSync(p, Buffer.alloc(8192, 7)), /checkpoints\.db is damaged \(file is not a database\): restore the state dir from a backup, or move its files away/],
      ["checkpoints.db", truncatedDb, /checkpoints\.db is damaged \(database disk image is malformed\)/],
      ["dlq.sqlite", (p) => writeFileSync(p, Buffer.alloc(8192, 7)), /dlq\.sqlite is damaged \(file is not a database\): restore it from a backup, or move it away/],
    ];
    for (const [file, damage, said] of cases) {
      const s = await setup();
      damage(join(s.state, file));
      const r = await serve(s.config);
      expect({ file, code: r.code }).toEqual({ file, code: 2 });
      const last = r.stderr.trim().split("\n").pop()!;
      expect(last).toMatch(said);
      expect(last).toContain(join(s.state, file));
    }
  }, 60_000);

  test("a state file that cannot be opened: exit 1, naming it", async () => {
    const s = await setup();
    // (tests run as root, which a chmod does not stop: a directory where the file should be)
    // (engine.lock: the first file a start opens, which said `unable to open database file` alone)
    mkdirSync(join(s.state, "engine.lock"));
    const r = await serve(s.config);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n").pop()).toBe(`cdc-engine: [state] cannot use ${join(s.state, "engine.lock")}: unable to open database file (state.dir must be writable by the engine's user, with free space)`);
  }, 30_000);
});
