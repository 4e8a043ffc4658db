/**
 * two_phase: true, with the compiled binary killed (-9) while prepared transactions are open.
 * p1 and p2 are prepared, p1 is committed and checkpointed while p2 stays open, then the engine
 * is killed. The slot was confirmed up to p2's PREPARE, which lies past p1's PREPARE and before
 * p1's COMMIT PREPARED: after the restart the server sends p1's COMMIT PREPARED without its
 * changes. That commit is already in the sink and the checkpoint; the engine must go on (and
 * still get p2's rows at its COMMIT PREPARED), not stop streaming.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { binaryPath, createDatabase, freePort, startPgServer, waitUntil, type PgServer } from "../helpers/index.ts";

let server: PgServer;
let src: postgres.Sql;
let wh: postgres.Sql;
let dir: string;
let port: number;
let proc: ReturnType<typeof Bun.spawn> | null = null;
const log = () => readFileSync(join(dir, "engine.log"), "utf8");

async function start(): Promise<void> {
  const fd = openSync(join(dir, "engine.log"), "a");
  proc = Bun.spawn([await binaryPath(), "serve", "--config", join(dir, "cdc.yaml")], { cwd: dir, stdout: fd, stderr: fd });
  closeSync(fd);
}
async function kill(): Promise<void> {
  const p = proc!;
  proc = null;
  p.kill("SIGKILL");
  await p.exited;
}
async function checkpointLsn(): Promise<bigint | null> {
  const r = await fetch(`http://127.0.0.1:${port}/status`).catch(() => null);
  const cp = r?.ok ? ((await r.json()) as { checkpoint: { lsn: string } | null }).checkpoint : null;
  if (!cp) return null;
  const [hi, lo] = cp.lsn.split("/");
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

beforeAll(async () => {
  // Its own server: PREPARE TRANSACTION needs max_prepared_transactions > 0.
  server = await startPgServer("system", ["max_prepared_transactions=10"]);
  const [s, w] = [await createDatabase(server, "tpk_src"), await createDatabase(server, "tpk_wh")];
  src = postgres(server.url(s), { max: 1, onnotice: () => {} });
  wh = postgres(server.url(w), { max: 1, onnotice: () => {} });
  await src.unsafe(`create table t (id int primary key, v text)`);
  dir = mkdtempSync(join(tmpdir(), "qa-2pc-kill-"));
  port = await freePort();
  writeFileSync(
    join(dir, "cdc.yaml"),
    `source: { url: "${server.url(s)}", slot: tpk, publication: tpk, two_phase: true, heartbeat_interval: 1s }
state: { dir: "${join(dir, "state")}", checkpoint_interval: 200ms }
api: { listen: "127.0.0.1:${port}" }
sinks:
  wh: { type: postgres, url: "${server.url(w)}", batch_delay: 10ms }
pipelines:
  - { name: mirror, from: public.t, to: wh }
`,
  );
});

afterAll(async () => {
  if (proc) await kill();
  await src?.end();
  await wh?.end();
  await server?.destroy();
});

const sinkIds = async () => (await wh.unsafe(`select id from t order by id`).catch(() => [])).map((r) => Number(r.id));

test("kill -9 with one prepared transaction committed and checkpointed and another still open: both land once, streaming goes on", async () => {
  await start();
  await waitUntil("first checkpoint", () => checkpointLsn(), 30_000, log);
  await src.unsafe(`begin; insert into t values (1, 'p1'), (2, 'p1'); prepare transaction 'p1'`);
  await src.unsafe(`begin; insert into t values (3, 'p2'); prepare transaction 'p2'`);
  await src.unsafe(`commit prepared 'p1'`);
  await src.unsafe(`insert into t values (10, 'plain')`);
  const [{ l }] = await src.unsafe(`select (pg_current_wal_lsn() - '0/0')::text l`);
  await waitUntil("p1 and the plain row in the sink", async () => JSON.stringify(await sinkIds()) === "[1,2,10]", 30_000, log);
  await waitUntil("a checkpoint past them", async () => ((await checkpointLsn()) ?? 0n) >= BigInt(l), 30_000, log);
  await Bun.sleep(1500); // the slot confirmation goes out (throttled to one a second)
  await kill();

  await start();
  await src.unsafe(`commit prepared 'p2'`);
  await src.unsafe(`insert into t values (11, 'plain')`);
  // Before PreparedHolds it exited 2 (prepared_lost), and before that reconnected every second for good.
  await waitUntil("p2 and the row after it in the sink, or an exit", async () => proc!.exitCode !== null || JSON.stringify(await sinkIds()) === "[1,2,3,10,11]", 30_000, () => log().slice(-3000));
  expect(log()).not.toContain("arrived without its PREPARE");
  expect(proc!.exitCode).toBeNull();
  expect(await sinkIds()).toEqual([1, 2, 3, 10, 11]);
}, 80_000);
