import { insertsPublication } from "../source/postgres/inserts-publication.ts";
import type { Command } from "./command.ts";
import { configPath } from "./command.ts";
import { loadConfig } from "../config/load.ts";
import { usageError } from "../errors.ts";
import { redactUrl } from "../db/postgres-client.ts";
import { formatLsn } from "../types.ts";
import { openSourcePg } from "../source/postgres/connections.ts";
import { dropSlot, getSlot } from "../source/postgres/slot.ts";

/** Inspect or drop the source's replication slot (the one in source.slot). */
export const slotCommand: Command = {
  name: "slot",
  summary: "show or drop the source's replication slot",
  usage: [
    "cdc-engine slot status|drop --config FILE [--json]",
    "  status          slot position, lag and WAL retained behind it",
    "  drop            drop the slot (stop the engine first; the next start needs --resnapshot)",
    "  --config FILE   the YAML config (or $CDC_CONFIG)",
    "  --json          status as JSON",
  ].join("\n"),
  options: { config: { type: "string", short: "c" }, json: { type: "boolean" } },
  positionals: true,
  async run(args) {
    const action = args.positionals[0];
    if (action !== "status" && action !== "drop") throw usageError("usage", `expected 'status' or 'drop'\nusage: ${this.usage.split("\n")[0]}`);
    if (args.positionals.length > 1) throw usageError("usage", `unexpected argument '${args.positionals[1]}'\nusage: ${this.usage.split("\n")[0]}`);
    const config = loadConfig(configPath(args, this));
    const name = config.source.slot;
    const sql = openSourcePg(config.source, 1);
    try {
      if (action === "drop") {
        const dropped = await dropSlot(sql, name);
        console.log(dropped ? `dropped replication slot ${name}` : `replication slot ${name} does not exist`);
        return 0;
      }
      const s = await getSlot(sql, name);
      const inserts = insertsPublication(config.source.publication);
      const [pub] = await sql`select count(*) filter (where pubname = ${config.source.publication})::int as n, count(*) filter (where pubname = ${inserts})::int as i from pg_publication_tables where pubname in (${config.source.publication}, ${inserts})`;
      if (args.values.json) {
        console.log(JSON.stringify(s ? { ...s, confirmedFlushLsn: s.confirmedFlushLsn === null ? null : formatLsn(s.confirmedFlushLsn), restartLsn: s.restartLsn === null ? null : formatLsn(s.restartLsn), publicationTables: pub.n, insertsOnlyTables: pub.i } : { name, exists: false }));
        return s ? 0 : 1;
      }
      if (!s) {
        console.log(`replication slot ${name} does not exist at ${redactUrl(config.source.url)} (created on the first serve)`);
        return 1;
      }
      const lines: [string, string][] = [
        ["slot", `${s.name} (${s.plugin}, database ${s.database})`],
        ["active", s.active ? `yes, PID ${s.activePid}` : "no"],
        ["confirmed_flush_lsn", s.confirmedFlushLsn === null ? "-" : formatLsn(s.confirmedFlushLsn)],
        ["restart_lsn", s.restartLsn === null ? "-" : formatLsn(s.restartLsn)],
        ["lag", s.lagBytes === null ? "-" : `${bytes(s.lagBytes)} behind the current WAL position`],
        ["wal retained", s.retainedBytes === null ? "-" : `${bytes(s.retainedBytes)}${s.maxKeepBytes ? ` of max_slot_wal_keep_size ${bytes(s.maxKeepBytes)}` : ""}`],
        ["wal_status", s.walStatus ?? "-"],
        ["publication", `${config.source.publication} (${pub.n} table(s))${pub.i ? `, ${inserts} (${pub.i} table(s) without a row identity: inserts and truncates only)` : ""}`],
      ];
      if (s.failover !== null) lines.push(["failover", s.failover ? "yes" : "no"]);
      for (const [k, v] of lines) console.log(`${k.padEnd(20)} ${v}`);
      return 0;
    } finally {
      await sql.end({ timeout: 2 });
    }
  },
};

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) (v /= 1024), i++;
  return `${v.toFixed(1)} ${u[i]}`;
}
