/**
 * Mistakes only the source's columns reveal (an unknown column, a non-boolean where, a to.key
 * naming no output column): `check` names them as `serve` does, exit 2 and one line, instead of
 * passing a config that serve then refuses or retries forever. Both name the file and the pipeline.
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
  const config = async (name: string, pipeline: string) => {
    const file = join(dir, `${name}.yaml`);
    const slot = `s_${Math.random().toString(36).slice(2, 10)}`;
    writeFileSync(file, `source: { url: "${pg.url(src)}", slot: ${slot}, publication: ${slot} }
state: { dir: "${join(dir, name)}" }
api: { listen: "127.0.0.1:${await freePort()}" }
sinks:
  wh: { type: postgres, url: "${pg.url(dst)}" }
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
      expect(check.stdout).toContain(`${basename(file)}: pipelines.0 (p): `);
    }
    // The same pipeline, right: check passes.
    const good = await config("good", "    where: price > 0\n    select: [id, price]\n    to: { sink: wh, key: [id] }\n");
    const check = await runBinary(["check", "--config", good]);
    expect(`exit ${check.code}\n${check.stdout}`).toContain("exit 0\n");
    expect(check.stdout).toContain("ok   pipeline:p");
  } finally {
    await sql.end();
  }
}, 180_000);
