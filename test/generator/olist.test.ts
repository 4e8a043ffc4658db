import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runGenerator, OLIST_FILES } from "../../src/generator/index.ts";
import { freshDb, quiet } from "./helpers.ts";

const DIR = join(import.meta.dir, "../../../shared/data/olist");

/**
 * An independent reading of the CSV (not csv-parse): records are split on newlines outside
 * double quotes, "" is an escaped quote. Gives the records after the header, fields unquoted.
 */
function records(file: string): string[][] {
  let text = readFileSync(join(DIR, file), "utf8");
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const out: string[][] = [];
  let rec: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") rec.push(field), (field = "");
    else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      rec.push(field);
      out.push(rec);
      rec = [];
      field = "";
    } else field += ch;
  }
  if (field !== "" || rec.length) rec.push(field), out.push(rec);
  return out.slice(1).filter((r) => !(r.length === 1 && r[0] === ""));
}

describe("generate --from-olist: the real Olist sample loads completely", () => {
  test("row counts equal the CSV record counts; multi-line texts, duplicate review ids and empty categories survive", async () => {
    const db = await freshDb("olist");
    try {
      const s = await runGenerator({ url: db.url, dataset: "ecommerce", init: true, fromOlist: DIR, progress: "none", ...quiet() });
      let total = 0;
      for (const [table, file] of Object.entries(OLIST_FILES)) {
        const expected = records(file).length;
        const [r] = await db.sql.unsafe(`select count(*)::int n from "${table}"`);
        expect({ table, n: r.n }).toEqual({ table, n: expected });
        total += expected;
      }
      expect(s.inserted).toBe(total);
      expect(s.stopped_by).toBe("done");

      const reviews = records("olist_order_reviews_dataset.csv");
      const multi = reviews.filter((r) => /[\r\n]/.test(r[4]));
      expect(multi.length).toBeGreaterThan(10);
      for (const r of multi.slice(0, 25)) {
        const [row] = await db.sql`select review_comment_message m, review_score s from order_reviews where review_id = ${r[0]} and order_id = ${r[1]}`;
        expect(row.m).toBe(r[4]); // byte for byte, CRLF inside the quotes included
        expect(row.s).toBe(Number(r[2]));
      }
      const [dup] = await db.sql`select count(*)::int n from (select review_id from order_reviews group by review_id having count(*) > 1) d`;
      expect(dup.n).toBe(2);
      const emptyCats = records("olist_products_dataset.csv").filter((r) => r[1] === "").length;
      const [nulls] = await db.sql`select count(*)::int n from products where product_category_name is null`;
      expect(nulls.n).toBe(emptyCats);
      // Types: numeric keeps its cents, timestamps and leading zeros of zip prefixes stay.
      const item = records("olist_order_items_dataset.csv")[0];
      const [it] = await db.sql`select price::text p, freight_value::text f, shipping_limit_date::text t from order_items where order_id = ${item[0]} and order_item_id = ${Number(item[1])}`;
      expect([it.p, it.f, it.t]).toEqual([item[5], item[6], item[4]]);
      const [zip] = await db.sql`select count(*)::int n from customers where customer_zip_code_prefix like '0%'`;
      expect(zip.n).toBeGreaterThan(0);

      // Loading again adds nothing (rows already there are skipped).
      await runGenerator({ url: db.url, dataset: "ecommerce", fromOlist: DIR, progress: "none", ...quiet() });
      const [again] = await db.sql`select count(*)::int n from order_reviews`;
      expect(again.n).toBe(reviews.length);
    } finally {
      await db.end();
    }
  }, 120_000);

  test("--replay-speed: catalogue first, then orders in purchase order at their (sped-up) times", async () => {
    const db = await freshDb("olist");
    try {
      const orders = records("olist_orders_dataset.csv");
      const times = orders.map((r) => Date.parse(r[3].replace(" ", "T") + "Z")).sort((a, b) => a - b);
      const span = times[times.length - 1] - times[0];
      const speed = span / 3000; // the whole history in about 3 s
      const seen: number[] = [];
      const t0 = performance.now();
      const s = await runGenerator({ url: db.url, dataset: "ecommerce", init: true, fromOlist: DIR, replaySpeed: speed, progress: "none", statsIntervalMs: 500, onStats: (x) => seen.push(x.rows), ...quiet() });
      const elapsed = performance.now() - t0;
      expect(elapsed).toBeGreaterThan(2800);
      expect(elapsed).toBeLessThan(15000);
      const [r] = await db.sql`select count(*)::int n from orders`;
      expect(r.n).toBe(orders.length);
      // Rows arrived over time, not all at once.
      expect(seen.length).toBeGreaterThan(4);
      expect(seen[1]).toBeLessThan(s.rows);
      // Commit order follows the purchase timestamps: in purchase order, the writing transaction ids never go back.
      const xids = (await db.sql`select xmin::text::bigint x from orders order by order_purchase_timestamp, xmin::text::bigint`).map((x) => x.x as bigint);
      const backwards = xids.filter((x, i) => i > 0 && x < xids[i - 1]).length;
      expect(backwards).toBe(0);
      expect(new Set(xids).size).toBeGreaterThan(5); // several transactions over time, not one bulk load (a busy machine packs more per transaction)
    } finally {
      await db.end();
    }
  }, 120_000);
});
