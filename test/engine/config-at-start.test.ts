/**
 * Mistakes only the source's columns reveal (an unknown column, a non-boolean where, a to.key or a
 * Redis key_template/member/score/value/fields naming no output column): `check` names them as
 * `serve` does, exit 2 and one line, instead of passing a config that serve then refuses, retries
 * forever, or whose every row goes to the DLQ. Both name the file and the pipeline; serve refuses
 * before it makes the replication slot.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import postgres from "postgres";
import { createDatabase, freePort, runBinary, sharedPg } from "../helpers/index.ts";

test("check and serve refuse, with exit 2 and one line, what the source's columns make wrong", async () => {
  const pg = await sharedPg("system");
  const [src, dst] = [await createDatabase(pg, "cfg_src"), await createDatabase(pg, "cfg_dst")];
  const sql = postgres(pg.url(src), { max: 1, onnotice: () => {} });
  await sql.unsafe("create table orders (id bigint primary key, price numeric(10,2), status text); insert into orders values (1, 9.50, 'new')");
  const dir = mkdtempSync(join(tmpdir(), "cdc-cfg-"));
  let lastSlot = "";
  const config = async (name: string, pipeline: string) => {
    const file = join(dir, `${name}.yaml`);
    const slot = (lastSlot = `s_${Math.random().toString(36).slice(2, 10)}`);
    writeFileSync(file, `source: { url: "${pg.url(src)}", slot: ${slot}, publication: ${slot} }
state: { dir: "${join(dir, name)}" }
api: { listen: "127.0.0.1:${await freePort()}" }
sinks:
  wh: { type: postgres, url: "${pg.url(dst)}" }
  rd: { type: redis, url: "${process.env.REDIS_URL ?? "redis://127.0.0.1:6379"}", key_prefix: "${slot}:" }
pipelines:
  - name: p
    from: public.orders
${pipeline}`);
    return file;
  };
  try {
    const cases: [string, string, string][] = [
      ["unknown-column", "    select: [id, pricee]\n    to: wh\n", "unknown column 'pricee'"],
      ["where-not-boolean", "    where: price\n    to: wh\n", "a where condition must be boolean, not numeric(10,2)"],
      ["key-not-output", "    select: [id, price]\n    to: { sink: wh, key: [order_id] }\n", "to.key names 'order_id', not among its output columns (id, price)"],
      // Redis options naming columns: each row rendered no key (or no score) and went to the DLQ.
      ["redis-key-template", '    select: [id, price]\n    to: { sink: rd, type: hash, key_template: "order:{order_id}" }\n', "to.key_template names 'order_id', not among its output columns (id, price)"],
      ["redis-zset-score", "    where: price > 0\n    to: [wh, { sink: rd, type: zset, key_template: board, member: id, score: points }]\n", "to.1.score names 'points', not among its output columns (id, price, status)"],
      // A mirror's output is its table's own columns.
      ["redis-mirror-template", '    to: { sink: rd, type: hash, key_template: "order:{order_id}" }\n', "to.key_template names 'order_id', not a column of public.orders (id, price, status)"],
      ["redis-string-value", "    select: [id, price]\n    to: { sink: rd, type: string, key_template: \"o:{id}\", value: total }\n", "to.value names 'total', not among its output columns (id, price)"],
    ];
    for (const [name, pipeline, says] of cases) {
      const file = await config(name, pipeline);
      const check = await runBinary(["check", "--config", file]);
      expect(`${name}: exit ${check.code}\n${check.stdout}`).toContain(`${name}: exit 2\n`);
      expect(check.stdout).toMatch(new RegExp(`FAIL pipeline:p .*${says.replace(/[()]/g, "\\$&")}`));
      const serve = await runBinary(["serve", "--config", file], { timeoutMs: 30_000 });
      expect(`${name}: exit ${serve.code}`).toBe(`${name}: exit 2`);
      expect(serve.stderr.trim().split("\n").at(-1)).toContain(says);
      // Where, as the loader's errors say it: the file and the pipeline's place in it.
      expect(serve.stderr.trim().split("\n").at(-1)).toContain(`${basename(file)}: pipelines.0 (p): `);
      // Refused before the slot is made: a slot left behind by the exit 2 held WAL for good.
      const [{ n }] = await sql`select count(*)::int as n from pg_replication_slots where slot_name = ${lastSlot}`;
      expect(`${name}: ${n} slot`).toBe(`${name}: 0 slot`);
      expect(check.stdout).toContain(`${basename(file)}: pipelines.0 (p): `);
    }
    // The same pipeline, right: check passes.
    const good = await config("good", "    where: price > 0\n    select: [id, price]\n    to: [{ sink: wh, key: [id] }, { sink: rd, type: zset, key_template: \"board:{id}\", member: id, score: price }]\n");
    const check = await runBinary(["check", "--config", good]);
    expect(`exit ${check.code}\n${check.stdout}`).toContain("exit 0\n");
    expect(check.stdout).toContain("ok   pipeline:p");
    const mirror = await config("good-mirror", '    to: { sink: rd, type: hash, key_template: "order:{id}", fields: [price, status] }\n');
    const mirrored = await runBinary(["check", "--config", mirror]);
    expect(`exit ${mirrored.code}\n${mirrored.stdout}`).toContain("exit 0\n");
    expect(mirrored.stdout).toContain("ok   pipeline:p");
    // A transform module may add the column a template names: its output is known only from its rows.
    writeFileSync(join(dir, "add-cid.ts"), "export function transform(row: Record<string, unknown>) { return { ...row, cid: row.id }; }\n");
    const module = await config("transform", `    select: [id, price]\n    transform: ./add-cid.ts\n    to: { sink: rd, type: hash, key_template: "o:{cid}" }\n`);
    const checked = await runBinary(["check", "--config", module]);
    expect(`exit ${checked.code}\n${checked.stdout}`).toContain("exit 0\n");
  } finally {
    await sql.end();
  }
}, 180_000);

test("check without an answering source says a pipeline was not checked against the tables' columns", async () => {
  // "ok pipeline:p compiles" read as checked, though names are only checked leniently then.
  const dir = mkdtempSync(join(tmpdir(), "cdc-cfg-nosrc-"));
  const file = join(dir, "cdc.yaml");
  writeFileSync(file, `source: { url: "postgres://postgres@127.0.0.1:1/none" }\nstate: { dir: "${join(dir, "state")}" }\nsinks:\n  wh: { type: sqlite, path: "${join(dir, "wh.db")}" }\npipelines:\n  - { name: p, from: public.orders, select: [id, "price * 2 AS twice"], to: wh }\n`);
  const r = await runBinary(["check", "--config", file]);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/^ok\s+pipeline:p\s+compiles \(not checked against the tables' columns: the source did not answer\)$/m);
  expect(r.stdout).toMatch(/^FAIL source /m);
});
