/**
 * box is the one built-in type whose array delimiter is ';' (`{(1,1),(0,0);(2,2),(1,1)}`): a box
 * element holds commas. The source splits box[] at ';', but the postgres sink printed the array
 * back with ',' and the server refused the row ("malformed array literal"): every row of a table
 * with a box[] column went to the dead-letter queue (multi-row VALUES and COPY staging paths).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { createDatabase, sharedPg } from "../helpers/index.ts";
import { parseArray } from "../../src/source/postgres/type-decoders.ts";
import { toPgText } from "../../src/sinks/postgres/values.ts";

let sql: postgres.Sql;
beforeAll(async () => {
  const pg = await sharedPg("system");
  sql = postgres(pg.url(await createDatabase(pg, "qa_box")), { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql.end();
});

const asText = (t: string) => t;

test("a box[] decoded from the source's text prints back as the same box[]", async () => {
  for (const text of ["{(1,1),(0,0);(2,2),(1,1)}", "{{(1,1),(0,0);NULL};{(3,3),(2,2);(5,5),(4,4)}}", "{(0.5,1e+20),(-1,-2)}", "[0:1]={(1,1),(0,0);(2,2),(1,1)}", "{}"]) {
    const [{ source }] = await sql`select ${text}::box[]::text as source`;
    const value = parseArray(source, asText, ";");
    const [{ back }] = await sql`select ${toPgText(value)}::box[]::text as back`;
    expect(back).toBe(source);
  }
});

test("other arrays keep ',' (text elements with ';' in them)", async () => {
  const source = '{a;b,c,NULL,"d,e"}';
  const [{ back }] = await sql`select ${toPgText(parseArray(source, asText))}::text[]::text as back`;
  expect(back).toBe(source);
});
