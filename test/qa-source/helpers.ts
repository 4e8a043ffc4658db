/** Shared bits of the source QA tests: a write loop, log waits, the slot/publication names of a config. */
import postgres from "postgres";
import type { Engine, MirrorSetup } from "../engine/e2e.ts";

export async function logSays(engine: Engine, text: string | RegExp, timeoutMs = 30_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const line = engine.log().split("\n").find((l) => (typeof text === "string" ? l.includes(text) : text.test(l)));
    if (line) return line;
    if (Date.now() > until) throw new Error(`the log never said ${text}:\n${engine.log().slice(-3000)}`);
    await Bun.sleep(200);
  }
}

export async function slotOf(s: MirrorSetup): Promise<string> {
  return /slot: (\S+)/.exec(await Bun.file(s.config).text())![1];
}

/** Inserts (and updates/deletes) into `table` (id bigint pk, v int) from `from`, one txn per round, until stop(); ignores failed rounds. */
export function writeLoop(url: string, table: string, from = 1): { stop(): Promise<number> } {
  let stopping = false;
  const done = (async () => {
    let id = from;
    let ok = 0;
    while (!stopping) {
      const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 2 });
      try {
        while (!stopping) {
          await sql.begin(async (t) => {
            await t.unsafe(`insert into ${table} (id, v) select g, g from generate_series(${id}, ${id + 9}) g`);
            await t.unsafe(`update ${table} set v = v + 1 where id = ${id - 5}`);
            await t.unsafe(`delete from ${table} where id = ${id - 8}`);
          });
          id += 10;
          ok++;
          await Bun.sleep(5);
        }
      } catch {
        await Bun.sleep(200);
      } finally {
        await sql.end({ timeout: 1 }).catch(() => {});
      }
    }
    return ok;
  })();
  return { stop: () => ((stopping = true), done) };
}

/** Rows of a (id, v) table as "id:v", in key order. */
export async function rowsOf(url: string, table: string): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return (await sql.unsafe(`select id::text || ':' || coalesce(v::text, 'null') as r from ${table} order by id`)).map((r) => String(r.r));
  } finally {
    await sql.end();
  }
}

/** engine.start() with extra serve flags (e.g. --resnapshot), logging to the same file. */
export async function startWith(engine: Engine, s: MirrorSetup, flags: string[]): Promise<void> {
  const { openSync, closeSync } = await import("node:fs");
  const { binaryPath } = await import("../helpers/index.ts");
  const fd = openSync(s.logFile, "a");
  engine.proc = Bun.spawn([await binaryPath(), "serve", "--config", s.config, ...flags], { cwd: s.dir, stdout: fd, stderr: fd });
  closeSync(fd);
}

/** The process' exit code, or "still running" after `ms`. */
export function exitWithin(engine: Engine, ms: number): Promise<number | string> {
  return Promise.race([engine.proc!.exited, Bun.sleep(ms).then(() => "still running")]);
}

/** What an operator does to drop a slot in use: end its walsender, then drop it (retried until the walsender is gone). */
export async function dropSlotUnder(sql: postgres.Sql, slot: string): Promise<void> {
  await sql`select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = ${slot} and active_pid is not null`;
  for (let i = 0; ; i++) {
    const r = await sql`select pg_drop_replication_slot(${slot})`.then(() => "ok", (e) => String(e));
    if (r === "ok") return;
    if (i > 50) throw new Error(r);
    await Bun.sleep(100);
  }
}
