import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary } from "../helpers/binary.ts";
import { sourceConfig, startSource, testDb } from "./source-helpers.ts";

// A CLI test, not about the source's behaviour on each server: one flavor is enough.
test("cdc-engine slot status / drop (compiled binary)", async () => {
  const db = await testDb("system");
  await db.sql.unsafe(`create table t (id int primary key)`);
  const cfg = sourceConfig(db.url, { snapshot: "never" });
  const dir = mkdtempSync(join(tmpdir(), "cdc-slotcmd-"));
  const path = join(dir, "cdc.yaml");
  writeFileSync(
    path,
    `source:\n  url: ${db.url}\n  slot: ${cfg.slot}\n  publication: ${cfg.publication}\nsinks:\n  out: { type: stdout }\npipelines:\n  - { name: m, from: public.t, to: out }\n`,
  );
  try {
    const missing = await runBinary(["slot", "status", "--config", path]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(`replication slot ${cfg.slot} does not exist`);

    const running = await startSource(cfg, ["public.t"]);
    await db.sql`insert into t values (1)`;
    await running.collector.waitFor(() => running.collector.changes.length === 1, "insert");
    const lsn = running.collector.txns[0].lsn;
    running.source.confirm(lsn);
    await Bun.sleep(1300);

    const status = await runBinary(["slot", "status", "--config", path, "--json"]);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s.name).toBe(cfg.slot);
    expect(s.active).toBe(true);
    expect(s.plugin).toBe("pgoutput");
    expect(s.publicationTables).toBe(1);
    expect(s.confirmedFlushLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);

    // Dropping an active slot is refused, naming the slot and the PID.
    const busy = await runBinary(["slot", "drop", "--config", path]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(new RegExp(`slot ${cfg.slot} is in use by another process \\(PID \\d+\\)`));

    await running.source.stop();
    const text = await runBinary(["slot", "status", "--config", path]);
    expect(text.stdout).toMatch(/active\s+no/);
    const dropped = await runBinary(["slot", "drop", "--config", path]);
    expect(dropped.code).toBe(0);
    expect(dropped.stdout.trim()).toBe(`dropped replication slot ${cfg.slot}`);
    const [{ n }] = await db.sql`select count(*)::int as n from pg_replication_slots where slot_name = ${cfg.slot}`;
    expect(n).toBe(0);

    const bad = await runBinary(["slot", "frob", "--config", path]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("expected 'status' or 'drop'");
  } finally {
    await db.end();
  }
}, 180_000);
