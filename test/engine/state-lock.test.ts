/**
 * One engine per state dir (QA: a second `serve` on the same config dropped the first one's slot
 * mid-snapshot and took over; against a streaming one it looped on the shared checkpoints.db).
 * The lock is taken before anything else, is released by the kernel when its holder dies, and
 * `dlq replay` (which writes where the engine does) refuses while it is held.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary } from "../helpers/index.ts";

const holder = (dir: string) =>
  Bun.spawn(["bun", "-e", `const { lockStateDir } = await import(${JSON.stringify(join(import.meta.dir, "../../src/engine/state-lock.ts"))}); lockStateDir(${JSON.stringify(dir)}); console.log("held"); await Bun.sleep(60000);`], { stdout: "pipe", stderr: "inherit" });

test("a second engine on a state dir in use exits 1 naming the holder; dlq replay refuses; a killed holder frees it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cdc-state-lock-"));
  const state = join(dir, "state");
  const cfg = join(dir, "cdc.yaml");
  // An unreachable source: the lock is checked before any connection.
  writeFileSync(cfg, `source: { url: "postgres://x@127.0.0.1:1/x" }\nstate: { dir: "${state}" }\napi: { listen: "127.0.0.1:0" }\nsinks: { wh: { type: sqlite, path: "${join(dir, "wh.sqlite")}" } }\npipelines: [{ name: m, from: public.t, to: wh }]\n`);
  const p = holder(state);
  const reader = p.stdout.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain("held");
  try {
    const second = await runBinary(["serve", "--config", cfg]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`state.dir ${state} is in use by another cdc-engine (PID ${p.pid}): one engine per state dir`);
    const replay = await runBinary(["dlq", "replay", "--config", cfg]);
    expect(replay.code).toBe(2);
    expect(replay.stderr).toContain(`is in use by a running cdc-engine (PID ${p.pid}): replay through it with POST /admin/dlq/replay`);
  } finally {
    p.kill("SIGKILL");
    await p.exited;
  }
  // Released with the process (kill -9): the next start gets past the lock (and fails on the unreachable source instead).
  const after = await runBinary(["serve", "--config", cfg], { timeoutMs: 30_000 });
  expect(after.stderr).not.toContain("is in use");
}, 120_000);
