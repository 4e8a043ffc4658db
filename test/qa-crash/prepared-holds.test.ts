/**
 * Where the slot may be confirmed with two-phase transactions around (PreparedHolds), and a
 * COMMIT PREPARED without its PREPARE ending the stream instead of a reconnect loop.
 * The end-to-end case is two-phase-kill.test.ts.
 */
import { expect, test } from "bun:test";
import { CdcError } from "../../src/errors.ts";
import { PreparedHolds } from "../../src/source/postgres/prepared-holds.ts";
import { diagnoseStreamFailure } from "../../src/source/postgres/stream-failure.ts";

test("a committed prepared transaction holds the slot at its PREPARE until the position passes its commit", () => {
  const h = new PreparedHolds();
  h.prepared(1, 100n); // p1
  h.prepared(2, 200n); // p2
  h.committed(1, 300n); // COMMIT PREPARED p1 at 300; p2 still open
  // Only the open p2 would give 200, between p1's PREPARE (100) and its commit (300): the server
  // would then send p1's COMMIT PREPARED without its changes. p1 holds 100.
  expect(h.cap(400n)).toBe(100n);
  h.committed(2, 500n);
  expect(h.cap(450n)).toBe(100n); // p2's commit not passed yet: p2 holds 200, which is before p1's commit
  expect(h.cap(500n)).toBe(100n); // a position at a commit's own LSN sends that commit again
  expect(h.cap(501n)).toBe(501n); // both commits passed: nothing is held any more
  expect(h.cap(10n)).toBe(10n);
});

test("a rolled-back prepared transaction holds nothing; a position below every PREPARE is left alone", () => {
  const h = new PreparedHolds();
  h.prepared(7, 100n);
  expect(h.cap(90n)).toBe(90n);
  expect(h.cap(150n)).toBe(100n);
  h.rolledBack(7);
  expect(h.cap(150n)).toBe(150n);
});

test("a COMMIT PREPARED without its PREPARE ends the stream (exit 2 from serve) instead of reconnecting for good", async () => {
  const lost = new CdcError("prepared_lost", "COMMIT PREPARED 'p1' (xid 7) arrived without its PREPARE", { component: "source" });
  expect(await diagnoseStreamFailure(lost, null, "slot", ["pub"])).toBe(lost);
});
