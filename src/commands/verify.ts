import type { Command } from "./command.ts";
import { configPath, str } from "./command.ts";
import { loadConfig } from "../config/load.ts";
import { usageError } from "../errors.ts";
import { verifyConfig } from "../engine/verify.ts";
import { setLockWait } from "../engine/verify/lock-wait.ts";

/** Reconciliation: compare mirror pipelines' source and sink tables (postgres, sqlite, mysql sinks); exit 0 equal, 1 not (or a runtime failure, e.g. a table that stayed locked: one line on stderr). */
export const verifyCommand: Command = {
  name: "verify",
  summary: "compare mirrored tables in source and sink (row count + checksum per key range)",
  usage: [
    "cdc-engine verify --config FILE [--pipeline NAME] [--max-diffs N] [--chunk-rows N] [--wait SECONDS]",
    "  --config FILE      the YAML config (or $CDC_CONFIG)",
    "  --pipeline NAME    only this pipeline (default: every mirror pipeline; postgres, sqlite and mysql sinks)",
    "  --max-diffs N      differing keys to print per table (default 10)",
    "  --chunk-rows N     rows per compared key range (default 50000)",
    "  --wait SECONDS     how long the sink may take to reach the source's position (default 30)",
    "  --lock-timeout SECONDS  how long a read waits for a table another session has locked (default 30);",
    "                     then verify stops with one line naming the table, exit 1",
  ].join("\n"),
  options: {
    config: { type: "string", short: "c" },
    pipeline: { type: "string" },
    "max-diffs": { type: "string" },
    "chunk-rows": { type: "string" },
    wait: { type: "string" },
    "lock-timeout": { type: "string" },
  },
  async run(args) {
    const config = loadConfig(configPath(args, this));
    const num = (name: string, def: number) => {
      const v = str(args.values[name]);
      if (v === undefined) return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw usageError("usage", `--${name}: must be a whole number, got '${v}'`);
      return n;
    };
    const lockTimeout = num("lock-timeout", 30);
    if (lockTimeout < 1) throw usageError("usage", "--lock-timeout: must be at least 1 (seconds)");
    setLockWait(lockTimeout * 1000);
    const results = await verifyConfig(config, {
      pipeline: str(args.values.pipeline),
      maxDiffs: num("max-diffs", 10),
      chunkRows: Math.max(1, num("chunk-rows", 50_000)),
      waitMs: num("wait", 30) * 1000,
    });
    const head = ["pipeline", "sink", "table", "source rows", "sink rows", "result"];
    const rows = results.map((r) => [r.pipeline, r.sink, r.table === r.target ? r.table : `${r.table} → ${r.target}`, String(r.sourceRows), String(r.sinkRows), r.note?.startsWith("skipped") ? "skipped" : r.equal ? "equal" : "DIFFERENT"]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
    console.log(line(head));
    for (const r of rows) console.log(line(r));
    for (const r of results) {
      if (r.note) console.log(`${r.pipeline} ${r.table}: ${r.note}`);
      if (r.diffs.length) console.log(`${r.pipeline} ${r.table}: differing keys: ${r.diffs.join(" ")}`);
    }
    const bad = results.filter((r) => !r.equal).length;
    console.log(bad ? `${bad} table(s) differ` : `all ${results.length} table(s) equal`);
    return bad ? 1 : 0;
  },
};
