import type { Command } from "./command.ts";
import { configPath, str } from "./command.ts";
import { loadConfig, configPermissionWarning } from "../config/load.ts";
import { createLogger } from "../log.ts";
import { startRuntime } from "../engine/runtime.ts";
import { supervise } from "../engine/supervisor.ts";
import { startGcGovernor } from "../engine/gc-governor.ts";
import { createApp } from "../api/app.ts";
import { resolveApiToken } from "../api/admin.ts";
import { parseListen, startApiServer } from "../api/server.ts";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * Run the pipelines until SIGINT/SIGTERM; then finish in-flight batches, checkpoint, exit 0.
 * A runtime that fails recoverably is restarted in-process (engine/supervisor.ts); the API stays up.
 */
export const serveCommand: Command = {
  name: "serve",
  summary: "run the pipelines of a config until stopped",
  usage: [
    "cdc-engine serve --config FILE [--listen HOST:PORT] [--log-level LEVEL] [--resnapshot]",
    "  --config FILE        the YAML config (or $CDC_CONFIG)",
    "  --listen HOST:PORT   API address (overrides api.listen)",
    "  --log-level LEVEL    trace|debug|info|warn|error (overrides log.level)",
    "  --resnapshot         take a fresh snapshot when the slot was lost or is behind the checkpoint",
  ].join("\n"),
  options: {
    config: { type: "string", short: "c" },
    listen: { type: "string" },
    "log-level": { type: "string" },
    resnapshot: { type: "boolean" },
  },
  async run(args) {
    const path = configPath(args, this);
    const config = loadConfig(path);
    // Precedence: flags > env > file > defaults.
    const listen = str(args.values.listen) ?? process.env.CDC_API_LISTEN ?? config.api.listen;
    const log = createLogger({ levelFlag: str(args.values["log-level"]), level: config.log.level, format: config.log.format });
    // A throw no caller can catch (a library's timer or socket callback, a transform module's own
    // timer) ends the process: said as one fatal log line with the error, exit 70, so systemd
    // (Restart=on-failure) starts it again and it resumes exactly-once from the last checkpoint.
    const fatal = (what: string) => (e: unknown) => {
      log.fatal({ err: e }, `${what}: exiting with 70; a restart resumes from the last checkpoint`);
      process.exit(70);
    };
    process.on("uncaughtException", fatal("uncaught exception"));
    process.on("unhandledRejection", fatal("unhandled promise rejection"));
    const warn = configPermissionWarning(path, readFileSync(path, "utf8"));
    if (warn) log.warn(warn);

    if (config.api.enabled) parseListen(listen);
    startGcGovernor(config.state.gc_above, log);
    const configDir = dirname(resolve(path));
    // A recoverable failure (a sink lost a large transaction's open transaction) restarts the
    // runtime here, from the last checkpoint; a restart resumes, it never re-snapshots.
    const runtime = await supervise({ log, start: (restart) => startRuntime(config, log, { resnapshot: !restart && args.values.resnapshot === true, configDir }) });
    const api = config.api.enabled ? startApiServer(createApp({ components: () => runtime.components(), runtime, token: resolveApiToken(config.api.token), log: log.child({ component: "api" }) }), listen, log) : null;
    if (api) log.info({ url: api.url }, "api listening");

    let stopping = false;
    let stopped: Promise<void> | null = null;
    const stop = (signal: string) => (stopped ??= stopGracefully(signal));
    const stopGracefully = async (signal: string) => {
      stopping = true;
      log.info({ signal }, "stopping: finishing in-flight batches and taking a final checkpoint");
      await runtime.stop();
      await api?.stop();
      log.info("stopped");
    };
    process.on("SIGINT", () => void stop("SIGINT").then(() => process.exit(0)));
    process.on("SIGTERM", () => void stop("SIGTERM").then(() => process.exit(0)));
    const failure = await runtime.done;
    if (failure && !stopping) {
      await api?.stop();
      throw failure;
    }
    // runtime.done resolves inside runtime.stop(): let the signal handler finish (API closed, "stopped" logged) before the CLI exits.
    await stopped;
    return 0;
  },
};
