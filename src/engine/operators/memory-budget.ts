import { readFileSync } from "node:fs";
import { totalmem } from "node:os";
import type { PipelineConfig } from "../../config/pipeline-schema.ts";

/** A pipeline's share is never below this (many pipelines on a small budget). */
const MIN_SHARE = 8 * 1024 * 1024;

/** The host's memory: physical RAM, or the container's cgroup limit when lower. */
export function hostMemory(): number {
  let mem = totalmem();
  for (const f of ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]) {
    try {
      const v = Number(readFileSync(f, "utf8").trim()); // "max" → NaN
      if (Number.isFinite(v) && v > 0 && v < mem) mem = v;
    } catch {
      /* no cgroup file */
    }
  }
  return mem;
}

/** Pipelines that keep operator state: aggregates (windows, GROUP BY) or lookup joins. */
function stateful(p: PipelineConfig): boolean {
  return Boolean(p.aggregate) || Boolean(p.join && p.join.length);
}

/**
 * Each pipeline's state budget in bytes (null: unbounded). A pipeline's own `state_budget` wins;
 * the stateful pipelines without one share what `state.memory_budget` leaves equally ("auto": a
 * quarter of the host's memory; 0: no bound for them).
 */
export function stateBudgetOf(p: PipelineConfig, all: PipelineConfig[], memoryBudget: number | "auto" | undefined): number | null {
  if (p.state_budget !== undefined) return p.state_budget;
  if (!stateful(p)) return null;
  const total = memoryBudget === undefined ? 0 : memoryBudget === "auto" ? Math.floor(hostMemory() / 4) : memoryBudget;
  if (total <= 0) return null;
  const others = all.filter(stateful);
  const explicit = others.reduce((n, q) => n + (q.state_budget ?? 0), 0);
  const sharing = others.filter((q) => q.state_budget === undefined).length || 1;
  return Math.max(MIN_SHARE, Math.floor(Math.max(0, total - explicit) / sharing));
}
