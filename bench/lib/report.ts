/**
 * The benchmark table: one row per figure, printed and appended to bench/RESULTS.md with the
 * date, the machine (nproc, memory, CPU, load average at start) and the commit.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, freemem, loadavg, totalmem } from "node:os";
import { join } from "node:path";

export interface Row {
  part: string;
  figure: string;
  engine: string;
  peer: string;
  /** cdc-engine / peer, oriented so that > 1 means cdc-engine is better (rates) — see `better`. */
  ratio: string;
  target: string;
  met: "yes" | "no" | "-";
  command: string;
}

export interface Machine {
  date: string;
  nproc: number;
  memory: string;
  cpu: string;
  load: string;
  commit: string;
  bun: string;
  postgres: string;
}

export const RESULTS = join(import.meta.dir, "../RESULTS.md");

export async function describeMachine(): Promise<Machine> {
  const commit = (await Bun.$`git -C ${import.meta.dir} rev-parse --short HEAD`.nothrow().text()).trim();
  const dirty = (await Bun.$`git -C ${import.meta.dir} status --porcelain --untracked-files=no`.nothrow().text()).trim() ? " (work tree has uncommitted changes by others)" : "";
  const pg = (await Bun.$`sh -c 'ls -d /usr/lib/postgresql/*/bin | tail -1'`.nothrow().text()).trim();
  const pgVersion = pg ? (await Bun.$`${pg}/postgres --version`.nothrow().text()).trim() : "?";
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    nproc: cpus().length,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free)`,
    cpu: cpus()[0]?.model ?? "?",
    load: loadavg().map((l) => l.toFixed(2)).join(" "),
    commit: commit + dirty,
    bun: Bun.version,
    postgres: pgVersion,
  };
}

/** a / b as "1.23×", or "-" when either side is missing. */
export function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (a == null || b == null || !isFinite(a) || !isFinite(b) || b === 0) return "-";
  return `${(a / b).toFixed(2)}×`;
}

export const fmtInt = (n: number | null | undefined): string => (n == null || !isFinite(n) ? "-" : Math.round(n).toLocaleString("en-US"));

export function markdownTable(rows: Row[], withCommand = true): string {
  const head = ["part", "figure", "cdc-engine", "peer", "ratio", "target", "met?", ...(withCommand ? ["command"] : [])];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of rows) {
    const cells = [r.part, r.figure, r.engine, r.peer, r.ratio, r.target, r.met, ...(withCommand ? ["`" + r.command + "`"] : [])];
    lines.push(`| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`);
  }
  return lines.join("\n");
}

export function printTable(rows: Row[]): void {
  const head = ["part", "figure", "cdc-engine", "peer", "ratio", "target", "met?"];
  const cells = rows.map((r) => [r.part, r.figure, r.engine, r.peer, r.ratio, r.target, r.met]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i])).join("  ");
  console.log("\n" + line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const c of cells) console.log(line(c));
}

export function appendResults(rows: Row[], m: Machine, invocation: string, notes: string[]): void {
  if (!existsSync(RESULTS)) writeFileSync(RESULTS, "# Benchmark results (appended by `bun run bench`)\n\nMethods and findings: see the top of this file's sections below each run.\n");
  const text = [
    "",
    `## ${m.date} — \`${invocation}\``,
    "",
    `Machine: ${m.nproc} CPUs (${m.cpu}), memory ${m.memory}, load average at start ${m.load}; commit ${m.commit}; bun ${m.bun}; ${m.postgres}.`,
    "",
    markdownTable(rows),
    ...(notes.length ? ["", ...notes.map((n) => `- ${n}`)] : []),
    "",
  ].join("\n");
  appendFileSync(RESULTS, text);
  void readFileSync; // (kept simple: the file only grows)
}
