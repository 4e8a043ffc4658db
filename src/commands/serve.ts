import type { Command } from "./command.ts";
import { configPath, str } from "./command.ts";
import { loadConfig, configPermissionWarning } from "../config/load.ts";
import { createLogger, type Logger } from "../log.ts";
import { startRuntime } from "../engine/runtime.ts";
import { supervise } from "../engine/supervisor.ts";
import { startGcGovernor } from "../engine/gc-governor.ts";
import { createApp } from "../api/app.ts";
import { resolveApiToken } from "../api/admin.ts";
import { parseListen, startApiServer, type ApiServer } from "../api/server.ts";
import { CdcError, usageError } from "../errors.ts";
import type { Config } from "../config/schema.ts";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * Run the pipelines until SIGTERM/SIGINT/SIGHUP; then finish in-flight batches, checkpoint, exit 0.
 * A runtime that fails recoverably is restarted in-process (engine/supervisor.ts); the API stays up.
 */
export const serveCommand: Command = {
  name: "serve",
  summary: "run the pipelines of a config until stopped",
  usage: [
    "cdc-engine serve --config FILE [--listen HOST:PORT] [--log-level LEVEL] [--resnapshot]",
    "  --config FILE        the YAML config (or $CDC_CONFIG)",
    "  --listen HOST:PORT   API address (overrides api.listen)",
    "  --log-level LEVEL    trace|debug|info|warn|error|fatal|silent (overrides CDC_LOG_LEVEL and log.level)",
    "  --resnapshot         take a fresh snapshot when the slot was lost or is behind the checkpoint",
    "SIGTERM, SIGINT and SIGHUP stop it: in-flight batches finished, a final checkpoint, exit 0.",
    "A second Ctrl-C (SIGINT) exits at once with 130, without that checkpoint (a restart resumes from the last one).",
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
    const log = logger(str(args.values["log-level"]), config, path);
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
    // A CDC_API_TOKEN too short is a usage error before anything starts, like a bad address:
    // it was found only once the engine had connected, made its slot and started streaming.
    const token = config.api.enabled ? resolveApiToken(config.api.token) : undefined;
    startGcGovernor(config.state.gc_above, log);
    const configDir = dirname(resolve(path));
    // A recoverable failure (a sink lost a large transaction's open transaction) restarts the
    // runtime here, from the last checkpoint; a restart resumes, it never re-snapshots.
    const runtime = await supervise({ log, start: (restart) => startRuntime(config, log, { resnapshot: !restart && args.values.resnapshot === true, configDir }) }).catch((e) => {
      throw operatorDecision(e);
    });
    let api: ApiServer | null = null;
    try {
      api = config.api.enabled ? startApiServer(createApp({ components: () => runtime.components(), runtime, token, log: log.child({ component: "api" }) }), listen, log) : null;
    } catch (e) {
      // The engine is already streaming: stop it as a signal would (final checkpoint), then say why.
      log.info("stopping: the API cannot start");
      await runtime.stop();
      log.info("stopped");
      throw e;
    }
    if (api) log.info({ url: api.url }, "api listening");

    let stopping = false;
    let stopped: Promise<void> | null = null;
    const stopGracefully = async (signal: string) => {
      stopping = true;
      const again = signal === "SIGINT" ? " (Ctrl-C again to exit at once, without it)" : "";
      log.info({ signal }, `stopping on ${signal}: finishing in-flight batches and taking a final checkpoint${again}`);
      await runtime.stop();
      await api?.stop();
      log.info("stopped");
    };
    // SIGHUP (the terminal or SSH session went away) stops like SIGTERM: its default killed the
    // process with no final checkpoint. There is no reload. A repeated SIGTERM/SIGHUP (systemd,
    // docker stop) waits for the stop under way; a second Ctrl-C is a person who wants out now:
    // exit 130 without the final checkpoint, which is safe (sinks and the slot replay from the last one).
    const onSignal = (signal: NodeJS.Signals) => {
      if (!stopped) {
        stopped = stopGracefully(signal);
        void stopped.then(() => process.exit(0));
      } else if (signal === "SIGINT") {
        log.warn({ signal }, "second SIGINT: exiting now with 130, without the final checkpoint; the next start resumes from the last checkpoint");
        process.exit(130);
      } else log.info({ signal }, `${signal}: a stop is already in progress (finishing in-flight batches and the final checkpoint)`);
    };
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => onSignal(signal));
    const failure = await runtime.done;
    if (failure && !stopping) {
      await api?.stop();
      throw operatorDecision(failure);
    }
    // runtime.done resolves inside runtime.stop(): let the signal handler finish (API closed, "stopped" logged) before the CLI exits.
    await stopped;
    return 0;
  },
};

/** The logger, with a bad level named by where it came from (the flag, the env or the file). */
function logger(levelFlag: string | undefined, config: Config, path: string): Logger {
  try {
    return createLogger({ levelFlag, level: config.log.level, format: config.log.format });
  } catch (e) {
    if (!(e instanceof CdcError) || e.code !== "log_level") throw e;
    const from = levelFlag !== undefined ? "--log-level" : process.env.CDC_LOG_LEVEL ? "CDC_LOG_LEVEL" : `${path}: log.level`;
    throw usageError("log_level", `${from}: ${e.message}`);
  }
}

/**
 * Lost changes (a slot dropped or invalidated, a COMMIT PREPARED without its PREPARE) wait for the
 * operator's --resnapshot: no restart changes them, so they exit 2 as a config error does (the
 * unit's RestartPreventExitStatus=2) instead of 1, which systemd restarted ten times for nothing.
 */
function operatorDecision(e: unknown): unknown {
  if (!(e instanceof CdcError) || e.kind === "usage" || !LOST.has(e.code)) return e;
  return new CdcError(e.code, e.message, { kind: "usage", cause: e.cause });
}
const LOST = new Set(["slot_lost", "prepared_lost"]);
