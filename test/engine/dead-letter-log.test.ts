/**
 * Dead letters are logged once per (sink, pipeline, table) and 10-s window, then counted: a table
 * the sink refuses logged a ~700-byte warn line for each of its rows (500 for the 500 rows of a
 * 600-column table MariaDB cannot create; a million for a million-row table).
 */
import { expect, test } from "bun:test";
import pino from "pino";
import { DeadLetterLog } from "../../src/engine/dead-letter-log.ts";

function logger(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

test("the first dead letter of a table is logged with its error, the rest of the window in one counted line", async () => {
  const { log, lines } = logger();
  const dl = new DeadLetterLog(log, 100);
  for (let i = 0; i < 1000; i++) dl.note("maria", "mirror", "public.wide", `row ${i}: Row size too large`);
  dl.note("maria", "mirror", "public.other", "value too long");
  dl.note("wh", "mirror", "public.wide", "refused by wh");
  expect(lines.map((l) => [l.msg, l.sink, l.table, l.error])).toEqual([
    ["record sent to the dead-letter queue", "maria", "public.wide", "row 0: Row size too large"],
    ["record sent to the dead-letter queue", "maria", "public.other", "value too long"],
    ["record sent to the dead-letter queue", "wh", "public.wide", "refused by wh"],
  ]);
  await Bun.sleep(250);
  expect(lines.slice(3).map((l) => [l.msg, l.sink, l.table, l.records, l.lastError])).toEqual([["999 more records of public.wide sent to the dead-letter queue", "maria", "public.wide", 999, "row 999: Row size too large"]]);
  // A new window starts with a whole line again.
  dl.note("maria", "mirror", "public.wide", "row 1000: Row size too large");
  dl.note("maria", "mirror", "public.wide", "row 1001: Row size too large");
  expect(lines.length).toBe(5);
  expect(lines[4].error).toBe("row 1000: Row size too large");
  // At stop, what an open window counted is logged at once.
  dl.flush();
  expect(lines.slice(5).map((l) => [l.records, l.lastError])).toEqual([[1, "row 1001: Row size too large"]]);
  dl.flush();
  expect(lines.length).toBe(6);
});
