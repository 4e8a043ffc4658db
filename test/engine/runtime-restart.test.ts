/**
 * serve's in-process restart (engine/supervisor.ts) with the real runtime and a SQLite sink:
 * a runtime that ends with PartsLostError is replaced by a new one that loads the last
 * checkpoint, so window state is restored exactly as after a process restart, and the
 * transactions the slot resends are counted once. Also: what is not restarted, and stop()
 * during the backoff.
 */
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { startRuntime } from "../../src/engine/runtime.ts";
import { restartable, supervise } from "../../src/engine/supervisor.ts";
import type { Runtime } from "../../src/engine/runtime-types.ts";
import { CdcError, usageError } from "../../src/errors.ts";
import { PartsLostError } from "../../src/sinks/sink.ts";
import { registry } from "../../src/metrics/metrics.ts";
import type { Source, SourceStartOptions, SourceStats } from "../../src/source/source.ts";
import type { Lsn, Txn } from "../../src/types.ts";
import { col, ins, relation, txn } from "./fake-source.ts";
import { waitUntil } from "../helpers/wait-for.ts";

/** What a replication slot keeps across engine restarts: the confirmed position. */
class Slot {
  confirmed: Lsn = 0n;
}

/**
 * Streams `txns` after the slot's confirmed LSN, as START_REPLICATION would. `gates`: before
 * handing over transaction i, wait for gates[i]; `failAt`: there, end with a sink's
 * PartsLostError instead (the way the real source surfaces an engine error from onTxn).
 */
class SlotSource implements Source {
  private resolveDone!: (e: Error | null) => void;
  done = new Promise<Error | null>((r) => (this.resolveDone = r));
  delivered: Lsn[] = [];
  startedWith: Lsn | null | undefined;
  private stopped = false;
  constructor(
    private slot: Slot,
    private txns: Txn[],
    private gates: Record<number, Promise<void>> = {},
    private failAt = -1,
  ) {}
  async start(o: SourceStartOptions): Promise<void> {
    this.startedWith = o.checkpointLsn;
    void (async () => {
      for (const [i, t] of this.txns.entries()) {
        if (this.stopped) return;
        if (t.lsn <= this.slot.confirmed) continue;
        await this.gates[i];
        if (i === this.failAt) {
          return this.resolveDone(new PartsLostError("lite", "agg", t.lsn, new Error("Connection terminated unexpectedly")));
        }
        try {
          await o.onTxn(t);
        } catch (e) {
          return this.resolveDone(e as Error);
        }
        this.delivered.push(t.lsn);
      }
    })();
  }
  confirm(lsn: Lsn): void {
    if (lsn > this.slot.confirmed) this.slot.confirmed = lsn;
  }
  health() {
    return { status: "up" as const };
  }
  stats(): SourceStats {
    return { receivedLsn: null, confirmedLsn: this.slot.confirmed, lagBytes: 0, lagSeconds: 0, slotRetainedBytes: 0 };
  }
  async stop(): Promise<void> {
    this.stopped = true;
    this.resolveDone(null);
  }
}

const rows = (file: string, q: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.query(q).all() as Record<string, unknown>[];
  } catch {
    return [];
  } finally {
    db.close();
  }
};

async function metric(name: string): Promise<number> {
  const line = (await registry.metrics()).split("\n").find((l) => l.startsWith(name + " "));
  return line ? Number(line.split(" ")[1]) : NaN;
}

describe("in-process restart after a recoverable runtime failure", () => {
  test("window state comes back from the checkpoint; resent transactions count once; health, status and the metric show the restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-restart-"));
    const lite = join(dir, "lite.db");
    const cfg = parseConfig(
      `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${dir}/state", checkpoint_interval: 1h }
sinks:
  lite: { type: sqlite, path: "${lite}", batch_delay: 10ms }
pipelines:
  - name: agg
    from: public.orders
    window: { type: tumbling, size: 1h, time: created_at, key: [customer], lateness: 1000h, emit: change }
    aggregate: { n: "COUNT(*)", total: "SUM(amount)" }
    to: { sink: lite, table: agg, key: [customer, window_start] }
`,
      "test.yaml",
      {},
    );
    const rel = relation("public.orders", [col("id", "bigint", 20, true), col("customer", "text", 25), col("amount", "numeric", 1700), col("created_at", "timestamptz", 1184)]);
    const expected = new Map<string, { n: number; cents: bigint }>();
    let id = 0n;
    const txns: Txn[] = Array.from({ length: 40 }, (_, i) =>
      txn(
        Array.from({ length: 3 }, (_, j) => {
          id++;
          const customer = `c${(i + j) % 4}`;
          const hour = (i * 3 + j) % 2;
          const cents = 1000n + id * 7n;
          const e = expected.get(`${customer}|${hour}`) ?? { n: 0, cents: 0n };
          expected.set(`${customer}|${hour}`, { n: e.n + 1, cents: e.cents + cents });
          return ins(rel, { id, customer, amount: `${cents / 100n}.${String(cents % 100n).padStart(2, "0")}`, created_at: `2026-01-01 0${hour}:${String(i % 60).padStart(2, "0")}:00+00` });
        }),
        { commitTime: BigInt(Date.UTC(2026, 0, 1)) * 1000n + BigInt(i) },
      ),
    );
    const slot = new Slot();
    const gate = () => {
      let open!: () => void;
      return { wait: new Promise<void>((r) => (open = r)), open };
    };
    const [mid, end] = [gate(), gate()];
    const sources: SlotSource[] = [];
    const log = createLogger({ level: "silent" });
    const before = await metric("cdc_engine_runtime_restarts_total");
    const engine = await supervise({
      log,
      initialMs: 400,
      start: (restart) => {
        // The first runtime fails before the 31st transaction; the second streams to the end.
        const s = restart ? new SlotSource(slot, txns) : new SlotSource(slot, txns, { 20: mid.wait, 30: end.wait }, 30);
        sources.push(s);
        return startRuntime(cfg, log, { source: s, tickMs: 60_000 });
      },
    });
    try {
      await waitUntil("20 transactions processed", async () => sources[0].delivered.length === 20);
      // A checkpoint in the middle: operator state up to here; the next 10 are processed after it.
      await engine.checkpoint!();
      const ckLsn = latestCheckpoint(dir);
      expect(ckLsn).toBe(txns[19].lsn);
      mid.open();
      await waitUntil("30 processed", async () => sources[0].delivered.length === 30);
      // The sink holds more than the checkpoint: the restart's resent transactions are skipped there.
      await waitUntil("sink at the 30th", async () => rows(lite, "select lsn from cdc_engine_offsets").some((r) => BigInt(r.lsn as string) >= txns[29].lsn));
      end.open();

      const seen = await waitUntil("health shows the restart", async () => {
        const comps = engine.components();
        const h = await comps.find((c) => c.name === "engine")?.health();
        if (!h || h.status !== "down") return null;
        // The runtime's components stay listed, down.
        expect(await comps.find((c) => c.name === "pipeline:agg")!.health()).toEqual({ status: "down", reason: "the engine is restarting" });
        return h;
      }, 10_000, undefined, 10);
      expect(seen.reason).toMatch(/^restarting \(attempt 1, (next start in \d+ s|starting now)\) after: \[sink:lite\] the open transaction holding the earlier parts/);
      expect((engine.status().engine as { state: string }).state).toBe("restarting");

      await waitUntil("restarted", async () => engine.restarts() === 1 && sources.length === 2);
      // The new runtime started from the checkpoint, as a process restart would.
      expect(sources[1].startedWith).toBe(ckLsn);
      expect(slot.confirmed).toBeLessThanOrEqual(ckLsn);
      await waitUntil("all 40 through the second runtime", async () => sources[1].delivered.at(-1) === txns[39].lsn);
      await waitUntil("sink at the last", async () => rows(lite, "select lsn from cdc_engine_offsets").some((r) => BigInt(r.lsn as string) >= txns[39].lsn));

      // Every window's count and sum equal the input counted once.
      const got = rows(lite, "select customer, window_start, n, total from agg order by customer, window_start");
      expect(got.length).toBe(expected.size);
      for (const r of got) {
        const hour = String(r.window_start).includes("01:00:00") ? 1 : 0;
        const e = expected.get(`${r.customer}|${hour}`)!;
        expect(Number(r.n)).toBe(e.n);
        expect(String(r.total)).toBe(`${e.cents / 100n}.${String(e.cents % 100n).padStart(2, "0")}`);
      }

      const comps = engine.components();
      expect(comps.map((c) => c.name)).toContain("pipeline:agg");
      const eng = await comps.find((c) => c.name === "engine")!.health();
      expect(eng).toMatchObject({ status: "up", details: { restarts: 1 } });
      const status = engine.status() as { engine: { state: string; restarts: number; lastRestart: { reason: string } }; errors: { message: string }[] };
      expect(status.engine).toMatchObject({ state: "running", restarts: 1 });
      expect(status.engine.lastRestart.reason).toContain("was rolled back");
      expect(status.errors.some((e) => e.message.includes("was rolled back (Connection terminated unexpectedly)"))).toBe(true);
      expect(status.errors.some((e) => e.message.startsWith("runtime restarted (attempt 1) after: [sink:lite]"))).toBe(true);
      expect(await metric("cdc_engine_runtime_restarts_total")).toBe(before + 1);
    } finally {
      await engine.stop();
    }
    expect(await engine.done).toBeNull();
  }, 60_000);

  test("not restarted: a lost slot or a usage error ends the engine with it; a lost connection is restarted", async () => {
    expect(restartable(new PartsLostError("wh", "m", 1n))).toBe(true);
    expect(restartable(new CdcError("slot_lost", "slot was dropped"))).toBe(false);
    expect(restartable(usageError("config", "bad"))).toBe(false);
    const refused = new CdcError("sink_open", "cannot open", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
    expect(restartable(refused)).toBe(true);
    const cut = new CdcError("source_start", "cannot start streaming", { cause: Object.assign(new Error("write CONNECTION_CLOSED"), { code: "CONNECTION_CLOSED" }) });
    expect(restartable(cut)).toBe(true);
    expect(restartable(Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" }))).toBe(true);
    expect(restartable(new CdcError("slot_active", "slot is active for PID 1"))).toBe(true);
    expect(restartable(new Error("a transform threw"))).toBe(false);

    const lost = new CdcError("slot_lost", "replication slot s was dropped while streaming", { component: "source" });
    let starts = 0;
    const engine = await supervise({ log: createLogger({ level: "silent" }), initialMs: 10, start: async () => (starts++, fakeRuntime(Promise.resolve(lost))) });
    expect(await engine.done).toBe(lost);
    expect(starts).toBe(1);
  });

  test("stop() during the backoff ends at once with null; a restart attempt that cannot connect is retried", async () => {
    let starts = 0;
    const refused = new CdcError("sink_open", "[sink:wh] cannot open", { cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }) });
    const engine = await supervise({
      log: createLogger({ level: "silent" }),
      initialMs: 100,
      maxMs: 60_000,
      start: async (restart) => {
        starts++;
        if (restart) throw refused; // the sink is still down
        return fakeRuntime(Promise.resolve(new PartsLostError("wh", "m", 1n)));
      },
    });
    await waitUntil("two restart attempts", async () => starts >= 3, 5_000, undefined, 10);
    const status = engine.status() as { engine: { state: string; restarting: { attempt: number; reason: string } } };
    expect(status.engine.state).toBe("restarting");
    expect(status.engine.restarting.reason).toBe("[sink:wh] cannot open");
    expect(engine.pause!("m")).rejects.toThrow(/the engine is restarting/);
    const t0 = Date.now();
    await engine.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await engine.done).toBeNull();
    expect(engine.restarts()).toBe(0);
  });
});

test("a runtime that comes up and fails again at once counts its attempts on (each said attempt 1)", async () => {
  const active = new CdcError("slot_active", "slot s is active for PID 1");
  let starts = 0;
  const engine = await supervise({ log: createLogger({ level: "silent" }), initialMs: 5, maxMs: 20, start: async () => (starts++, fakeRuntime(Promise.resolve(active))) });
  await waitUntil("three restarts", async () => engine.restarts() >= 3, 5_000, undefined, 5);
  const errors = (engine.status() as { errors: { message: string }[] }).errors.map((e) => e.message).filter((m) => m.startsWith("runtime restarted"));
  expect(errors.slice(0, 3)).toEqual([1, 2, 3].map((n) => `runtime restarted (attempt ${n}) after: slot s is active for PID 1`));
  await engine.stop();
});

function fakeRuntime(done: Promise<Error | null>): Runtime {
  return { components: () => [], status: () => ({ errors: [] }), stop: async () => {}, done };
}

/** The LSN of the newest checkpoint in the store. */
function latestCheckpoint(dir: string): Lsn {
  const db = new Database(join(dir, "state", "checkpoints.db"), { readonly: true });
  try {
    return BigInt((db.query("select lsn from checkpoints order by id desc limit 1").get() as { lsn: string }).lsn);
  } finally {
    db.close();
  }
}
