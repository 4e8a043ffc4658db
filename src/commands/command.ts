import { parseArgs, type ParseArgsConfig } from "node:util";
import { usageError } from "../errors.ts";

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

export interface CommandArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** A subcommand: its usage text, its flags (parsed strictly) and what it does. Returns the exit code. */
export interface Command {
  name: string;
  summary: string;
  /** First line: `cdc-engine NAME ...`; more lines describe the flags. */
  usage: string;
  options: OptionSpec;
  positionals?: boolean;
  run(args: CommandArgs): Promise<number>;
}

export function parseCommandArgs(cmd: Command, argv: string[]): CommandArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...cmd.options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: cmd.positionals ?? false,
    });
    return { values: values as CommandArgs["values"], positionals };
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0].replace(/\. To specify a positional.*$/, "");
    throw usageError("usage", `${msg}\nusage: ${cmd.usage.split("\n")[0]}`);
  }
}

export function str(v: CommandArgs["values"][string]): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** `--config FILE`, else $CDC_CONFIG. */
export function configPath(args: CommandArgs, cmd: Command): string {
  const p = str(args.values.config) ?? process.env.CDC_CONFIG;
  if (!p) throw usageError("usage", `missing --config FILE\nusage: ${cmd.usage.split("\n")[0]}`);
  return p;
}
