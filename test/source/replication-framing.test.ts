/**
 * The receive path of the replication stream without a server: the patched postgres.js framing
 * (a message split across socket reads is joined alone, the rest of a read cut by offset), the
 * raw CopyData hook and socket pause/resume of ReplicationSession, and StreamReader, fed a
 * stream cut at every byte, in single bytes, and in seeded random reads with the socket paused
 * mid-frame and reads still arriving after the pause. Every value must arrive whole, once, in order.
 */
import { describe, expect, test } from "bun:test";
import { cutAt, streamThrough, walStream, type Rows } from "./fake-walsender.ts";

const text = (n: number, seed: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(33 + ((i * 7919 + seed) % 90))).join("");

/** Seeded random read sizes up to `max` bytes. */
function randomCuts(length: number, max: number, seed: number): number[] {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const cuts: number[] = [];
  for (let at = 0; at < length; ) cuts.push((at += 1 + Math.floor(next() * max)));
  return cuts;
}

describe("replication stream framing", () => {
  const small: Rows[] = [[["1", "a"], ["2", text(300, 1)]], [["3", "bb"]]];
  const smallBytes = walStream(small, 2);

  test("a stream cut at any one byte arrives whole", async () => {
    for (let cut = 1; cut < smallBytes.length; cut++) {
      const { txns } = await streamThrough(cutAt(smallBytes, [cut]));
      if (JSON.stringify(txns) !== JSON.stringify(small)) expect({ cut, txns }).toEqual({ cut, txns: small });
    }
  });

  test("a stream read one byte at a time arrives whole", async () => {
    const { txns } = await streamThrough(cutAt(smallBytes, Array.from({ length: smallBytes.length }, (_, i) => i)), { yieldEvery: 7 });
    expect(txns).toEqual(small);
  });

  // The shape of stream.test.ts "values larger than a socket read": small rows around values of
  // many reads, in one transaction and alone; and many small transactions, so that a stalled
  // engine fills the session's queue past its high-water mark and the socket is paused.
  const big: Rows = [];
  for (const [i, n] of [70_000, 300_000, 1, 600_000].entries()) {
    for (let k = 0; k < 50; k++) big.push([`${1000 * i + k}`, `small ${i} ${k}`]);
    big.push([`${1000 * i + 999}`, text(n, i)]);
  }
  const many = (from: number) => Array.from({ length: 150 }, (_, i): Rows => [[`m${from + i}`, `v${i}`], [`n${from + i}`, text((i * 37) % 3000, i)]]);
  const large: Rows[] = [...many(0), big, ...many(150), [["99999", text(250_000, 7)]]];
  const largeBytes = walStream(large, 7);

  test.each([
    ["reads up to 64 KiB, engine keeping up", 65_536, {}, 0],
    ["reads up to 1 KiB, paused mid-frame by a stalled engine", 1024, { yieldEvery: 2 }, 5],
    ["reads up to 256 KiB, paused by a stalled engine, 2 reads still arriving after each pause", 262_144, { afterPause: 2 }, 3],
    ["reads up to 16 KiB, paused, 1 read still arriving after each pause, a macrotask every 3 reads", 16_384, { afterPause: 1, yieldEvery: 3 }, 7],
  ] as const)("large values, %s", async (_name, max, mode, stallEvery) => {
    for (const seed of [1, 2, 3]) {
      const { txns, socket } = await streamThrough(cutAt(largeBytes, randomCuts(largeBytes.length, max, seed)), mode, stallEvery);
      expect(txns.length).toBe(large.length);
      for (const [i, rows] of large.entries()) {
        const got = txns[i];
        if (got.length !== rows.length || got.some(([id, v], k) => id !== rows[k][0] || v !== rows[k][1])) {
          expect({ seed, txn: i, rows: got.map(([id, v]) => `${id}:${v.length}`) }).toEqual({ seed, txn: i, rows: rows.map(([id, v]) => `${id}:${v.length}`) });
        }
      }
      if (stallEvery) expect(socket.pauses).toBeGreaterThan(0);
      if ("afterPause" in mode) expect(socket.whilePaused).toBeGreaterThan(0);
    }
  });
});
