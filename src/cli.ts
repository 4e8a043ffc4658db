#!/usr/bin/env bun
import { commands } from "./commands/index.ts";
import { parseCommandArgs } from "./commands/command.ts";
import { CdcError, isUsageError, errorMessage } from "./errors.ts";
import { VERSION, GIT_COMMIT } from "./version.ts";
import { redactString } from "./api/redact.ts";

const USAGE = "usage: cdc-engine <command> [flags]   (cdc-engine --help lists the commands)";

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `cdc-engine ${VERSION}: Postgres change-data-capture and streaming ETL in one executable`,
    "",
    "usage: cdc-engine <command> [flags]",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "  cdc-engine <command> --help   flags of one command",
    "  cdc-engine --version          version and git commit",
    "",
    "exit codes:",
    "  0    ok (serve: stopped by SIGTERM, SIGINT or SIGHUP after its final checkpoint)",
    "  1    runtime failure: a restart may help (a server down, the API port in use)",
    "  2    usage or config error, or changes lost (serve --resnapshot decides): a restart will not help",
    "  70   serve: an error no code path could catch; a restart resumes from the last checkpoint",
    "  130  serve: a second Ctrl-C ended it without its final checkpoint",
  ].join("\n");
}

function unexpected(arg: string): number {
  console.error(`cdc-engine: unexpected argument '${arg}'\n${USAGE}`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    // `help serve` is `serve --help`; anything else after --help is a mistake, as after --version.
    const cmd = rest.length === 1 ? commands.find((c) => c.name === rest[0]) : undefined;
    if (cmd) {
      console.log(cmd.usage);
      return 0;
    }
    // `help serve extra` blamed 'serve', the part that was right
    if (rest.length) return unexpected(commands.some((c) => c.name === rest[0]) ? rest[1] : rest[0]);
    console.log(help());
    return first === undefined ? 2 : 0;
  }
  if (first === "--version" || first === "-V" || first === "version") {
    if (rest.length) return unexpected(rest[0]);
    console.log(`cdc-engine ${VERSION} (${GIT_COMMIT})`);
    return 0;
  }
  const cmd = commands.find((c) => c.name === first);
  if (!cmd) {
    console.error(`cdc-engine: unknown ${first.startsWith("-") ? "flag" : "command"} '${first}'\n${USAGE}`);
    return 2;
  }
  try {
    const args = parseCommandArgs(cmd, rest);
    if (args.values.help) {
      console.log(cmd.usage);
      return 0;
    }
    return await cmd.run(args);
  } catch (e) {
    if (isUsageError(e)) {
      console.error(`cdc-engine: ${redactString(e.message)}`);
      return 2;
    }
    console.error(`cdc-engine: ${redactString(errorMessage(e))}`);
    if (process.env.CDC_DEBUG && e instanceof Error) console.error(redactString(e.stack ?? ""));
    return e instanceof CdcError && e.kind === "usage" ? 2 : 1;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  // serve keeps the process alive through its own handles; the others end here.
  process.exit(code);
}
