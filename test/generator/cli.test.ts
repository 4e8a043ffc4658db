import { describe, expect, test } from "bun:test";
import { binaryPath, freePort, runBinary } from "../helpers/index.ts";
import { freshDb } from "./helpers.ts";

/** One line on stderr, prefixed, no stack trace (flag mistakes add the usage line). */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  if (lines.length === 2) expect(lines[1]).toStartWith("usage: cdc-engine generate");
  else expect(lines.length).toBe(1);
  expect(lines[0]).toStartWith("cdc-engine: ");
  return lines[0];
}

describe("cdc-engine generate (the compiled binary)", () => {
  test("--help prints the usage", async () => {
    const r = await runBinary(["generate", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("cdc-engine generate --dataset NAME");
    expect(r.stdout).toContain("--replay-speed");
  }, 180_000);

  test("bad input: one line, exit 2 (usage) or 1 (runtime)", async () => {
    const db = await freshDb("cli");
    try {
      const cases: [string[], number, string][] = [
        [["generate", "--url", db.url], 2, "missing --dataset"],
        [["generate", "--dataset", "nope", "--url", db.url], 2, "unknown dataset 'nope' (one of: ecommerce, engagement, orders, relational)"],
        [["generate", "--dataset", "orders", "--url", db.url, "--rate", "fast"], 2, "--rate 'fast' is not a rate"],
        [["generate", "--dataset", "orders", "--url", db.url, "--duration", "5 parsecs"], 2, "--duration '5 parsecs' is not a duration"],
        // a bare number was read as milliseconds: 5 ran for 5 ms
        [["generate", "--dataset", "orders", "--url", db.url, "--duration", "5"], 2, "--duration 5 has no unit: write 5s or 5m"],
        [["generate", "--dataset", "orders", "--url", db.url, "--late", "0.1", "--late-by", "90"], 2, "--late-by 90 has no unit: write 90s or 90m"],
        [["generate", "--dataset", "orders", "--url", db.url, "--updates", "1.5"], 2, "--updates '1.5' is not a fraction"],
        [["generate", "--dataset", "orders", "--url", db.url, "--bogus"], 2, "Unknown option '--bogus'"],
        [["generate", "--dataset", "orders", "--url", db.url, "--count", "10"], 2, "table public.orders does not exist: run with --init"],
        [["generate", "--dataset", "ecommerce", "--url", db.url, "--from-olist", "/nonexistent/olist"], 2, "--from-olist /nonexistent/olist: no such directory"],
        [["generate", "--dataset", "orders", "--url", `postgres://postgres@127.0.0.1:${await freePort()}/x`, "--count", "1"], 1, "cannot connect to postgres://postgres@127.0.0.1:"],
      ];
      for (const [args, code, text] of cases) {
        const r = await runBinary(args, { env: { DATABASE_URL: "", PG_URL: "", GENERATION_RATE: "", BURST_MODE: "" } });
        expect({ args, code: r.code }).toEqual({ args, code });
        expect(oneLine(r.stderr)).toContain(text);
      }
      const [t] = await db.sql`select count(*)::int n from pg_tables where schemaname = 'public'`;
      expect(t.n).toBe(0); // none of that wrote anything
    } finally {
      await db.end();
    }
  }, 180_000);

  test("a table with other columns: exit 2 naming the differences, nothing created or written", async () => {
    const db = await freshDb("cli");
    try {
      await db.sql`create table orders (order_id bigserial primary key, customer text, amount float8)`;
      const r = await runBinary(["generate", "--dataset", "ecommerce", "--url", db.url, "--init", "--count", "100"]);
      expect(r.code).toBe(2);
      const line = oneLine(r.stderr);
      expect(line).toContain("table public.orders (missing ");
      expect(line).toContain("unexpected customer, amount");
      expect(line).toContain("nothing was written");
      const tables = (await db.sql`select tablename from pg_tables where schemaname = 'public' order by 1`).map((x) => x.tablename);
      expect(tables).toEqual(["orders"]); // --init created none of the other seven tables
      const [n] = await db.sql`select count(*)::int n from orders`;
      expect(n.n).toBe(0);
    } finally {
      await db.end();
    }
  }, 180_000);

  test("the seed's env vars: DATABASE_URL, BURST_MODE/BURST_COUNT, GENERATION_RATE (per minute); JSON summary on stdout", async () => {
    const db = await freshDb("cli");
    try {
      const burst = await runBinary(["generate", "--dataset", "engagement", "--init"], { env: { DATABASE_URL: db.url, BURST_MODE: "true", BURST_COUNT: "5000" } });
      expect(burst.code).toBe(0);
      const summary = JSON.parse(burst.stdout.trim().split("\n").at(-1)!);
      expect(summary).toMatchObject({ event: "generate.summary", dataset: "engagement", rows: 5000, stopped_by: "burst", setup_rows: 200 });
      const [e] = await db.sql`select count(*)::int n from engagement_events`;
      const [c] = await db.sql`select count(*)::int - 200 n from content`;
      expect(e.n).toBe(5000); // events; new content comes on top
      expect(summary.inserted).toBe(5000 + c.n);

      const t0 = performance.now();
      const paced = await runBinary(["generate", "--dataset", "orders", "--init", "--count", "200", "--stats-interval", "500ms"], { env: { PG_URL: db.url, DATABASE_URL: "", GENERATION_RATE: "12000" } });
      const secs = (performance.now() - t0) / 1000;
      expect(paced.code).toBe(0);
      const lines = paced.stdout.trim().split("\n").map((l) => JSON.parse(l));
      expect(lines.at(-1)).toMatchObject({ event: "generate.summary", rows: 200, target_rate: 200, stopped_by: "count" });
      expect(lines.filter((l) => l.event === "generate.stats").length).toBeGreaterThanOrEqual(1);
      expect(secs).toBeGreaterThan(0.9); // 200 rows at 12,000/min = 200/s
    } finally {
      await db.end();
    }
  }, 180_000);

  test("SIGTERM stops an open-ended run cleanly: exit 0, in-flight rows committed, a summary line", async () => {
    const db = await freshDb("cli");
    try {
      const p = Bun.spawn([await binaryPath(), "generate", "--dataset", "orders", "--init", "--url", db.url, "--rate", "500"], { stdout: "pipe", stderr: "pipe" });
      const deadline = Date.now() + 30_000;
      // Wait until rows arrive, then stop it as systemd or Ctrl-C would.
      for (;;) {
        const [r] = await db.sql`select count(*)::int n from pg_tables where tablename = 'orders'`.catch(() => [{ n: 0 }]);
        if (r.n && (await db.sql`select count(*)::int n from orders`)[0].n > 200) break;
        if (Date.now() > deadline) throw new Error("no rows within 30 s");
        await Bun.sleep(100);
      }
      p.kill("SIGTERM");
      const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
      expect(code).toBe(0);
      const summary = JSON.parse(out.trim().split("\n").at(-1)!);
      expect(summary).toMatchObject({ event: "generate.summary", stopped_by: "signal", target_rate: 500 });
      const [r] = await db.sql`select count(*)::int n from orders`;
      expect(r.n).toBe(summary.inserted);
    } finally {
      await db.end();
    }
  }, 180_000);
});
