/**
 * Scenario 1 (examples/ecommerce.yaml, compiled binary, MariaDB) at the edges of SCENARIOS.md's rules:
 *  - sentiment is EXCELLENT (5), GOOD (4), AVERAGE (3), POOR (1-2): a NULL or out-of-range score (a
 *    source without the sample schema's CHECK) was POOR (the example's `ELSE 'POOR'`); now NULL;
 *  - has_comment of a review whose long message (TOASTed, > 2 kB) an update of the score left
 *    unchanged flipped to false (the message was not in the update's row); it stays true;
 *  - price_category at 100.00 / 99.99 / 50.00 / 49.99, is_high_value at 500.00 / 499.99,
 *    is_installment at 1 / 2, payment types outside the list → OTHER, NULLs, unicode.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { createDatabase, requireMysql, sharedPg } from "../helpers/index.ts";
import { Serve, waitFor } from "./harness.ts";

let src: postgres.Sql;
let my: mysql.Connection;
let serve: Serve;
const mdb = `e2e_qa_ods_${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  const murl = await requireMysql();
  const pg = await sharedPg("system");
  const srcUrl = pg.url(await createDatabase(pg, "e2e_qa_olist"));
  src = postgres(srcUrl, { max: 1, onnotice: () => {}, connection: { TimeZone: "UTC" } });
  await src.unsafe(await Bun.file(join(import.meta.dir, "../../sql/ecommerce.sql")).text());
  // a user's own Olist schema: no CHECK on the score, NULL allowed
  await src.unsafe("alter table order_reviews drop constraint order_reviews_review_score_check, alter review_score drop not null");
  my = await mysql.createConnection({ uri: murl, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
  serve = new Serve("ecommerce", { SOURCE_URL: srcUrl, MART_URL: murl, MART_DATABASE: mdb });
  await serve.start();
});

afterAll(async () => {
  await serve?.stop();
  await src?.end();
  await my?.query(`DROP DATABASE IF EXISTS \`${mdb}\``);
  await my?.end();
});

type R = Record<string, unknown>;
const rows = async (q: string): Promise<R[]> => {
  try {
    return (await my.query(q.replace("{db}", `\`${mdb}\``)))[0] as R[];
  } catch {
    return [];
  }
};

test("sentiment only for scores 1-5; has_comment survives a score update of a long review; boundaries exact", async () => {
  await src.unsafe(`insert into order_reviews (review_id, order_id, review_score, review_comment_title, review_comment_message) values
    ('r-null', 'o1', null, null, null), ('r-0', 'o1', 0, null, ''), ('r-1', 'o1', 1, null, '  '), ('r-2', 'o1', 2, 'ü', 'ruim 😞'),
    ('r-3', 'o1', 3, null, null), ('r-4', 'o1', 4, null, 'ok'), ('r-5', 'o1', 5, null, E'ótimo\\r\\nlinha 2'), ('r-6', 'o1', 6, null, null),
    ('r-5', 'o2', 5, null, null)`);
  await src.unsafe(`insert into order_reviews (review_id, order_id, review_score, review_comment_message)
    select 'r-long', 'o1', 5, string_agg(md5(i::text), ' ') from generate_series(1, 200) i`);
  await src.unsafe(`insert into order_items values ('o1', 1, 'p', 's', null, 100.00, 0.00), ('o1', 2, 'p', 's', null, 99.99, 0.01),
    ('o1', 3, 'p', 's', null, 50.00, 0), ('o1', 4, 'p', 's', null, 49.99, 12345678.99), ('o1', 5, 'p', 's', '2018-01-01 00:00:00.000001', 99999999.99, 99999999.99)`);
  await src.unsafe(`insert into order_payments values ('o1', 1, 'credit_card', 1, 500.00), ('o1', 2, 'debit_card', 2, 499.99),
    ('o1', 3, 'boleto', 0, 0), ('o1', 4, 'voucher', 1, 1), ('o1', 5, 'not_defined', 24, 13664.08), ('o1', 6, 'Credit_Card', 1, 1), ('o1', 7, '', 1, 1)`);

  const reviewsQ = "select review_id, order_id, review_score, sentiment, is_positive, has_comment, char_length(review_comment_message) len from {db}.ods_order_reviews order by review_id, order_id";
  await waitFor("reviews landed", async () => (await rows(reviewsQ)).length === 10, 60_000, () => serve.logs);
  await src.unsafe("update order_reviews set review_score = 2 where review_id = 'r-long'");
  await waitFor("score update landed", async () => (await rows(reviewsQ)).find((r) => r.review_id === "r-long")?.review_score === 2, 30_000, () => serve.logs);
  const long = (await src.unsafe("select char_length(review_comment_message) n, pg_column_size(review_comment_message) s from order_reviews where review_id = 'r-long'"))[0]!;
  expect(long.s).toBeGreaterThan(2048);
  expect(await rows(reviewsQ)).toEqual([
    { review_id: "r-0", order_id: "o1", review_score: 0, sentiment: null, is_positive: 0, has_comment: 0, len: 0 },
    { review_id: "r-1", order_id: "o1", review_score: 1, sentiment: "POOR", is_positive: 0, has_comment: 1, len: 2 },
    { review_id: "r-2", order_id: "o1", review_score: 2, sentiment: "POOR", is_positive: 0, has_comment: 1, len: 6 },
    { review_id: "r-3", order_id: "o1", review_score: 3, sentiment: "AVERAGE", is_positive: 0, has_comment: 0, len: null },
    { review_id: "r-4", order_id: "o1", review_score: 4, sentiment: "GOOD", is_positive: 1, has_comment: 1, len: 2 },
    { review_id: "r-5", order_id: "o1", review_score: 5, sentiment: "EXCELLENT", is_positive: 1, has_comment: 1, len: 14 },
    { review_id: "r-5", order_id: "o2", review_score: 5, sentiment: "EXCELLENT", is_positive: 1, has_comment: 0, len: null },
    { review_id: "r-6", order_id: "o1", review_score: 6, sentiment: null, is_positive: 1, has_comment: 0, len: null },
    { review_id: "r-long", order_id: "o1", review_score: 2, sentiment: "POOR", is_positive: 0, has_comment: 1, len: long.n },
    { review_id: "r-null", order_id: "o1", review_score: null, sentiment: null, is_positive: null, has_comment: 0, len: null },
  ]);

  const itemsQ = "select order_item_id id, price, freight_value, total_value, price_category, shipping_limit_date from {db}.ods_order_items order by order_item_id";
  await waitFor("items", async () => (await rows(itemsQ)).length === 5, 30_000, () => serve.logs);
  expect(await rows(itemsQ)).toEqual([
    { id: 1, price: "100.00", freight_value: "0.00", total_value: "100.00", price_category: "HIGH", shipping_limit_date: null },
    { id: 2, price: "99.99", freight_value: "0.01", total_value: "100.00", price_category: "MEDIUM", shipping_limit_date: null },
    { id: 3, price: "50.00", freight_value: "0.00", total_value: "50.00", price_category: "MEDIUM", shipping_limit_date: null },
    { id: 4, price: "49.99", freight_value: "12345678.99", total_value: "12345728.98", price_category: "LOW", shipping_limit_date: null },
    { id: 5, price: "99999999.99", freight_value: "99999999.99", total_value: "199999999.98", price_category: "HIGH", shipping_limit_date: "2018-01-01 00:00:00.000001" },
  ]);
  const payQ = "select payment_sequential seq, payment_category, is_high_value, is_installment from {db}.ods_order_payments order by payment_sequential";
  await waitFor("payments", async () => (await rows(payQ)).length === 7, 30_000, () => serve.logs);
  expect(await rows(payQ)).toEqual([
    { seq: 1, payment_category: "CARD_PAYMENT", is_high_value: 1, is_installment: 0 },
    { seq: 2, payment_category: "CARD_PAYMENT", is_high_value: 0, is_installment: 1 },
    { seq: 3, payment_category: "BANK_SLIP", is_high_value: 0, is_installment: 0 },
    { seq: 4, payment_category: "VOUCHER", is_high_value: 0, is_installment: 0 },
    { seq: 5, payment_category: "OTHER", is_high_value: 1, is_installment: 1 },
    { seq: 6, payment_category: "OTHER", is_high_value: 0, is_installment: 0 },
    { seq: 7, payment_category: "OTHER", is_high_value: 0, is_installment: 0 },
  ]);
}, 90_000);
