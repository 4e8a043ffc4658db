/**
 * The database restarts under `generate` (a crash test's load): the generator retries the lost
 * connection for up to a minute and goes on at its rate. It died with "the database system is
 * shutting down" (QA), ending the load the test was driving.
 */
import { expect, test } from "bun:test";
import postgres from "postgres";
import { runGenerator } from "../../src/generator/index.ts";
import { createDatabase, startPgServer } from "../helpers/index.ts";
import { quiet } from "./helpers.ts";

test("generate goes on across a restart of the database (fast and immediate): every committed row is there", async () => {
  const server = await startPgServer("system");
  try {
    const url = server.url(await createDatabase(server, "genrestart"));
    const q = quiet();
    const run = runGenerator({ url, dataset: "orders", init: true, rate: 400, durationMs: 9000, progress: "none", ...q });
    await Bun.sleep(2000);
    await server.stop("fast");
    await Bun.sleep(500);
    await server.start();
    await Bun.sleep(2500);
    await server.stop("immediate");
    await server.start();
    const s = await run;
    expect(s.stopped_by).toBe("duration");
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const [r] = await sql`select count(*)::int as n from orders`;
      // Rows written after the restarts too (400/s for 9 s, less the downtime).
      expect(s.inserted).toBeGreaterThan(1500);
      // An immediate stop may lose the last commits of synchronous_commit=off, or cut a COMMIT
      // (its batch then written twice): the table holds what was committed, within one batch.
      expect(Math.abs(r.n - s.inserted)).toBeLessThanOrEqual(100);
    } finally {
      await sql.end();
    }
  } finally {
    await server.destroy();
  }
}, 120_000);
