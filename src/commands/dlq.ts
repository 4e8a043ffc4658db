import type { Command } from "./command.ts";
import { configPath, str } from "./command.ts";
import { loadConfig } from "../config/load.ts";
import { usageError } from "../errors.ts";
import { DlqStore, rowText } from "../dlq/store.ts";
import { replayDeadLetters } from "../dlq/replay.ts";
import { redactString } from "../api/redact.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { formatLsn } from "../types.ts";
import { stateDirInUse } from "../engine/state-lock.ts";

const USAGE = [
  "cdc-engine dlq list|replay|purge --config FILE [--pipeline P] [--limit N] [--json]",
  "  list     show dead letters (oldest first)",
  "  replay   send them again to the sink that rejected them; removed on success",
  "  purge    delete them",
  "  --config FILE   the YAML config (or $CDC_CONFIG); the DLQ is state.dir/dlq.sqlite",
  "  --pipeline P    only this pipeline",
  "  --limit N       at most N entries (list, replay)",
  "  --json          list as JSON lines",
].join("\n");

/** Manage the dead-letter queue kept under state.dir. */
export const dlqCommand: Command = {
  name: "dlq",
  summary: "list, replay or purge rows in the dead-letter queue",
  usage: USAGE,
  positionals: true,
  options: {
    config: { type: "string", short: "c" },
    pipeline: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
  },
  async run(args) {
    const action = args.positionals[0];
    if (!action || !["list", "replay", "purge"].includes(action) || args.positionals.length > 1) {
      throw usageError("usage", `dlq: expected one of list, replay, purge\nusage: ${USAGE.split("\n")[0]}`);
    }
    const limitText = str(args.values.limit);
    if (limitText !== undefined && !/^[1-9]\d*$/.test(limitText)) throw usageError("usage", `--limit: expected a positive integer, got '${limitText}'`);
    const limit = limitText === undefined ? undefined : Number(limitText);
    const config = loadConfig(configPath(args, this));
    const pipeline = str(args.values.pipeline);
    if (pipeline !== undefined && !config.pipelines.some((p) => p.name === pipeline)) {
      throw usageError("usage", `--pipeline: no pipeline '${pipeline}' in ${config.file}`);
    }
    // The CLI's own writes would race the engine's position writes (README): the endpoint is the way then.
    const busy = action === "replay" ? stateDirInUse(config.state.dir) : null;
    if (busy) throw usageError("usage", `dlq replay: state.dir ${config.state.dir} is ${busy}: replay through it with POST /admin/dlq/replay, or stop it first`);
    // A wrong state dir (an unset CDC_STATE_DIR, another working directory) made an empty queue
    // there and said "0 of 0" while the real one held entries.
    const file = join(config.state.dir, "dlq.sqlite");
    if (!existsSync(file)) throw usageError("config_state", `${config.file}: no dead-letter queue at ${file} (state.dir): cdc-engine has not run with this state dir; check state.dir (or the variable it reads) and the working directory`);
    const store = new DlqStore(config.state.dir);
    try {
      if (action === "list") {
        const entries = store.list({ pipeline, limit });
        for (const e of entries) {
          if (args.values.json) {
            const stale = e.supersededLsn === null ? "" : `,"superseded_lsn":"${formatLsn(e.supersededLsn)}"`;
            const cut = e.replayCut ? `,"replay_cut":true` : "";
            console.log(`{"id":${e.id},"pipeline":${JSON.stringify(e.pipeline)},"stage":${JSON.stringify(e.stage)},"table":${JSON.stringify(e.table)},"lsn":"${formatLsn(e.lsn)}","created_at":"${e.createdAt}","error":${JSON.stringify(redactString(e.error))},"row":${rowText(e)}${stale}${cut}}`);
          } else {
            const stale = e.supersededLsn === null ? (e.replayCut ? " (a replay of it was cut off: replay holds it back, see the README)" : "") : ` (superseded at ${formatLsn(e.supersededLsn)}: replay drops it)`;
            console.log(`#${e.id} ${e.createdAt} ${e.pipeline} -> ${e.stage} ${e.table} lsn=${formatLsn(e.lsn)}${stale}: ${redactString(e.error)}\n    ${rowText(e)}`);
          }
        }
        if (!args.values.json) console.log(`${entries.length} of ${store.count(pipeline)} dead letter(s)`);
        return 0;
      }
      if (action === "purge") {
        console.log(`purged ${store.purge({ pipeline })} dead letter(s)`);
        return 0;
      }
      const r = await replayDeadLetters(config, store, store.list({ pipeline, limit }));
      // A sink error can quote its connection URL: masked like every log line.
      for (const f of r.failed) console.log(`#${f.id} still rejected: ${redactString(f.error)}`);
      for (const s of r.skipped) console.log(`#${s.id} skipped: ${s.reason}`);
      for (const s of r.superseded) console.log(`#${s.id} superseded: the sink got a newer change of the same key at ${formatLsn(s.lsn)}; removed, not written`);
      console.log(`replayed ${r.replayed}, superseded ${r.superseded.length}, still failing ${r.failed.length}, skipped ${r.skipped.length}`);
      return r.failed.length > 0 ? 1 : 0;
    } finally {
      store.close();
    }
  },
};
