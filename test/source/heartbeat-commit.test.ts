import { describe, expect, test } from "bun:test";
import { HEARTBEAT_PREFIX } from "../../src/source/postgres/stream-reader.ts";
import { pgFlavors } from "../helpers/index.ts";
import { streamThrough, walStream, type Rows } from "./fake-walsender.ts";
import { sourceConfig, startSource, testDb } from "./source-helpers.ts";

test("a heartbeat message at the LSN of the commit after it: idle progress one before it, that transaction handed over", async () => {
  // As PostgreSQL sends it (fake-walsender.ts): the message's LSN is the next record's, the commit's.
  const txns: Rows[] = [[["1", "a"]], [["2", "b"]]];
  const { txns: got, handed, reader } = await streamThrough([walStream(txns, 0, true)]);
  expect(got).toEqual(txns);
  // The first message became idle progress (the reader's hour-long heartbeat interval coalesces the second).
  const [idle, first] = handed;
  expect(idle.changes).toEqual([]);
  expect(first.changes.length).toBe(1);
  expect(idle.lsn).toBe(first.lsn - 1n);
  // Confirmed, it stands for the message's LSN: everything before it was sent, the commit at it was not.
  expect(reader.flushPositionFor(idle.lsn)).toBe(first.lsn);
});

describe.each(pgFlavors())("heartbeat message and commit (%s)", (flavor) => {
  test("a transaction whose commit record directly follows a heartbeat message is handed over", async () => {
    // PostgreSQL gives a non-transactional message the LSN where its record ends: the LSN of the
    // commit record written right after it. Idle progress at that LSN made the reader take the
    // transaction for one handed over already and drop it whole, Relation message included, so
    // the next change on the table failed ("change for relation … before its Relation message")
    // and the stream reconnected for good: stream.test.ts "values larger than a socket read"
    // timed out that way when the engine's own heartbeat landed just before a commit.
    const db = await testDb(flavor);
    if (db.server.major < 14) return void (await db.end()); // no messages in pgoutput before 14
    await db.sql.unsafe(`create table hb (id int primary key)`);
    // No heartbeats of the engine's own (they would land anywhere), and no coalescing of idle
    // progress: each message written below becomes an empty Txn.
    const { source, collector } = await startSource(sourceConfig(db.url, { snapshot: "never", heartbeat_interval: "0s" }), ["public.hb"]);
    try {
      for (let i = 1; i <= 5; i++) {
        // The message's record is written at once (non-transactional), the commit record right after it.
        await db.sql.begin(async (tx) => {
          await tx`insert into hb values (${i})`;
          await tx`select pg_logical_emit_message(false, ${HEARTBEAT_PREFIX}, 'x')`;
        });
      }
      await db.sql`insert into hb values (100)`;
      await collector.waitFor(() => collector.changes.some((c) => c.after?.id === 100), "row 100").catch((e: Error) => {
        throw new Error(`${e.message}; source ${JSON.stringify(source.health())}`);
      });
      expect(collector.changes.map((c) => c.after!.id)).toEqual([1, 2, 3, 4, 5, 100]);
      // The case was there: a message's empty Txn sits one before a commit's LSN (no other WAL
      // record came between them), and confirming it reports that commit's LSN, not past it.
      const commits = collector.txns.filter((t) => t.changes.length).map((t) => t.lsn);
      const idle = collector.txns.filter((t) => !t.changes.length && commits.includes(t.lsn + 1n));
      expect(idle.length).toBeGreaterThan(0);
      for (const t of idle) expect(t.endLsn).toBe(t.lsn + 1n);
    } finally {
      await source.stop();
      await db.end();
    }
  }, 60_000);
});
