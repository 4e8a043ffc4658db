/**
 * Trends of a soak CSV (t, engine, metric, value): per gauge the first, the warm (first sample
 * after the warm-up) and the last value, and the slope after warm-up (least squares, per hour).
 * Growing = the slope would add more than 20 % of the warm value in an hour, and the last value is
 * above the warm one. Counters and histogram parts are left out (they grow by design).
 *
 *   bun bench/lib/soak-report.ts /tmp/soak.csv [--warm 300] [--all]
 */
import { readFileSync } from "node:fs";

interface Series {
  engine: string;
  metric: string;
  points: [number, number][];
}

const counter = /(_total|_count|_sum|_bucket)(\{|$)|^m:.*_created|cpu_seconds|checkpoint_lsn|process_start|build_info|_age_seconds|^proc:VmHWM|eventloop|\.lsn|_at$|uptime|\.last|lag_seconds/;

function load(csv: string): Series[] {
  const by = new Map<string, Series>();
  for (const line of readFileSync(csv, "utf8").split("\n").slice(1)) {
    const m = /^(\d+),([^,]+),"((?:[^"]|"")*)",(.+)$/.exec(line);
    if (!m) continue;
    const key = `${m[2]}\u0000${m[3]}`;
    let s = by.get(key);
    if (!s) by.set(key, (s = { engine: m[2]!, metric: m[3]!.replaceAll('""', '"'), points: [] }));
    s.points.push([Number(m[1]), Number(m[4])]);
  }
  return [...by.values()];
}

function slopePerHour(points: [number, number][]): number {
  const n = points.length;
  if (n < 3) return 0;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den ? (num / den) * 3600 : 0;
}

const fmt = (v: number) => (Math.abs(v) >= 1e6 ? `${(v / 2 ** 20).toFixed(1)}Mi` : Number.isInteger(v) ? String(v) : v.toFixed(3));

export function printSoakReport(csv: string, warmS = 300, all = false): void {
  const rows: string[] = [];
  for (const s of load(csv)) {
    if (counter.test(s.metric)) continue;
    const warmPts = s.points.filter(([t]) => t >= warmS);
    if (warmPts.length < 3) continue;
    const first = s.points[0]![1];
    const warm = warmPts[0]![1];
    const last = s.points.at(-1)![1];
    const slope = slopePerHour(warmPts);
    const growing = last > warm && slope > 0 && slope > 0.2 * Math.max(Math.abs(warm), 1);
    if (growing || all) rows.push(`| ${s.engine} | ${s.metric} | ${fmt(first)} | ${fmt(warm)} | ${fmt(last)} | ${fmt(slope)}/h | ${growing ? "GROWS" : ""} |`);
  }
  console.log(`\n| engine | metric | first | at ${warmS}s | last | slope after warm-up | |\n|---|---|---|---|---|---|---|`);
  console.log(rows.join("\n"));
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const warm = args.indexOf("--warm");
  printSoakReport(args[0] ?? "/tmp/soak.csv", warm >= 0 ? Number(args[warm + 1]) : 300, args.includes("--all"));
}
