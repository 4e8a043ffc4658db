/**
 * A pgoutput stream that lost a message on the way (a Commit, a Begin) used to drop the
 * transaction around it without a word: the next Begin replaced the open one, a change outside
 * a transaction was decoded and thrown away. The reader now fails the session (the source
 * reconnects and the server sends again from the confirmed position), naming what was out of place.
 */
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { StreamReader } from "../../src/source/postgres/stream-reader.ts";
import { TypeDecoders } from "../../src/source/postgres/type-decoders.ts";
import type { Txn } from "../../src/types.ts";
import { beginMsg, commitMsg, insertMsg, relationMsg } from "./fake-walsender.ts";

async function read(messages: Buffer[]): Promise<{ txns: Txn[]; error: string | null }> {
  const txns: Txn[] = [];
  const reader = new StreamReader({
    types: new TypeDecoders(),
    known: new Map(),
    spillDir: mkdtempSync(join(tmpdir(), "cdc-out-of-step-")),
    memoryBudget: 64 << 20,
    heartbeatMs: 3_600_000,
    log: pino({ level: "silent" }),
    onTxn: async (t) => void txns.push(t),
  });
  let i = 0;
  const error = await reader.consume({ next: async () => messages[i++] ?? null }).then(
    () => null,
    (e: Error) => e.message,
  );
  return { txns, error };
}

const txn1 = [beginMsg(0x100n, 1000), relationMsg(), insertMsg("1", "a"), commitMsg(0x100n, 0x108n)];
const txn2 = [beginMsg(0x200n, 1001), insertMsg("2", "b"), commitMsg(0x200n, 0x208n)];

test("a whole stream is read as it came", async () => {
  const { txns, error } = await read([...txn1, ...txn2]);
  expect(error).toBeNull();
  expect(txns.map((t) => t.changes.map((c) => c.after!.id))).toEqual([["1"], ["2"]]);
});

test("a lost Commit: the next Begin fails the session instead of replacing the open transaction", async () => {
  const { txns, error } = await read([...txn1.slice(0, 3), ...txn2]);
  expect(error).toBe("pgoutput stream out of step: Begin of transaction 1001 while transaction 1000 is open (its Commit never came); reconnecting");
  expect(txns).toEqual([]);
});

test("a lost Begin: its change fails the session instead of being decoded and dropped", async () => {
  const { txns, error } = await read([...txn1, ...txn2.slice(1)]);
  expect(error).toBe("pgoutput stream out of step: a change ('I') outside any transaction; reconnecting");
  expect(txns.map((t) => t.changes.length)).toEqual([1]);
});

test("a Commit without its Begin fails the session with what it is", async () => {
  const { error } = await read([...txn1, txn2[2]]);
  expect(error).toBe("pgoutput stream out of step: Commit at 0/200 without its Begin; reconnecting");
});
