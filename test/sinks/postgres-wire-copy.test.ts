/**
 * A mirror's inserts and updates keep the tuple as pgoutput sent it (Change.afterWire), and the
 * Postgres sink copies those bytes into COPY data instead of printing decoded values again. The
 * COPY text must be byte for byte what printing the decoded row gives, for every odd value.
 */
import { describe, expect, test } from "bun:test";
import { DataDecoder } from "../../src/source/postgres/pgoutput.ts";
import { TypeDecoders } from "../../src/source/postgres/type-decoders.ts";
import { MirrorMapper } from "../../src/engine/mirror.ts";
import { copyData } from "../../src/sinks/postgres/copy-text.ts";
import type { Change } from "../../src/types.ts";
import { insertMessage, relationMessage, tuple } from "../helpers/pgoutput-messages.ts";

const COLS: [string, number][] = [["id", 20], ["label", 25], ["j", 3802], ["amount", 1700], ["at", 1184]];

const insert = insertMessage;
const update = (key: string, vals: (string | null | undefined)[]) => Buffer.concat([Buffer.from([0x55, 0, 0, 0, 1, 0x4b]), tuple([key, null, null, null, null]), Buffer.from([0x4e]), tuple(vals)]);

const ROWS: (string | null)[][] = [
  ["1", "tab\there\nnew \\ back\r\"q\" 's", '{"a": "é ü 😀"}', "123456789012345678901234567890.123456789012", "2024-02-29 23:59:59.999999+00"],
  ["9223372036854775807", null, null, null, null],
  // 300 bytes: the length's low byte is ≥ 0x80, and the value ends in a two-byte character
  ["3", "x".repeat(299) + "é", "{}", "-0.00", "infinity"],
  ["-9223372036854775808", "", "[]", "NaN", "0044-03-15 00:00:00+00 BC"],
  ["5", "😀 שלום e\u0301", "null", "1e-7", "2000-01-01 00:00:00+00"],
];

function decodeAll(msgs: Buffer[], keepWire: boolean, cols = COLS): Change[] {
  const dec = new DataDecoder(new TypeDecoders());
  dec.decode(relationMessage(cols), false);
  return msgs.map((m) => (dec.decode(m, false, keepWire) as { change: Change }).change);
}
const records = (changes: Change[]) => new MirrorMapper().map({ lsn: 1n, endLsn: 2n, xid: 1, commitTime: 0n, changes }, null);
const names = COLS.map(([n]) => n);

describe("wire tuples into COPY data", () => {
  test("the same rows decode with and without the wire form; COPY bytes from the wire equal printed ones", () => {
    const printed = records(decodeAll(ROWS.map(insert), false));
    const wired = records(decodeAll(ROWS.map(insert), true));
    expect(printed.every((r) => r.wire === undefined)).toBe(true);
    expect(wired.every((r) => r.wire !== undefined)).toBe(true);
    expect(Bun.inspect(wired.map((r) => r.row))).toBe(Bun.inspect(printed.map((r) => r.row)));
    expect(wired[0].row.id).toBe(1n);
    expect(wired[2].row.label).toBe("x".repeat(299) + "é");
    expect(wired[4].row.label).toBe("😀 שלום e\u0301");
    const want = copyData(printed, names);
    expect(copyData(wired, names).toString("hex")).toBe(want.toString("hex"));
    expect(want.toString().split("\n")[0]).toBe('1\ttab\\there\\nnew \\\\ back\\r"q" \'s\t{"a": "é ü 😀"}\t123456789012345678901234567890.123456789012\t2024-02-29 23:59:59.999999+00');
    expect(want.toString().split("\n")[1]).toBe("9223372036854775807\t\\N\t\\N\t\\N\t\\N");
  });

  test("mixed batches: records without a wire form, and wire records for other columns, are printed", () => {
    const wired = records(decodeAll(ROWS.map(insert), true));
    const printed = records(decodeAll(ROWS.map(insert), false));
    const mixed = wired.map((r, i) => (i % 2 ? printed[i] : r));
    expect(copyData(mixed, names).toString()).toBe(copyData(printed, names).toString());
    // Fewer columns than the tuple has: never copied from the wire.
    const some = ["id", "label"];
    expect(copyData(wired, some).toString()).toBe(copyData(printed, some).toString());
    expect(copyData(wired, some).toString().split("\n")[1]).toBe("9223372036854775807\t\\N");
  });

  test("updates carry the new tuple; an unchanged TOAST column or a spilled (unstable) message gives none", () => {
    const [upd] = decodeAll([update("1", ROWS[0])], true);
    expect(upd.op).toBe("update");
    expect(upd.afterWire).toBeDefined();
    const recs = records([upd]);
    expect(recs[0].wire).toBe(upd.afterWire!);
    expect(copyData(recs, names).toString()).toBe(copyData(records(decodeAll([update("1", ROWS[0])], false)), names).toString());
    const [toast] = decodeAll([update("1", ["1", undefined, "{}", "1", "infinity"])], true);
    expect(toast.unchangedToast).toEqual(["label"]);
    expect(toast.afterWire).toBeUndefined();
    const [ins] = decodeAll([insert(ROWS[0])], false);
    expect(ins.afterWire).toBeUndefined();
  });

  test("an array goes as the source printed it (the printed path quotes every element; Postgres reads both the same)", () => {
    const cols: [string, number][] = [["id", 20], ["tags", 1009]];
    const vals = ["1", '{a,"b c",NULL,"\\\\",""}'];
    const wired = records(decodeAll([insert(vals)], true, cols));
    expect(wired[0].row.tags).toEqual(["a", "b c", null, "\\", ""]);
    expect(copyData(wired, ["id", "tags"]).toString()).toBe('1\t{a,"b c",NULL,"\\\\\\\\",""}\n');
    expect(copyData(records(decodeAll([insert(vals)], false, cols)), ["id", "tags"]).toString()).toBe('1\t{"a","b c",NULL,"\\\\\\\\",""}\n');
  });
});
