import cliProgress from "cli-progress";
import type { GeneratorStats } from "./options.ts";

/**
 * Progress for a person (a cli-progress bar on stderr: rows, rate, elapsed, ETA) or for a
 * machine (one JSON stats line per interval on stdout). The final summary goes either way.
 */
export interface Reporter {
  start(total: number | null): void;
  update(rows: number, rate: number): void;
  interval(s: GeneratorStats): void;
  finish(s: GeneratorStats): void;
}

export function createReporter(mode: "bar" | "json" | "none", out: (line: string) => void, onStats?: (s: GeneratorStats) => void): Reporter {
  let bar: cliProgress.SingleBar | null = null;
  return {
    start(total) {
      if (mode !== "bar") return;
      const format = total
        ? "{bar} {percentage}% | {value}/{total} rows | {rate} rows/s | elapsed {duration_formatted} | ETA {eta_formatted}"
        : "{value} rows | {rate} rows/s | elapsed {duration_formatted}";
      bar = new cliProgress.SingleBar({ format, hideCursor: true, etaBuffer: 50, fps: 5, stream: process.stderr }, cliProgress.Presets.shades_classic);
      bar.start(total ?? 0, 0, { rate: "0" });
    },
    update(rows, rate) {
      bar?.update(rows, { rate: rate.toFixed(0) });
    },
    interval(s) {
      onStats?.(s);
      if (mode === "json") out(JSON.stringify(s));
    },
    finish(s) {
      if (bar) {
        bar.update(s.rows, { rate: s.rate.toFixed(0) });
        bar.stop();
      }
      onStats?.(s);
      if (mode === "bar") out(humanSummary(s));
      else if (mode === "json") out(JSON.stringify(s));
    },
  };
}

function humanSummary(s: GeneratorStats): string {
  const lines = [
    `generated ${s.rows} rows into ${s.dataset} in ${s.elapsed_s.toFixed(1)}s (${s.rate.toFixed(0)} rows/s${s.target_rate ? `, target ${s.target_rate.toFixed(0)}` : ""}): ${s.inserted} inserted, ${s.updated} updated, ${s.deleted} deleted, ${s.transactions} transactions${s.setup_rows ? `, ${s.setup_rows} reference rows` : ""}; stopped by ${s.stopped_by}`,
  ];
  if (s.quality) lines.push(`data quality: ${Object.entries(s.quality).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  return lines.join("\n");
}
