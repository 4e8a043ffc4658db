/**
 * `generate --schema NAME` with a schema name that needs quoting in SQL (a space, capitals: the
 * README's own example source schema is `Sales Data`). The generator's connections set
 * search_path to the bare name: Postgres refused "Qa Orders" at connect time ("invalid value for
 * parameter search_path"), and "QaMixed" was folded to qamixed, so the rows went to another schema
 * (or nowhere) than the one --init created.
 */
import { expect, test } from "bun:test";
import { runGenerator } from "../../src/generator/index.ts";
import { freshDb, quiet } from "../generator/helpers.ts";

test("--schema with a space or capitals: tables created and rows written in exactly that schema", async () => {
  const db = await freshDb("qa_schema");
  try {
    for (const schema of ["Qa Orders", "QaMixed"]) {
      await runGenerator({ url: db.url, dataset: "orders", schema, init: true, count: 50, seed: "1", progress: "none", ...quiet() });
      const [r] = await db.sql.unsafe(`select count(*)::int n from "${schema}".orders`);
      expect({ schema, n: r!.n }).toEqual({ schema, n: 50 });
    }
    await runGenerator({ url: db.url, dataset: "relational", schema: "Qa Orders", init: true, progress: "none", ...quiet() });
    const [u] = await db.sql.unsafe(`select (select count(*)::int from "Qa Orders".users) u, (select count(*)::int from "Qa Orders".transactions) t, (select count(*)::int from "Qa Orders".detailed_transactions) d`);
    expect(u as unknown).toEqual({ u: 10, t: 30, d: 100 });
    // nothing leaked into a case-folded or the default schema
    const [leak] = await db.sql.unsafe(`select count(*)::int n from pg_tables where schemaname in ('qamixed', 'public')`);
    expect(leak!.n).toBe(0);
  } finally {
    await db.end();
  }
}, 60_000);
