/**
 * Backfill of a pipeline added to a deployment that already streams (what Debezium's incremental
 * snapshots and Flink CDC's newly added tables give). A pipeline is new when the engine resumes
 * from a checkpoint that holds no state of it and none of its sinks holds a position of it. With
 * `source.snapshot: initial`, its tables are read for it alone in a temporary slot's snapshot
 * taken at S (src/source/postgres/backfill-read.ts) before the stream goes on, and it skips the
 * stream's transactions below S (the read holds them); the other pipelines see none of it.
 *
 * `backfill.json` in the state dir names the pipelines whose backfill is not yet in a stored
 * checkpoint (`pending`: a crash or stop before then reads their tables again whole at the next
 * start, with their operator state started empty; their sinks get upserts of the same keys), and
 * those that have their rows (`done`: the ones of the first start, which the slot's snapshot
 * fed, and each finished backfill), so a pipeline whose sink keeps no position until it writes
 * (a filter that matched nothing yet, into Redis) is not read again at every start.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import type { Lsn } from "../types.ts";
import type { Checkpoint } from "./checkpoint-store.ts";
import { qualify, targetsOf } from "./pipeline-runner.ts";
import type { PipelineState } from "./pipeline-state.ts";

/** Sinks that hold a pipeline's output as tables, where a truncate clears its copy. */
const TABLE_SINKS = new Set(["postgres", "mysql", "sqlite"]);

export class Backfills {
  private file: string;
  /** Pipelines whose backfill started and is not in a stored checkpoint yet. */
  readonly marked: Set<string>;
  private done: Set<string>;
  /**
   * Each pending backfill's name for its rows' identities (Txn.snapshotOf, record-identity.ts):
   * the checkpoint LSN it was first chosen at, kept across the reads again after a crash. Named by
   * each read's own snapshot LSN, a row read again unchanged got a new Idempotency-Key and a new
   * Redis stream entry (QA: 24,698 of 30,762 rows twice at a webhook after 4 kills mid-backfill).
   */
  private names: Map<string, Lsn>;

  constructor(stateDir: string) {
    this.file = join(stateDir, "backfill.json");
    const saved = (existsSync(this.file) ? JSON.parse(readFileSync(this.file, "utf8")) : {}) as { pending?: string[]; done?: string[]; names?: Record<string, string> };
    this.marked = new Set(saved.pending ?? []);
    this.done = new Set(saved.done ?? []);
    this.names = new Map(Object.entries(saved.names ?? {}).map(([p, l]) => [p, BigInt(l) as Lsn]));
  }

  /**
   * Picks the new pipelines, marks them (before the source reads anything) and sets their
   * `backfill`; returns the tables the source reads for them. A new pipeline that cannot be
   * backfilled (snapshot: never, paused, a sink that keeps no position) is logged as before.
   */
  choose(config: Config, checkpoint: Checkpoint | null, pipelines: PipelineState[], log: Logger): string[] {
    const tables: string[] = [];
    const chosen: string[] = [];
    if (!checkpoint) {
      // A first start: the slot's snapshot feeds every pipeline there is.
      this.marked.clear();
      for (const p of config.pipelines) this.done.add(p.name);
      this.save();
      return [];
    }
    config.pipelines.forEach((p, i) => {
      const ps = pipelines[i];
      const isNew = this.marked.has(p.name) || (!this.done.has(p.name) && !checkpoint.state[p.name] && ps.writers.every((w) => w.startPosition === null));
      if (!isNew) return;
      const positionless = targetsOf(p).some((t) => config.sinks[t.sink]?.type === "stdout");
      if (p.paused || config.source.snapshot !== "initial" || positionless) {
        const why = p.paused ? "it is paused" : positionless ? "a stdout sink keeps no position" : "source.snapshot is never";
        log.warn({ pipeline: p.name, from: p.from }, `pipeline '${p.name}' has no position in its sinks while the engine resumes from a checkpoint: if it is new, rows already in its tables are not copied (${why}), only changes from now on`);
        return;
      }
      if (!this.marked.has(p.name) || !this.names.has(p.name)) this.names.set(p.name, checkpoint.lsn);
      // Read again after a cut: a row the first read copied and the source deleted before this
      // read stayed in the sink (QA: 40 rows after a SIGTERM mid-backfill). Tables are cleared
      // first; a change log (webhook, stream) is not: its receiver would drop the rows sent again.
      const again = this.marked.has(p.name) && targetsOf(p).every((t) => TABLE_SINKS.has(config.sinks[t.sink]?.type ?? ""));
      ps.backfill = { since: null, ended: false, missed: false, name: this.names.get(p.name)!, ...(again ? { again } : {}) };
      chosen.push(p.name);
      tables.push(...(Array.isArray(p.from) ? p.from : [p.from]).map(qualify), ...(ps.runner.extraTables ?? []));
    });
    for (const n of [...this.marked]) if (!chosen.includes(n)) this.marked.delete(n);
    for (const n of [...this.names.keys()]) if (!chosen.includes(n)) this.names.delete(n);
    for (const n of chosen) this.marked.add(n);
    this.save();
    if (chosen.length) log.info({ pipelines: chosen }, `new pipeline(s) ${chosen.map((n) => `'${n}'`).join(", ")}: their tables are read for them alone (backfill) before the stream goes on`);
    return [...new Set(tables)];
  }

  /** These pipelines' backfill is in a stored checkpoint. */
  clear(names: string[]): void {
    for (const n of names) {
      this.marked.delete(n);
      this.names.delete(n);
      this.done.add(n);
    }
    this.save();
  }

  private save(): void {
    const tmp = `${this.file}.tmp`;
    const names = Object.fromEntries([...this.names].map(([p, l]) => [p, l.toString()]));
    writeFileSync(tmp, JSON.stringify({ pending: [...this.marked], done: [...this.done], names }) + "\n");
    renameSync(tmp, this.file);
  }
}
