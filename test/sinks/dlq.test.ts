import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { DlqStore } from "../../src/dlq/store.ts";
import { decodeRow, encodeRow } from "../../src/dlq/row-codec.ts";
import { registry } from "../../src/metrics/metrics.ts";
import { requireMysql, runBinary } from "../helpers/index.ts";
import { col, OID, rec, table, uniq, varcharMod } from "./helpers.ts";

describe("dead-letter store", () => {
  test("rows round-trip exactly (bigint digits, bytes, decimals, nested JSON) and are counted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-dlq-"));
    const store = new DlqStore(dir);
    const t = table("t", [col("id", OID.int8, { key: true }), col("n", OID.numeric), col("b", OID.bytea), col("arr", 1016)], ["id"]);
    const row = { id: 9223372036854775807n, n: "0.000000000000000000001", b: new Uint8Array([0, 255]), arr: [1, 2], j: { deep: [true, null] }, small: 5 };
    const before = (await registry.getSingleMetric("cdc_engine_dlq_rows_total")!.get()).values.find((v) => v.labels.pipeline === "p1")?.value ?? 0;
    store.putRecord("p1", "wh", rec(t, "upsert", row, 0xffffffffffn, 3), "too long");
    store.put({ pipeline: "p2", stage: "validate", table: "public.orders", row: { price: "-1.00" }, error: "price must be >= 0", lsn: 7n });
    expect(store.count()).toBe(2);
    expect(store.count("p1")).toBe(1);
    const [e] = store.list({ pipeline: "p1" });
    expect(e).toMatchObject({ pipeline: "p1", stage: "wh", table: "t", op: "upsert", error: "too long", lsn: 0xffffffffffn });
    expect(e.row).toEqual(row);
    expect(e.target?.key).toEqual(["id"]);
    expect(e.target?.columns[0]).toEqual(t.columns[0]);
    const after = (await registry.getSingleMetric("cdc_engine_dlq_rows_total")!.get()).values.find((v) => v.labels.pipeline === "p1")!.value;
    expect(after - before).toBe(1);
    expect(store.purge({ pipeline: "p2" })).toBe(1);
    expect(store.count()).toBe(1);
    store.close();
    // Without column types, integers beyond 2^53 still come back as bigint.
    expect(decodeRow(encodeRow({ a: 12345678901234567890n, b: 1 }))).toEqual({ a: 12345678901234567890n, b: 1 });
  });

  test("a record refused again after a crash (same LSN, index, row, error) is queued once", () => {
    // QA: after kills, 15 stream changes were in the queue two or three times each.
    const store = new DlqStore(mkdtempSync(join(tmpdir(), "cdc-dlq-")));
    const t = table("t", [col("id", OID.int8, { key: true })], ["id"]);
    expect(store.putRecord("p", "wh", rec(t, "upsert", { id: 1n }, 100n, 0), "refused")).toBe(true);
    expect(store.putRecord("p", "wh", rec(t, "upsert", { id: 1n }, 100n, 0), "refused")).toBe(false);
    expect(store.putRecord("p", "wh", rec(t, "upsert", { id: 2n }, 100n, 1), "refused")).toBe(true); // another record of that transaction
    expect(store.putRecord("p", "wh", rec(t, "upsert", { id: 1n }, 200n, 0), "refused")).toBe(true); // a later change of the row
    const op = { pipeline: "p", stage: "operator", table: "public.t", row: { id: 3 }, error: "price must be >= 0", lsn: 300n };
    expect([store.put(op), store.put(op)]).toEqual([true, false]);
    expect(store.count()).toBe(4);
    store.close();
  });

  test("floats JSON cannot hold (NaN, ±Infinity, -0) and bytea[] come back as they went in", () => {
    // JSON.stringify turned NaN/Infinity into null and -0 into 0: a replayed dead letter wrote NULL.
    const store = new DlqStore(mkdtempSync(join(tmpdir(), "cdc-dlq-")));
    const t = table("f", [col("id", OID.int4, { key: true }), col("nan", OID.float8), col("inf", 700), col("ninf", OID.float8), col("nz", OID.float8), col("arr", 1022), col("ba", 1001), col("txt", OID.text)], ["id"]);
    const row = { id: 1, nan: Number.NaN, inf: Number.POSITIVE_INFINITY, ninf: Number.NEGATIVE_INFINITY, nz: -0, arr: [[1.5, Number.NaN], [null, -0]], ba: [new Uint8Array([0, 9]), null], txt: "NaN" };
    store.putRecord("p", "wh", rec(t, "upsert", row, 5n), "refused");
    const [e] = store.list();
    expect(e.row).toEqual(row);
    expect(Object.is(e.row.nz, -0)).toBe(true);
    expect(Object.is((e.row.arr as number[][])[1][1], -0)).toBe(true);
    expect(e.row.txt).toBe("NaN"); // a text column keeps its text
    // What `dlq list` shows: the values as Postgres prints them, not null.
    expect(JSON.parse(encodeRow(row))).toMatchObject({ nan: "NaN", inf: "Infinity", ninf: "-Infinity", nz: "-0" });
    store.close();
  });
});

describe("cdc-engine dlq (compiled binary)", () => {
  let admin: mysql.Connection;
  let url: string;
  const db = uniq("cdc_dlq");
  beforeAll(async () => {
    url = await requireMysql();
    admin = await mysql.createConnection({ uri: url, supportBigNumbers: true, bigNumberStrings: true });
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await admin.end();
  });

  test("list, replay (re-sends to the sink, removes on success), purge; usage errors exit 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-dlq-cli-"));
    const state = join(dir, "state");
    const cfg = join(dir, "cdc.yaml");
    writeFileSync(cfg, `source: {url: "postgres://u@127.0.0.1:1/db"}\nstate: {dir: "${state}"}\nsinks:\n  mart: {type: mysql, url: "${url}", database: ${db}}\npipelines:\n  - {name: orders, from: public.orders, to: mart}\n  - {name: other, from: public.x, to: mart}\n`);
    const t = table("dlq_orders", [col("id", OID.int8, { key: true }), col("code", OID.varchar, { typeMod: varcharMod(20) })], ["id"]);
    const store = new DlqStore(state);
    store.putRecord("orders", "mart", rec(t, "upsert", { id: 9007199254740993n, code: "first" }, 100n), "Data too long for column 'code'");
    store.putRecord("orders", "mart", rec(t, "upsert", { id: 2n, code: "second" }, 200n), "Data too long for column 'code'");
    store.put({ pipeline: "other", stage: "transform", table: "public.x", row: { a: 1 }, error: "division by zero", lsn: 300n });
    store.close();

    // No queue where the config points (an unset CDC_STATE_DIR, another directory): said, not "0 of 0".
    const elsewhere = join(dir, "elsewhere.yaml");
    writeFileSync(elsewhere, readFileSync(cfg, "utf8").replace(state, join(dir, "nothing-here")));
    const missing = await runBinary(["dlq", "list", "--config", elsewhere]);
    expect([missing.code, missing.stdout]).toEqual([2, ""]);
    expect(missing.stderr.trim()).toBe(`cdc-engine: elsewhere.yaml: no dead-letter queue at ${join(dir, "nothing-here", "dlq.sqlite")} (state.dir): cdc-engine has not run with this state dir; check state.dir (or the variable it reads) and the working directory`);

    const list = await runBinary(["dlq", "list", "--config", cfg]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`orders -> mart dlq_orders lsn=0/64: Data too long for column 'code'\n    {"id":9007199254740993,"code":"first"}`);
    expect(list.stdout).toContain("3 of 3 dead letter(s)");
    const json = await runBinary(["dlq", "list", "--config", cfg, "--pipeline", "orders", "--limit", "1", "--json"]);
    expect(json.stdout.trim().split("\n").length).toBe(1);
    expect(json.stdout).toContain('"row":{"id":9007199254740993,"code":"first"}');
    expect(json.stdout).toContain('"lsn":"0/64"'); // as the logs and /status print positions

    const replay = await runBinary(["dlq", "replay", "--config", cfg]);
    expect(replay.stdout).toContain("replayed 2, superseded 0, still failing 0, skipped 1");
    expect(replay.code).toBe(0);
    const [rows] = await admin.query(`SELECT id, code FROM \`${db}\`.dlq_orders ORDER BY id`);
    expect(rows as unknown[]).toEqual([{ id: "2", code: "second" }, { id: "9007199254740993", code: "first" }]);
    // Replays do not move the sink's position (they are out of band).
    const [off] = await admin.query(`SELECT count(*) AS n FROM \`${db}\`.cdc_engine_offsets`);
    expect(off as unknown[]).toEqual([{ n: "0" }]);

    const purge = await runBinary(["dlq", "purge", "--config", cfg, "--pipeline", "other"]);
    expect(purge.stdout.trim()).toBe("purged 1 dead letter(s)");
    expect((await runBinary(["dlq", "list", "--config", cfg])).stdout).toContain("0 of 0 dead letter(s)");

    const bad = await runBinary(["dlq", "frob", "--config", cfg]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("dlq: expected one of list, replay, purge");
    const badLimit = await runBinary(["dlq", "list", "--config", cfg, "--limit", "x"]);
    expect(badLimit.code).toBe(2);
    const badPipe = await runBinary(["dlq", "list", "--config", cfg, "--pipeline", "nope"]);
    expect(badPipe.stderr.trim()).toBe("cdc-engine: --pipeline: no pipeline 'nope' in cdc.yaml");
  }, 120_000); // the first runBinary builds the executable
});
