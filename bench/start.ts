/**
 * Start: the compiled binary from exec to the first answer of GET /health (any status), over
 * several starts after one warm-up start (page cache). The config has a local PostgreSQL source
 * and a stdout sink; the local connect (a few ms) is inside the figure, so it is an upper bound
 * of "start excluding the database connect". `cdc-engine --version` (exec + JS load + exit) is
 * shown as the floor.
 *
 *   bun bench/start.ts [--runs 7]
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { binaryPath } from "../test/helpers/binary.ts";
import { engineEnv } from "./lib/engine.ts";
import { createDatabase, freePort, startPgServer } from "../test/helpers/postgres-server.ts";

export interface StartResult {
  runs: number[];
  median: number;
  max: number;
  versionMedian: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function start(runs = 7): Promise<StartResult> {
  const bin = await binaryPath();
  const server = await startPgServer("system");
  try {
    const db = await createDatabase(server, "start");
    const sql = postgres(server.url(db), { max: 1, onnotice: () => {} });
    await sql.unsafe("create table t (id int8 primary key, v text)");
    await sql.end();
    const dir = mkdtempSync(join(tmpdir(), "cdc-bench-start-"));
    const port = await freePort();
    const cfg = join(dir, "cdc.yaml");
    writeFileSync(cfg, `source: { url: "${server.url(db)}", slot: s, publication: p }
state: { dir: "${join(dir, "state")}" }
api: { listen: "127.0.0.1:${port}" }
log: { level: warn }
sinks: { out: { type: stdout } }
pipelines: [{ name: t, from: public.t, to: out }]
`);
    const times: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const t0 = performance.now();
      const p = Bun.spawn([bin, "serve", "--config", cfg], { cwd: dir, env: engineEnv(), stdout: "ignore", stderr: "ignore" });
      let ms = NaN;
      for (;;) {
        try {
          await fetch(`http://127.0.0.1:${port}/health`);
          ms = performance.now() - t0;
          break;
        } catch {}
        if (p.exitCode !== null || performance.now() - t0 > 30_000) break;
        await Bun.sleep(2);
      }
      p.kill("SIGTERM");
      await p.exited;
      if (i > 0) times.push(ms); // the first start creates the slot and warms the page cache
    }
    const version: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      Bun.spawnSync([bin, "--version"], { stdout: "ignore", stderr: "ignore" });
      version.push(performance.now() - t0);
    }
    return { runs: times, median: median(times), max: Math.max(...times), versionMedian: median(version) };
  } finally {
    await server.destroy();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { runs: { type: "string" } } });
  const r = await start(Number(values.runs ?? 7));
  console.log(`start to /health: median ${r.median.toFixed(0)} ms, max ${r.max.toFixed(0)} ms (${r.runs.map((x) => x.toFixed(0)).join(", ")}); --version ${r.versionMedian.toFixed(0)} ms`);
}
