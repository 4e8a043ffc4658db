import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { startRuntime } from "../../src/engine/runtime.ts";
import { FakeSource, col, relation, txn, ins } from "../engine/fake-source.ts";
import { waitUntil } from "../helpers/wait-for.ts";
import type { SourceStartOptions } from "../../src/source/source.ts";
import type { Txn } from "../../src/types.ts";

/** A fake source that starts delivering only when the test opens its gate. */
class GatedSource extends FakeSource {
  private open!: () => void;
  private gate = new Promise<void>((r) => (this.open = r));
  release(): void {
    this.open();
  }
  override async start(o: SourceStartOptions): Promise<void> {
    await this.gate;
    return super.start(o);
  }
}

const count = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return Number((db.query("select count(*) as n from items").get() as { n: bigint | number }).n);
  } catch {
    return 0; // table not created yet
  } finally {
    db.close();
  }
};

describe("pause with a bounded hold", () => {
  test("a full hold holds the source for every pipeline; resume releases it and both pipelines end equal", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-hold-"));
    const cfg = parseConfig(
      `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${dir}/state", checkpoint_interval: 100ms }
sinks:
  one: { type: sqlite, path: "${dir}/one.db", batch_delay: 10ms }
  two: { type: sqlite, path: "${dir}/two.db", batch_delay: 10ms }
pipelines:
  - { name: a, from: public.items, to: one }
  - { name: b, from: public.items, to: two }
`,
      "test.yaml",
      {},
    );
    const rel = relation("public.items", [col("id", "bigint", 20, true), col("v", "text", 25)]);
    const txns: Txn[] = Array.from({ length: 30 }, (_, i) => txn([ins(rel, { id: BigInt(i + 1), v: `v${i + 1}` })]));
    const source = new GatedSource(txns);
    const rt = await startRuntime(cfg, createLogger({ level: "silent" }), { source, maxPausedChanges: 5 });
    try {
      await rt.pause!("a");
      source.release();
      // Five transactions fill a's hold; the sixth is not taken from the source until a resumes.
      await waitUntil("b has the five", async () => count(join(dir, "two.db")) === 5);
      await Bun.sleep(500);
      expect(source.delivered).toBe(5);
      expect(count(join(dir, "two.db"))).toBe(5);
      expect(count(join(dir, "one.db"))).toBe(0);
      const health = Object.fromEntries(await Promise.all(rt.components().map(async (c) => [c.name, await c.health()] as const)));
      expect(health["pipeline:a"].status).toBe("degraded");
      expect(health["pipeline:a"].reason).toContain("hold is full");
      const held = (rt.status().pipelines as { name: string; held?: { changes: number } }[]).find((p) => p.name === "a")!.held;
      expect(held as unknown).toEqual({ transactions: 5, changes: 5, bytes: expect.any(Number) });
      // Nothing of a's is confirmed: the slot stays where a paused (before the first transaction).
      expect(source.confirmed.every((l) => l < txns[0].lsn)).toBe(true);

      await rt.resume!("a");
      await waitUntil("both have all 30", async () => count(join(dir, "one.db")) === 30 && count(join(dir, "two.db")) === 30);
      expect(source.delivered).toBe(30);
      await waitUntil("the slot is confirmed to the last transaction", async () => source.confirmed.at(-1) === txns[29].lsn);
    } finally {
      await rt.stop();
    }
    expect(await rt.done).toBeNull();
  });

  test("stop while the source is held by a full hold: exits promptly, nothing past the hold is written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-hold-"));
    const cfg = parseConfig(
      `source: { url: "postgres://x@127.0.0.1:1/x" }
state: { dir: "${dir}/state", checkpoint_interval: 100ms }
sinks:
  one: { type: sqlite, path: "${dir}/one.db", batch_delay: 10ms }
  two: { type: sqlite, path: "${dir}/two.db", batch_delay: 10ms }
pipelines:
  - { name: a, from: public.items, to: one }
  - { name: b, from: public.items, to: two }
`,
      "test.yaml",
      {},
    );
    const rel = relation("public.items", [col("id", "bigint", 20, true), col("v", "text", 25)]);
    const txns = Array.from({ length: 10 }, (_, i) => txn([ins(rel, { id: BigInt(i + 1), v: "x" })]));
    const source = new GatedSource(txns);
    const rt = await startRuntime(cfg, createLogger({ level: "silent" }), { source, maxPausedChanges: 3 });
    await rt.pause!("a");
    source.release();
    await waitUntil("b has three", async () => count(join(dir, "two.db")) === 3);
    const t0 = performance.now();
    await rt.stop();
    expect(await rt.done).toBeNull();
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(count(join(dir, "one.db"))).toBe(0);
    // The transaction that waited for room is let go by the stop, unprocessed (the slot sends it again).
    expect(count(join(dir, "two.db"))).toBe(3);
    // a never processed anything: the final checkpoint confirms nothing past its pause point.
    expect(source.confirmed.every((l) => l < txns[0].lsn)).toBe(true);
  });
});
