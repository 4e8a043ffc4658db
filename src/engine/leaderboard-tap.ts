import type { PipelineConfig } from "../config/pipeline-schema.ts";
import type { OutputRecord } from "../sinks/sink.ts";
import type { LeaderboardEntry } from "./runtime-types.ts";
import { targetsOf } from "./pipeline-runner.ts";

export interface LeaderboardSpec {
  pipeline: string;
  member: string;
  score: string;
  label?: string;
  top: number;
}

/**
 * The pipeline the dashboard shows as a leaderboard: the one with `leaderboard:` in its config,
 * else the first whose target is a Redis sorted set (its `member` and `score` columns).
 */
export function leaderboardSpec(pipelines: PipelineConfig[]): LeaderboardSpec | null {
  for (const p of pipelines) if (p.leaderboard) return { pipeline: p.name, ...p.leaderboard };
  for (const p of pipelines) {
    for (const t of targetsOf(p)) {
      const o = t.options as { type?: unknown; member?: unknown; score?: unknown };
      if (o.type === "zset" && typeof o.member === "string" && typeof o.score === "string") return { pipeline: p.name, member: o.member, score: o.score, top: 10 };
    }
  }
  return null;
}

/**
 * Follows one pipeline's output the way a replaced Redis leaderboard does: records of a newer
 * window (window_end) start a new board, records of the shown window change it member by
 * member, older windows' corrections are ignored. Without a window it is a running GROUP BY.
 * For display only: scores become JS numbers here, nothing is written from them.
 */
export class LeaderboardTap {
  private windowEnd: string | null = null;
  private board = new Map<string, { score: number; label?: string }>();

  constructor(readonly spec: LeaderboardSpec) {}

  add(records: OutputRecord[]): void {
    const { member, score, label } = this.spec;
    for (const r of records) {
      if (r.op === "truncate") {
        this.board.clear();
        continue;
      }
      const end = r.row.window_end;
      if (typeof end === "string") {
        // Same text format for every record of a pipeline: the text order is the time order.
        if (this.windowEnd === null || end > this.windowEnd) {
          if (r.op === "delete") continue;
          this.windowEnd = end;
          this.board.clear();
        } else if (end < this.windowEnd) continue;
      }
      const m = r.row[member];
      if (m === undefined || m === null) continue;
      if (r.op === "delete") this.board.delete(String(m));
      else this.board.set(String(m), { score: Number(r.row[score] ?? 0), ...(label && r.row[label] != null ? { label: String(r.row[label]) } : {}) });
    }
  }

  top(): LeaderboardEntry[] {
    return [...this.board]
      .map(([m, v]) => ({ member: m, score: v.score, ...(v.label ? { label: v.label } : {}) }))
      .sort((a, b) => b.score - a.score || (a.member < b.member ? -1 : 1))
      .slice(0, this.spec.top);
  }

  /** The window the board shows (its window_end), when the pipeline has one. */
  get window(): string | null {
    return this.windowEnd;
  }
}
