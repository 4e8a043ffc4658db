import { afterAll, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";

/**
 * patches/postgres@3.4.9.patch: postgres.js queued small writes with setImmediate and, once the
 * socket had closed, that write threw a TypeError no caller could catch (the engine process died
 * when a source or sink connection was cut: porsager/postgres#1066, #1154, #1208). The query on
 * the dead connection must reject as CONNECTION_CLOSED, and the process must stay up.
 */
const uncaught: unknown[] = [];
const onUncaught = (e: unknown) => void uncaught.push(e);
process.on("uncaughtException", onUncaught);
afterAll(() => void process.off("uncaughtException", onUncaught));

test("a query on a reserved connection whose backend was terminated rejects; nothing is thrown out of band", async () => {
  const pg = await sharedPg("system");
  const url = pg.url(await createDatabase(pg, "pjs"));
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  const killer = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const reserved = await sql.reserve();
    const [{ pid }] = await reserved`select pg_backend_pid() as pid`;
    await killer`select pg_terminate_backend(${pid})`;
    const first = await reserved`select 1`.then(() => "answered", (e: Error & { code?: string }) => e.code ?? e.message);
    const second = await Promise.race([
      reserved`select 1`.then(() => "answered", (e: Error & { code?: string }) => e.code ?? e.message),
      Bun.sleep(5_000).then(() => "hung"),
    ]);
    // and once the close is processed (no socket any more): the write queued for it must settle
    await Bun.sleep(200);
    const third = await Promise.race([
      reserved`select 1`.then(() => "answered", (e: Error & { code?: string }) => e.code ?? e.message),
      Bun.sleep(5_000).then(() => "hung"),
    ]);
    await Bun.sleep(50); // let any stray immediate run
    expect(first).not.toBe("answered");
    expect(second).toBe("CONNECTION_CLOSED");
    expect(third).toBe("CONNECTION_CLOSED");
    expect(uncaught).toEqual([]);
    reserved.release();
    // the pool still serves queries on a fresh connection
    expect((await sql`select 41 + 1 as n`)[0].n).toBe(42);
  } finally {
    await Promise.all([sql.end({ timeout: 1 }), killer.end({ timeout: 1 })]);
  }
});
