import type { Command } from "./command.ts";
import { configPath, intFlag, str } from "./command.ts";
import { loadConfig } from "../config/load.ts";
import { verifyConfig } from "../engine/verify.ts";

/** Reconciliation: compare mirror pipelines' source and sink tables (postgres, sqlite, mysql sinks); exit 0 equal, 1 not (a table differs or stayed locked, or a runtime failure). */
export const verifyCommand: Command = {
  name: "verify",
  summary: "compare mirrored tables in source and sink (row count + checksum per key range)",
  usage: [
    "cdc-engine verify --config FILE [--pipeline NAME] [--max-diffs N] [--chunk-rows N] [--wait SECONDS]",
    "  --config FILE      the YAML config (or $CDC_CONFIG)",
    "  --pipeline NAME    only this pipeline (default: every mirror pipeline; postgres, sqlite and mysql sinks)",
    "  --max-diffs N      differing keys to print per table (default 10; 0 prints none)",
    "  --chunk-rows N     rows per compared key range, at least 1 (default 50000)",
    "  --wait SECONDS     how long the sinks may take in all to reach the source's position (default 30; 0 compares at once)",
    "  --lock-timeout SECONDS  how long a read waits for a table another session has locked, at least 1 (default 30);",
    "                     then that table is reported 'locked, not compared' (exit 1) and the others are compared",
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
    // 0 keys to print and no wait are meaningful; 0 rows per range or 0 s lock wait are not.
    const opts = {
      pipeline: str(args.values.pipeline),
      maxDiffs: intFlag(args, "max-diffs", 10, 0),
      chunkRows: intFlag(args, "chunk-rows", 50_000),
      waitMs: intFlag(args, "wait", 30, 0) * 1000,
      lockTimeoutMs: intFlag(args, "lock-timeout", 30) * 1000,
    };
    const results = await verifyConfig(loadConfig(configPath(args, this)), opts);
    const head = ["pipeline", "sink", "table", "source rows", "sink rows", "result"];
    const counts = (r: (typeof results)[number], n: number) => (r.locked ? "-" : String(n));
    const rows = results.map((r) => [r.pipeline, r.sink, r.table === r.target ? r.table : `${r.table} → ${r.target}`, counts(r, r.sourceRows), counts(r, r.sinkRows), r.locked ? "LOCKED" : r.note?.startsWith("skipped") ? "skipped" : r.equal ? "equal" : "DIFFERENT"]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
    console.log(line(head));
    for (const r of rows) console.log(line(r));
    for (const r of results) {
      if (r.note) console.log(`${r.pipeline} ${r.table}: ${r.note}`);
      if (r.diffs.length) console.log(`${r.pipeline} ${r.table}: differing keys: ${r.diffs.join(" ")}`);
    }
    // A locked table is not a difference: said apart in the summary (the exit code is 1 for both).
    const bad = results.filter((r) => !r.equal && !r.locked).length;
    const locked = results.filter((r) => r.locked).length;
    const summary = [bad ? `${bad} table(s) differ` : "", locked ? `${locked} table(s) locked, not compared (try again later)` : ""].filter(Boolean);
    console.log(summary.length ? summary.join("; ") : `all ${results.length} table(s) equal`);
    return bad || locked ? 1 : 0;
  },
};
