import type { Command } from "./command.ts";
import { positiveFlag, str } from "./command.ts";
import { runDemo } from "../demo/run-demo.ts";
import { parseListen } from "../api/server.ts";

/** Everything on one machine with nothing but this binary (and PostgreSQL binaries): see src/demo. */
export const demoCommand: Command = {
  name: "demo",
  summary: "embedded PostgreSQL + generator + all five scenarios into SQLite, with the dashboard",
  usage: [
    "cdc-engine demo [--listen HOST:PORT] [--dir DIR] [--rate N]",
    "  --listen HOST:PORT   API and dashboard (default 127.0.0.1:8080)",
    "  --dir DIR            where the SQLite warehouses and state go (default: a temp dir)",
    "  --rate N             generator rows per second across the datasets (default 200)",
    "  REDIS_URL, MYSQL_URL, WEBHOOK_URL in the environment add those outputs; CDC_PG_BIN points at PostgreSQL binaries",
  ].join("\n"),
  options: { listen: { type: "string" }, dir: { type: "string" }, rate: { type: "string" } },
  async run(args) {
    const rate = positiveFlag(args, "rate", 200);
    const listen = str(args.values.listen) ?? "127.0.0.1:8080";
    // Checked before PostgreSQL starts: a bad address was found only in the generated config,
    // after the server had started, and the message named that temp file instead of --listen.
    parseListen(listen, "--listen");
    return runDemo({ listen, dir: str(args.values.dir), rate, out: (l) => console.log(l) });
  },
};
