/**
 * pgoutput messages recorded from a slot once and replayed through a StreamReader in memory:
 * the decoder's (and what follows it) own cost, without the server or the socket.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { openReplicationPg } from "../../src/source/postgres/connections.ts";
import { sourceSchema } from "../../src/config/schema.ts";
import { ReplicationSession } from "../../src/source/postgres/replication.ts";
import { StreamReader } from "../../src/source/postgres/stream-reader.ts";
import type { TypeDecoders } from "../../src/source/postgres/type-decoders.ts";
import type { Lsn, Txn } from "../../src/types.ts";

/** The messages slot `slot` sends from `start` (pgoutput v1) until `commits` commits came, copied. */
export async function recordMessages(url: string, o: { slot: string; publication: string; start: Lsn; commits: number; binary?: boolean }): Promise<{ messages: Buffer[]; bytes: number }> {
  const repl = openReplicationPg(sourceSchema.parse({ url }));
  const session = await ReplicationSession.start(repl, { slot: o.slot, publications: [o.publication], protoVersion: 1, messages: false, streaming: false, binary: o.binary ?? false }, () => o.start);
  const messages: Buffer[] = [];
  let bytes = 0;
  for (let commits = 0; commits < o.commits; ) {
    const m = (await session.next())!;
    messages.push(Buffer.from(m));
    bytes += m.length;
    if (m[0] === 0x43) commits++;
  }
  await session.close();
  await repl.end({ timeout: 1 });
  return { messages, bytes };
}

/** Recorded messages through a StreamReader (64 MiB budget: nothing spills), each Txn to `onTxn`. */
export async function replayMessages(messages: Buffer[], types: TypeDecoders, log: Logger, onTxn: (t: Txn) => Promise<void>): Promise<void> {
  let i = 0;
  const reader = new StreamReader({ types, known: new Map(), spillDir: mkdtempSync(join(tmpdir(), "cdc-bench-")), memoryBudget: 64 << 20, heartbeatMs: 60_000, log, onTxn });
  await reader.consume({ next: async () => messages[i++] ?? null });
}
