import type { Command } from "./command.ts";
import { configPath } from "./command.ts";
import { loadConfig } from "../config/load.ts";
import { sinkFactory } from "../sinks/index.ts";
import { checkSource, sourceRelations } from "../source/postgres/check.ts";
import { errorMessage, isUsageError } from "../errors.ts";
import { createRunner } from "../engine/create-runner.ts";
import { isMirror } from "../engine/operators/index.ts";
import { mirrorColumnCheck } from "../config/target-columns.ts";
import { dirname, resolve } from "node:path";

/** Validate the config and connect to every source and sink: one line per component. */
export const checkCommand: Command = {
  name: "check",
  summary: "validate a config and connect to its source and every sink",
  usage: "cdc-engine check --config FILE\n  --config FILE   the YAML config (or $CDC_CONFIG)",
  options: { config: { type: "string", short: "c" } },
  async run(args) {
    const path = configPath(args, this);
    const config = loadConfig(path);
    // Every table a pipeline reads, lookup-join tables included: a missing one is named by check, not first by serve.
    const tables = [...new Set(config.pipelines.flatMap((p) => [...(Array.isArray(p.from) ? p.from : [p.from]), ...(p.join ?? []).map((j) => j.table)]))];
    const source = checkSource(config.source, tables);
    // Expressions compile against the tables' real columns, as at serve (when the source answers).
    const relations = source.then(() => sourceRelations(config.source, tables)).catch(() => undefined);
    const checks: [string, () => Promise<string>][] = [["source", () => source]];
    // Compiling a pipeline loads its transform module and maps: a module that throws at load or is async fails here as it would in serve.
    const configDir = dirname(resolve(path));
    for (const p of config.pipelines) {
      // A mirror compiles nothing; its tables' columns are still checked against what its targets name (Redis key templates).
      if (isMirror(p) && !mirrorColumnCheck(p, config)) continue;
      checks.push([`pipeline:${p.name}`, async () => {
        const rels = await relations;
        await createRunner(p, config, { configDir, reject: () => {}, relations: rels });
        if (isMirror(p)) return rels ? "its tables have the columns its targets name" : "not checked (the source did not answer)";
        // Without the source, names are checked leniently: say so, as "ok … compiles" read as checked.
        return rels ? "compiles" : "compiles (not checked against the tables' columns: the source did not answer)";
      }]);
    }
    for (const sink of Object.values(config.sinks)) {
      const factory = sinkFactory(sink.type)!;
      checks.push([`sink:${sink.name}`, () => factory.check(sink.options)]);
    }
    const results = await Promise.all(
      checks.map(async ([name, fn]) => {
        try {
          return { name, ok: true, usage: false, text: await withTimeout(fn(), 15_000) };
        } catch (e) {
          return { name, ok: false, usage: isUsageError(e), text: errorMessage(e).replace(/^\[[^\]]+\] /, "") };
        }
      }),
    );
    for (const r of results) console.log(`${r.ok ? "ok  " : "FAIL"} ${r.name.padEnd(20)} ${r.text}`);
    console.log(`config ${config.file}: ${config.pipelines.length} pipeline(s), ${Object.keys(config.sinks).length} sink(s)`);
    // A mistake in the config (a table that does not exist) is exit 2, as it is for serve.
    return results.every((r) => r.ok) ? 0 : results.some((r) => r.usage) ? 2 : 1;
  },
};

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms / 1000}s`)), ms).unref())]);
}
