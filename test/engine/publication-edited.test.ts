/**
 * The publication edited by hand while the engine streams: a table taken out of it stops sending
 * changes and nothing failed anywhere (the changes were lost silently). The engine now says so,
 * once, naming the table, and again when the table is back.
 */
import { expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { Engine, mirrorConfig } from "./e2e.ts";

async function logSays(engine: Engine, text: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!engine.log().includes(text)) {
    if (Date.now() > until) throw new Error(`the log never said '${text}':\n${engine.log().slice(-2000)}`);
    await Bun.sleep(200);
  }
}

test("a captured table taken out of the publication while streaming is named in an error, and its return in an info line", async () => {
  const pg = await sharedPg("system");
  const [src, dst] = [await createDatabase(pg, "pubw_src"), await createDatabase(pg, "pubw_dst")];
  const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
  await sql.unsafe("create table a (id int primary key); create table b (id int primary key)");
  const s = await mirrorConfig(pg.url(src), pg.url(dst), ["public.a", "public.b"]);
  const pub = /publication: (\S+)/.exec(await Bun.file(s.config).text())![1];
  const engine = new Engine(s);
  try {
    await engine.start();
    await engine.snapshotDone(["public.a", "public.b"]);
    expect(engine.log()).not.toContain("no longer covers");
    await sql.unsafe(`alter publication ${pub} drop table b`);
    await logSays(engine, `publication ${pub} no longer covers public.b (edited while streaming?)`);
    const line = engine.log().split("\n").find((l) => l.includes("no longer covers"))!;
    expect(JSON.parse(line)).toMatchObject({ level: 50, tables: ["public.b"] });
    await sql.unsafe(`alter publication ${pub} add table b`);
    await logSays(engine, `publication ${pub} covers every captured table again`);
    // Said once per change, not on every check.
    await Bun.sleep(2500);
    expect(engine.log().split("no longer covers").length - 1).toBe(1);
    // Renamed (or dropped): said as such, not as an edited publication a restart would fix.
    await sql.unsafe(`alter table a rename to a_renamed`);
    await logSays(engine, "table public.a no longer exists under that name (dropped, or renamed while streaming");
    expect(engine.log().split("no longer covers").length - 1).toBe(1);
    expect(await engine.kill("SIGTERM")).toBe(0);
  } finally {
    if (engine.proc) await engine.kill();
    await sql.end();
  }
}, 120_000);
