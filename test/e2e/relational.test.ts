/**
 * Scenario 5: examples/relational.yaml with the compiled binary. The replica has the same
 * foreign keys (sql/relational.sql); the generator runs repeatedly (several runs, then continuous
 * mode); while it runs the replica is sampled for orphans, and `verify` passes at the end.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import { binaryPath, createDatabase, sharedPg } from "../helpers/index.ts";
import { generate, Serve, waitFor } from "./harness.ts";

let src: postgres.Sql;
let dst: postgres.Sql;
let serve: Serve;
let srcUrl = "";

const ORPHANS = `select (select count(*) from transactions t where not exists (select 1 from users u where u.user_id = t.user_id))
                      + (select count(*) from detailed_transactions d where not exists (select 1 from transactions t where t.transaction_id = d.transaction_id))
                      + (select count(*) from detailed_transactions d where not exists (select 1 from users u where u.user_id = d.user_id)) as n`;

beforeAll(async () => {
  const pg = await sharedPg("system");
  srcUrl = pg.url(await createDatabase(pg, "e2e_rel_src"));
  const dstUrl = pg.url(await createDatabase(pg, "e2e_rel_dst"));
  src = postgres(srcUrl, { max: 1, onnotice: () => {} });
  dst = postgres(dstUrl, { max: 1, onnotice: () => {} });
  await generate(srcUrl, ["--dataset", "relational", "--init", "--runs", "1"]);
  await dst.unsafe(await Bun.file(join(import.meta.dir, "../../sql/relational.sql")).text());
  serve = new Serve("relational", { SOURCE_URL: srcUrl, REPLICA_URL: dstUrl });
  await serve.start();
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await dst?.end();
});

test("generator runs repeatedly and continuously; the mirror never holds an orphan; verify passes", async () => {
  let samples = 0;
  let maxOrphans = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const n = Number((await dst.unsafe(ORPHANS))[0]!.n);
      maxOrphans = Math.max(maxOrphans, n);
      samples++;
      await Bun.sleep(20);
    }
  })();
  const t0 = performance.now();
  await generate(srcUrl, ["--dataset", "relational", "--runs", "5", "--interval", "200ms", "--users", "20", "--transactions", "60", "--details", "200"]);
  // continuous mode: repeats on an interval until stopped
  const cont = Bun.spawn([await binaryPath(), "generate", "--url", srcUrl, "--dataset", "relational", "--continuous", "--interval", "300ms", "--progress", "none"], { stdout: "pipe", stderr: "pipe" });
  await Bun.sleep(3000);
  cont.kill("SIGTERM");
  expect(await cont.exited).toBe(0);
  const genDone = performance.now();
  const want = (await src.unsafe("select (select count(*) from users)::int u, (select count(*) from transactions)::int t, (select count(*) from detailed_transactions)::int d"))[0]!;
  expect(want.u).toBeGreaterThan(110);
  await waitFor("replica caught up", async () => {
    const got = (await dst.unsafe("select (select count(*) from users)::int u, (select count(*) from transactions)::int t, (select count(*) from detailed_transactions)::int d"))[0]!;
    return got.u === want.u && got.t === want.t && got.d === want.d;
  }, 60_000, () => serve.logs);
  const caughtUp = performance.now();
  sampling = false;
  await sampler;
  expect(samples).toBeGreaterThan(10);
  expect(maxOrphans).toBe(0);
  expect(Number((await src.unsafe(ORPHANS))[0]!.n)).toBe(0);
  const v = await serve.run(["verify", "--wait", "30"]);
  expect(v.code).toBe(0);
  console.log(`[e2e relational] ${want.u} users, ${want.t} transactions, ${want.d} details; ${samples} orphan samples (max ${maxOrphans}); replica equal ${((caughtUp - genDone) / 1000).toFixed(2)} s after the generator stopped; verify: ${v.stdout.trim().split("\n").at(-1)}`);
}, 180_000);
