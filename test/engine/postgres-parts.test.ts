import { describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { PostgresSink } from "../../src/sinks/postgres/sink.ts";
import { postgresSinkConfig } from "../../src/sinks/postgres/config.ts";
import type { OutputBatch } from "../../src/sinks/sink.ts";
import { col, context, OID, rec, table } from "../sinks/helpers.ts";

/** The postgres sink's open transaction across the parts of a large source transaction. */
const t = table("public.items", [col("id", OID.int8, { key: true }), col("v", OID.text)], ["id"]);
const part = (lsn: bigint, index: number, last: boolean, from: number, n: number): OutputBatch => ({
  pipeline: "p",
  lsn,
  part: { index, last },
  records: Array.from({ length: n }, (_, i) => rec(t, "upsert", { id: BigInt(from + i), v: `v${from + i}` }, lsn, from + i)),
});

async function setup() {
  const pg = await sharedPg("system");
  const url = pg.url(await createDatabase(pg, "parts"));
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  const sink = new PostgresSink(postgresSinkConfig.parse({ url }));
  await sink.open(context("wh"));
  const count = async () => (await admin`select count(*)::int as n from items`.catch(() => [{ n: 0 }]))[0].n as number;
  /** Terminates the sink's connections (not ours), as a server restart or an idle timeout would. */
  const dropSinkConnections = async () => {
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`;
    await Bun.sleep(100);
  };
  return { sink, admin, count, dropSinkConnections };
}

describe("postgres sink: a large transaction in parts", () => {
  test("the first part after the pool's connections were closed does not hang (it opens a connection of its own)", async () => {
    const { sink, admin, count, dropSinkConnections } = await setup();
    try {
      await sink.write({ pipeline: "p", lsn: 10n, records: [rec(t, "upsert", { id: 0n, v: "seed" }, 10n)] });
      await dropSinkConnections();
      const write = sink.write(part(20n, 0, false, 1, 100)).catch((e) => e);
      const outcome = await Promise.race([write.then((e) => (e instanceof Error ? `error: ${e.message}` : "written")), Bun.sleep(20_000).then(() => "hung")]);
      // A closed pooled connection may fail the first query once (the writer retries part 0); it must never hang.
      if (outcome !== "written") {
        expect(outcome).toStartWith("error:");
        await sink.write(part(20n, 0, false, 1, 100));
      }
      await sink.write(part(20n, 1, true, 101, 100));
      expect(await count()).toBe(201);
      expect(sink.position("p")).toBe(20n);
    } finally {
      await sink.close();
      await admin.end();
    }
  }, 60_000);

  test("a connection dropped between parts: the next part fails, and nothing of the transaction is ever committed", async () => {
    const { sink, admin, count, dropSinkConnections } = await setup();
    try {
      await sink.write({ pipeline: "p", lsn: 10n, records: [rec(t, "upsert", { id: 0n, v: "seed" }, 10n)] });
      await sink.write(part(30n, 0, false, 1, 100));
      await dropSinkConnections();
      await expect(sink.write(part(30n, 1, false, 101, 100))).rejects.toThrow();
      // What the writer's retry would send next: the sink says the earlier parts are gone.
      await expect(sink.write(part(30n, 1, false, 101, 100))).rejects.toThrow(/rolled back/);
      await expect(sink.write(part(30n, 2, true, 201, 0))).rejects.toThrow(/rolled back/);
      expect(await count()).toBe(1);
      expect(sink.position("p")).toBe(10n);
      const [{ lsn }] = await admin`select lsn::text from cdc_engine_offsets where pipeline = 'p'`;
      expect(lsn).toBe("10");
      // The replay of the whole transaction after the restart goes through.
      await sink.write(part(30n, 0, false, 1, 100));
      await sink.write(part(30n, 1, false, 101, 100));
      await sink.write(part(30n, 2, true, 201, 0));
      expect(await count()).toBe(201);
      expect(sink.position("p")).toBe(30n);
    } finally {
      await sink.close();
      await admin.end();
    }
  }, 60_000);
});
