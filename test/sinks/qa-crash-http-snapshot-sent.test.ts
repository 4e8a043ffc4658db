/**
 * The http sink's record of the snapshot records it sent (snapshot-sent.ts): settled names are
 * known as settled, unanswered ones by their request's key, a settled name stays settled when a
 * later request names it again, and the file goes at the sink's start once its last request is
 * more than 7 days old (it stays while a snapshot may still be read again).
 */
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SnapshotSent } from "../../src/sinks/http/snapshot-sent.ts";

test("snapshot-sent names: pending under a key, settled, kept for 7 days after the last request", () => {
  const dir = mkdtempSync(join(tmpdir(), "qa-snapsent-"));
  const s = new SnapshotSent(dir, "hook");
  s.sending("p", ["a", "b", "c"], "p:a-c");
  s.settled("p", ["a", "b"]);
  s.sending("p", ["a", "d"], "p:a-d"); // a is settled: it keeps ""
  expect([...s.lookup("p", ["a", "b", "c", "d", "e"])].sort()).toEqual([["a", ""], ["b", ""], ["c", "p:a-c"], ["d", "p:a-d"]]);
  expect(s.lookup("other", ["a"]).size).toBe(0);
  s.close();
  const path = join(dir, "sink-hook.snapshot-sent.sqlite");
  new SnapshotSent(dir, "hook").dropIfStale(); // fresh: kept
  expect(existsSync(path)).toBe(true);
  const again = new SnapshotSent(dir, "hook");
  expect(again.lookup("p", ["a"]).get("a")).toBe("");
  again.close();
  const db = new Database(path);
  db.run("update meta set at = ?", [Date.now() - 8 * 24 * 3600 * 1000]);
  db.close();
  new SnapshotSent(dir, "hook").dropIfStale();
  expect(existsSync(path)).toBe(false);
  const empty = new SnapshotSent(dir, "hook");
  expect(empty.lookup("p", ["a", "c"]).size).toBe(0);
  empty.close();
});
