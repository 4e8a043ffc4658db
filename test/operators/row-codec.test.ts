import { expect, test } from "bun:test";
import { decodeRow, encodeRow } from "../../src/engine/operators/row-codec.ts";
import { decodeState, encodeState } from "../../src/engine/state-codec.ts";
import { boundsPrefix, arrayDelimiter, withBounds, withDelimiter } from "../../src/array-bounds.ts";
import { toRowChange } from "../../src/engine/operators/row-change.ts";
import type { Change } from "../../src/types.ts";

/** Join state goes to a checkpoint as encodeState(encodeRow(row)) and comes back through decodeRow(decodeState(text)). */
const roundTrip = (row: Record<string, unknown>) => decodeRow(decodeState(encodeState(encodeRow(row))))!;

test("join-state rows keep NaN, ±Infinity, -0, bigint, bytes and array bounds and delimiters through a checkpoint", () => {
  const bounded = withBounds([1, 2], "[0:1]");
  const boxes = withDelimiter(["(1,1),(0,0)", "(2,2),(1,1)"], ";");
  const row = roundTrip({
    nan: Number.NaN, inf: Number.POSITIVE_INFINITY, ninf: Number.NEGATIVE_INFINITY, nzero: -0, n: 1.5,
    big: 9007199254740993n, bytes: new Uint8Array([0, 255]), text: "x", nul: null,
    floats: [Number.NaN, 1, -0], bigs: [1n, 9007199254740993n], bounded, boxes, nested: [[1, 2], [3, 4]],
  });
  expect(row.nan).toBeNaN();
  expect(row.inf).toBe(Number.POSITIVE_INFINITY);
  expect(row.ninf).toBe(Number.NEGATIVE_INFINITY);
  expect(Object.is(row.nzero, -0)).toBe(true);
  expect(row.n).toBe(1.5);
  expect(row.big).toBe(9007199254740993n);
  expect(row.bytes).toEqual(new Uint8Array([0, 255]));
  expect([row.text, row.nul]).toEqual(["x", null]);
  expect((row.floats as number[])[0]).toBeNaN();
  expect(Object.is((row.floats as number[])[2], -0)).toBe(true);
  expect(row.bigs).toEqual([1n, 9007199254740993n]);
  expect(row.bounded).toEqual([1, 2]);
  expect(boundsPrefix(row.bounded as unknown[])).toBe("[0:1]="); // was lost: {1,2} came back, a[0] moved to a[1]
  expect(arrayDelimiter(row.boxes as unknown[])).toBe(";");
  expect(row.nested).toEqual([[1, 2], [3, 4]]);
});

test("a row of a table without a key is identified by its content, an int8[] column included (JSON.stringify threw on its bigints)", () => {
  const relation = { id: 1, schema: "public", name: "k", table: "public.k", replicaIdentity: "f", columns: [{ name: "a", typeOid: 1016, typeMod: -1, isKey: false }] };
  const ch = { op: "insert", table: "public.k", relation, after: { a: [1n, 2n] } } as unknown as Change;
  const rc = toRowChange(ch, 0);
  expect(rc.id).toBe('{"a":[{"$b":"1"},{"$b":"2"}]}');
});
