import type { Pg } from "../../db/postgres-client.ts";
import { isLostConnection, isServerError } from "./errors.ts";
import { copyIn, directRefused, markDirectRefused, type Statement } from "./plan.ts";
import type { OutputRecord } from "../sink.ts";

/** A statement the pipelined path cannot take (a staging COPY): the caller uses the savepoint path. */
export function pipelinable(stmts: Statement[]): boolean {
  return stmts.every((s) => !s.copy || (s.copy.direct !== undefined && !directRefused(s.copy.table ?? s.copy.direct)));
}

export type PipelinedResult = "written" | "refused";

/**
 * The writer's one-connection client. postgres.js holds some pipelined queries in its pool (past
 * max_pipeline, and behind a statement it must describe first); when the connection is lost it
 * does not fail those but runs them on a new connection, outside the batch's transaction: an old
 * batch's upsert landed after newer batches (a mirror held stale rows after a sink restart).
 * The session is read-only by default and a batch opens its transaction READ WRITE, so such a
 * query fails instead of writing. A high max_pipeline keeps most of a batch on the connection.
 */
export const writerClientOptions = { max_pipeline: 1_000_000, connection: { application_name: "cdc-engine writer", default_transaction_read_only: "on" } };

/**
 * One batch in one transaction with as few round trips as the protocol allows: BEGIN, the
 * position and every statement up to the first COPY go out back to back (postgres.js pipelines
 * queries issued without awaiting on one connection), each COPY waits only for its
 * CopyInResponse, and COMMIT follows the last one. The savepoint path (PostgresSink.run) costs
 * seven round trips a batch, each waiting for a turn of the engine's event loop, which is busy
 * decoding the next transactions: the sink server sat idle between them (bench/lib/apply-wal.ts).
 *
 * `conn` must be a connection of this writer alone (a one-connection client): pipelined
 * statements of two writers would interleave. Any refusal by the server (a key already there for
 * a direct COPY, bad data) rolls the whole batch back and returns "refused", with the direct-COPY
 * targets marked so that the caller's savepoint path, which finds the bad records, takes the
 * staging path for them. Connection errors are thrown (the writer retries the batch).
 * `unmatched` gets the records addressed by their old row that found none (Statement.oneRowOf).
 */
export async function writePipelined(conn: Pg, stmts: Statement[], position: { text: string; params: string[] }, unmatched: OutputRecord[] = []): Promise<PipelinedResult> {
  const pending: Promise<unknown>[] = [];
  let refused: unknown = null;
  // A lost connection ends the wait at once: postgres.js retried the queries it held one by one,
  // each with a reconnect of its own, and the write hung for minutes past a fast shutdown of the
  // sink's server (those queries cannot write: see writerClientOptions).
  let lose!: (e: unknown) => void;
  const lost = new Promise<never>((_, reject) => (lose = reject));
  lost.catch(() => {});
  const track = (p: Promise<unknown>) => {
    // Every pipelined query is awaited below; a rejection is noted here, so none is unhandled.
    pending.push(
      p.catch((e) => {
        refused ??= e;
        if (!isRefusal(e)) lose(e);
      }),
    );
  };
  const settled = () => Promise.race([Promise.all(pending), lost]);
  // Awaited: the rest goes out on an open connection, not queued behind a connect that may fail.
  await conn.unsafe("begin read write");
  track(conn.unsafe(position.text, position.params as never[]));
  for (const s of stmts) {
    if (s.copy?.direct) {
      // COPY waits for what was pipelined before it; nothing may be sent while its data flows.
      await settled();
      if (refused) break;
      try {
        await copyIn(conn, s.copy.direct, s.copy.data);
      } catch (e) {
        refused = e;
        if (isRefusal(e)) markDirectRefused(s.copy.table ?? s.copy.direct);
        break;
      }
      continue;
    }
    const q = conn.unsafe(s.text, s.params as never[], { prepare: s.text.includes("unnest(") });
    const one = s.oneRowOf;
    track(one ? q.then((res) => void (res.count === 0 && unmatched.push(one))) : q);
  }
  await settled();
  if (refused) {
    // Not a refusal of the data but a lost connection (a client error, or the server ending the
    // session: FATAL, 57P0x admin shutdown, 08xxx): the caller drops this connection and the
    // writer retries; a ROLLBACK here would only open a new connection.
    if (!isRefusal(refused)) throw refused;
    // COMMIT of a failed transaction would only roll it back; say so explicitly.
    await conn.unsafe("rollback");
    return "refused";
  }
  await conn.unsafe("commit");
  return "written";
}

/** The server refused a statement (the session goes on), as opposed to losing the connection. */
function isRefusal(e: unknown): boolean {
  return isServerError(e) && !isLostConnection(e);
}
