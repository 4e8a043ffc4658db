import { afterEach, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { HttpSink } from "../../src/sinks/http/index.ts";
import { httpSinkConfig } from "../../src/sinks/http/config.ts";
import { HttpReceiver } from "../helpers/http-receiver.ts";
import { batch, col, context, OID, rec, table } from "./helpers.ts";

const receivers: HttpReceiver[] = [];
afterEach(() => {
  for (const r of receivers.splice(0)) r.stop();
});
function receiver(opts: ConstructorParameters<typeof HttpReceiver>[0] = {}): HttpReceiver {
  const r = new HttpReceiver(opts);
  receivers.push(r);
  return r;
}

const events = table("engagement", [col("id", OID.int8, { key: true }), col("amount", OID.numeric), col("at", OID.timestamptz), col("bad", OID.bool)], ["id"]);
/** n records, `perTxn` per source transaction, one batch per transaction. */
function batches(n: number, perTxn: number, pipeline = "hook") {
  const out = [];
  for (let t = 0; t < n / perTxn; t++) {
    const lsn = BigInt(1000 + t * 10);
    out.push(batch(pipeline, Array.from({ length: perTxn }, (_, i) => rec(events, "upsert", { id: BigInt(t * perTxn + i + 1), amount: "1.10", at: "2024-01-01 00:00:00.000001+00", bad: false }, lsn, i))));
  }
  return out;
}

describe("http sink", () => {
  test("a receiver failing 50% and timing out on 10% still gets every row exactly once by Idempotency-Key", async () => {
    const rx = receiver({ failRate: 0.5, timeoutRate: 0.1, holdMs: 400, seed: 7 });
    const s = new HttpSink(httpSinkConfig.parse({ url: rx.url, batch_size: 5, timeout: "150ms", retry: { max_attempts: 40, initial_delay: "5ms", max_delay: "40ms" }, breaker: { failures: 1000 } }));
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    await s.open(ctx);
    for (const b of batches(300, 10)) await s.write(b);
    await s.close();
    expect(ctx.dead).toEqual([]);
    const ids = [...rx.byKey.values()].flatMap((b) => (JSON.parse(b) as { id: number }[]).map((r) => r.id));
    expect(ids.length).toBe(300);
    expect(new Set(ids).size).toBe(300);
    expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const outcomes = Object.groupBy(rx.requests, (r) => r.outcome);
    // The chaos happened: failures were retried, and timed-out deliveries were resent and recognised.
    expect(outcomes.failed!.length).toBeGreaterThan(30);
    expect(outcomes.timeout!.length).toBeGreaterThan(3);
    expect((outcomes.duplicate?.length ?? 0) + (outcomes.timeout?.length ?? 0)).toBeGreaterThan(3);
    expect(rx.byKey.size).toBe(60);
    expect([...rx.byKey.keys()][0]).toBe("hook:1000:0-1000:4");
  }, 60_000);

  test("Debezium envelope, JSON array batches, exact numbers and an HMAC signature", async () => {
    const rx = receiver();
    const s = new HttpSink(httpSinkConfig.parse({ url: rx.url, payload: "envelope", hmac_secret: "topsecret", method: "PUT", headers: { "x-team": "data" } }));
    await s.open(context("hook", [{ pipeline: "p", options: {} }]));
    const r1 = rec(events, "upsert", { id: 9007199254740993n, amount: "12345678901234567890.123456", at: "2024-01-01 00:00:00.000001+00", bad: false }, 0x16b3748n, 0, { commitTime: 1_700_000_000_123_456n, source: { table: "public.engagement_events", op: "insert", xid: 771 } });
    const r2 = rec(events, "delete", { id: 5n }, 0x16b3748n, 1, { before: { id: 5n, amount: "1.00" }, source: { table: "public.engagement_events", op: "delete", xid: 771 } });
    await s.write(batch("p", [r1, r2]));
    await s.close();
    expect(rx.requests.length).toBe(1);
    const req = rx.requests[0];
    expect(req.method).toBe("PUT");
    expect(req.headers.get("idempotency-key")).toBe(`p:${0x16b3748n}:0-${0x16b3748n}:1`);
    expect(req.headers.get("x-team")).toBe("data");
    expect(req.headers.get("x-signature-256")).toBe("sha256=" + createHmac("sha256", "topsecret").update(req.body).digest("hex"));
    expect(req.body).toContain('"id":9007199254740993');
    expect(req.body).toContain(`"lsn":${0x16b3748n}`);
    const [c, d] = JSON.parse(req.body);
    expect(c).toMatchObject({ before: null, op: "c", after: { amount: "12345678901234567890.123456", at: "2024-01-01 00:00:00.000001+00" }, source: { txId: 771, ts_ms: 1_700_000_000_123, schema: "public", table: "engagement_events" } });
    expect(d).toMatchObject({ op: "d", after: null, before: { id: 5, amount: "1.00" } });
  });

  test("a 4xx is not retried: the refused record goes to the DLQ, the rest of the request is delivered", async () => {
    const rx = receiver({ decide: ({ body }) => (body.includes('"bad":true') ? { status: 422 } : { status: 200 }) });
    const s = new HttpSink(httpSinkConfig.parse({ url: rx.url, batch_size: 10 }));
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    await s.open(ctx);
    const b = batches(4, 4)[0];
    b.records[2].row.bad = true;
    await s.write(b);
    expect(rx.requests.map((r) => [r.key, r.outcome])).toEqual([
      ["hook:1000:0-1000:3", "rejected"],
      // each record under a key of its own, never the refused request's
      ["hook:1000:0", "stored"],
      ["hook:1000:1", "stored"],
      ["hook:1000:2", "rejected"],
      ["hook:1000:3", "stored"],
    ]);
    expect(ctx.dead.map((d) => [d.record.row.id, d.error, d.pipeline])).toEqual([[3n, `POST ${rx.url}: HTTP 422: no`, "hook"]]);
    expect(s.position("hook")).toBe(1000n);
    await s.close();
  });

  test("429 with Retry-After waits at least that long", async () => {
    const rx = receiver({ decide: ({ n }) => (n === 0 ? { status: 429, headers: { "retry-after": "1" } } : { status: 200 }) });
    const s = new HttpSink(httpSinkConfig.parse({ url: rx.url, retry: { initial_delay: "1ms", max_delay: "5ms" } }));
    await s.open(context("hook", [{ pipeline: "hook", options: {} }]));
    const t0 = performance.now();
    await s.write(batches(2, 2)[0]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(990);
    expect(rx.requests.map((r) => r.outcome)).toEqual(["failed", "stored"]);
    await s.close();
  });

  test("circuit breaker opens after N failures and holds the batch back (no DLQ, no attempt spent), probes half-open, closes again", async () => {
    let healthy = false;
    const rx = receiver({ decide: () => (healthy ? { status: 200 } : { status: 503 }) });
    const s = new HttpSink(httpSinkConfig.parse({ url: rx.url, retry: { max_attempts: 4, initial_delay: "1ms", max_delay: "2ms" }, breaker: { failures: 3, half_open_after: "300ms" } }));
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    await s.open(ctx);
    const [b1, b2] = batches(4, 2);
    // 3 requests reach the receiver, then the open circuit holds the 4th back: write() fails (the
    // engine's writer retries it) and nothing goes to the DLQ. Before, the refusal was counted as
    // the 4th attempt and both records were dead-lettered.
    await expect(s.write(b1)).rejects.toThrow(/circuit open \(last failure: POST .* HTTP 503/);
    expect(rx.requests.length).toBe(3);
    expect(ctx.dead).toEqual([]);
    expect(await s.health()).toMatchObject({ status: "down" });
    // Still open: refused again without a request.
    await expect(s.write(b1)).rejects.toThrow(/circuit open/);
    expect(rx.requests.length).toBe(3);
    healthy = true;
    await Bun.sleep(320);
    await s.write(b1);
    await s.write(b2);
    expect(rx.requests.slice(3).map((r) => [r.key, r.outcome])).toEqual([
      ["hook:1000:0-1000:1", "stored"],
      ["hook:1010:0-1010:1", "stored"],
    ]);
    expect(ctx.dead).toEqual([]);
    expect((await s.health()).status).toBe("up");
    await s.close();
  });

  test("a receiver that keeps answering 5xx: probes it answers count, so the request reaches the DLQ after max_attempts sends", async () => {
    const rx = receiver({ decide: () => ({ status: 500 }) });
    const s = new HttpSink(httpSinkConfig.parse({ url: rx.url, retry: { max_attempts: 4, initial_delay: "1ms", max_delay: "2ms" }, breaker: { failures: 2, half_open_after: "100ms" } }));
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    await s.open(ctx);
    const b = batches(2, 2)[0];
    // The engine's writer retries a write the open circuit held back; each probe is a real send.
    let writes = 0;
    for (;;) {
      writes++;
      const err = await s.write(b).then(() => null, (e: Error) => e);
      if (!err) break;
      expect(err.message).toMatch(/circuit open/);
      await Bun.sleep(120);
    }
    expect(writes).toBe(3); // 2 sends, open; probe (3rd send), open; probe (4th send): DLQ
    expect(rx.requests.length).toBe(4);
    expect(ctx.dead.map((d) => d.error)).toEqual(Array(2).fill(`POST ${rx.url}: HTTP 500: no (after 4 attempts)`));
    expect(s.position("hook")).toBe(1000n);
    await s.close();
  });

  test("a crash in the middle of a batch: the resend starts after what was delivered or dead-lettered (replaying the DLQ then delivers those once)", async () => {
    // Before, the whole batch was sent again: the request whose records had gone to the DLQ was
    // delivered this time, and `dlq replay` delivered them a second time under other keys.
    let down = true;
    let crash: (() => void) | null = null;
    const rx = receiver({
      decide: ({ key }) => {
        if (key === "hook:1000:0-1000:3") return down ? { status: 500 } : { status: 200 };
        if (key === "hook:1000:8-1000:11" && crash) {
          crash();
          return { status: 503 };
        }
        return { status: 200 };
      },
    });
    const cfg = httpSinkConfig.parse({ url: rx.url, batch_size: 4, retry: { max_attempts: 2, initial_delay: "10ms", max_delay: "20ms" } });
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    const s1 = new HttpSink(cfg);
    await s1.open(ctx);
    const b = batches(12, 12)[0];
    // The third request finds the process gone (close() aborts the write, as a kill would end it).
    crash = () => void s1.close();
    await s1.write(b).catch(() => {});
    expect(ctx.dead.map((d) => d.record.index)).toEqual([0, 1, 2, 3]);
    expect(s1.position("hook")).toBeNull();
    down = false;
    crash = null;
    const s2 = new HttpSink(cfg);
    await s2.open(context("hook", [{ pipeline: "hook", options: {} }], ctx.stateDir));
    await s2.write(b);
    await s2.close();
    // Delivered: 4-7 once (first run), 8-11 on the resend; 0-3 are left to the DLQ.
    expect([...rx.byKey.keys()]).toEqual(["hook:1000:4-1000:7", "hook:1000:8-1000:11"]);
    expect(rx.requests.filter((r) => r.key === "hook:1000:4-1000:7").length).toBe(1);
    expect(rx.requests.filter((r) => r.key === "hook:1000:0-1000:3" && r.outcome === "stored").length).toBe(0);
    expect(s2.position("hook")).toBe(1000n);
  });

  test("restart: the position in state.dir makes a replay send nothing again", async () => {
    const rx = receiver();
    const cfg = httpSinkConfig.parse({ url: rx.url });
    const ctx = context("hook", [{ pipeline: "hook", options: {} }]);
    const s1 = new HttpSink(cfg);
    await s1.open(ctx);
    const all = batches(20, 5);
    for (const b of all.slice(0, 3)) await s1.write(b);
    await s1.close();
    const s2 = new HttpSink(cfg);
    await s2.open(context("hook", [{ pipeline: "hook", options: {} }], ctx.stateDir));
    expect(s2.position("hook")).toBe(1020n);
    for (const b of all) await s2.write(b);
    await s2.close();
    expect(rx.requests.length).toBe(4);
    expect([...rx.byKey.keys()]).toEqual(["hook:1000:0-1000:4", "hook:1010:0-1010:4", "hook:1020:0-1020:4", "hook:1030:0-1030:4"]);
  });
});
