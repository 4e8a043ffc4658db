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
      args: joinNegativeValues(cmd.options, argv),
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

/**
 * `--chunk-rows -1` becomes `--chunk-rows=-1`: node's parseArgs calls a value that starts with a
 * dash "ambiguous", which hid the real problem; the flag's own check then names it.
 */
function joinNegativeValues(options: OptionSpec, argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return [...out, ...argv.slice(i)];
    const name = a.startsWith("--") ? a.slice(2) : /^-\w$/.test(a) ? Object.keys(options).find((k) => options[k].short === a[1]) : undefined;
    if (name && options[name]?.type === "string" && /^-\.?\d/.test(argv[i + 1] ?? "")) {
      out.push(`--${name}=${argv[++i]}`);
    } else out.push(a);
  }
  return out;
}

/** What a whole-number flag takes, said the same way by every command. */
function expectation(min: number): string {
  return min === 1 ? "a positive integer" : min === 0 ? "a whole number (0 or more)" : `a whole number of at least ${min}`;
}

/** A whole-number flag of at least `min` (default 1), or `def` when absent; anything else is exit 2. */
export function intFlag(args: CommandArgs, name: string, def: number, min = 1): number {
  const v = str(args.values[name]);
  if (v === undefined) return def;
  const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw intFlagError(name, v, min);
  return n;
}

/** The same refusal for a flag whose value was parsed elsewhere (generate's counts take 10k, 1_000). */
export function intFlagError(name: string, value: string, min: number): Error {
  return usageError("usage", `--${name}: expected ${expectation(min)}, got '${value}'`);
}

/** A number flag greater than 0 (fractions allowed), or `def` when absent. */
export function positiveFlag(args: CommandArgs, name: string, def: number): number {
  const v = str(args.values[name]);
  if (v === undefined) return def;
  const n = v.trim() === "" ? NaN : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw usageError("usage", `--${name}: expected a positive number, got '${v}'`);
  return n;
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
