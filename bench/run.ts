/**
 * `bun run bench` — every part against its peer in one run, a table (figure, cdc-engine, peer,
 * ratio, target, met?) on stdout, appended with the machine and commit to bench/RESULTS.md.
 *
 *   bun bench/run.ts [part ...]     parts: decode apply latency windows memory start (default: these six)
 *                                   and generate (the generator's bench/generate.ts) and engagement (scenario 2 at
 *                                   3,333 rows/s, bench/engagement.ts), only when named
 *   --rows N          decode/apply backlog (default 1000000, as in the issue; 300000 for a quicker run)
 *   --mem-rows N      rows in the one big transaction of `memory` (default 1000000: the engine's peak grows
 *                     with the transaction, ~1.6 GB at 1M, so the issue's 5M would take ~8 GB of a shared host)
 *   --seconds S       seconds per latency rate (default 60)   --rates 5000,20000
 *   --events N        windows events (default 500000)
 *   --no-append       print only, do not append to RESULTS.md
 *
 * decode/windows run the existing bench/decode.ts, bench/windows.ts as child
 * processes and read their printed figures; latency/memory/start/lib/decode-peers/lib/apply-wal are in-process here
 * and spawn the compiled binary. Ratios are "cdc-engine ÷ peer" for rates (> 1: cdc-engine faster).
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { appendResults, describeMachine, fmtInt, printTable, ratio, type Row } from "./lib/report.ts";
import { mib, waitForQuietHost, watchEnginePeak } from "./lib/proc.ts";
import { decodePeers } from "./lib/decode-peers.ts";
import { applyWal } from "./lib/apply-wal.ts";
import { latency, ms } from "./latency.ts";
import { bigTransaction } from "./memory.ts";
import { start } from "./start.ts";

const PARTS = ["decode", "apply", "latency", "windows", "memory", "start"] as const;
/** Not in the default run (not one of the issue's six parts): the generator's own bench (~100 s) and scenario 2 at 3,333 rows/s (~2.5 min). */
const EXTRA = ["generate", "engagement"] as const;
type Part = (typeof PARTS)[number] | (typeof EXTRA)[number];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rows: { type: "string" },
    "mem-rows": { type: "string" },
    seconds: { type: "string" },
    rates: { type: "string" },
    events: { type: "string" },
    "no-append": { type: "boolean" },
  },
});
for (const p of positionals) if (![...PARTS, ...EXTRA].includes(p as never)) {
  console.error(`bench: unknown part "${p}" (parts: ${[...PARTS, ...EXTRA].join(", ")})`);
  process.exit(2);
}
const parts = (positionals.length ? positionals : [...PARTS]) as Part[];
const ROWS = Number(values.rows ?? 1_000_000);
const MEM_ROWS = Number(values["mem-rows"] ?? 1_000_000);
const SECONDS = Number(values.seconds ?? 60);
const RATES = (values.rates ?? "5000,20000").split(",").map(Number);
const EVENTS = Number(values.events ?? 500_000);
const root = join(import.meta.dir, "..");
const machine = await describeMachine();
// The binary as shipped (`bun run build`: minified, commit baked in), unless CDC_ENGINE_BIN names one.
if (!process.env.CDC_ENGINE_BIN) {
  const out = join(mkdtempSync(join(tmpdir(), "cdc-bench-bin-")), "cdc-engine");
  const b = Bun.spawnSync(["bun", "scripts/build.ts"], { cwd: root, env: { ...process.env, CDC_BUILD_OUTFILE: out }, stdout: "pipe", stderr: "pipe" });
  if (b.exitCode !== 0) throw new Error(`bun run build failed: ${b.stderr.toString()}`);
  process.env.CDC_ENGINE_BIN = out;
  console.log(b.stdout.toString().trim());
}
console.log(`bench: ${parts.join(", ")} — ${machine.nproc} CPUs ${machine.cpu}, load ${machine.load}, commit ${machine.commit}`);

const rows: Row[] = [];
const notes: string[] = [];
/** Peak RSS of the engine process in parts 1-3 (target ≤ 200 MB). */
const enginePeaks: { part: string; bytes: number | null }[] = [];
const met = (ok: boolean | null): Row["met"] => (ok == null ? "-" : ok ? "yes" : "no");
const rate = (n: number | null | undefined) => (n == null || !isFinite(n) ? "-" : `${fmtInt(n)} rows/s`);

/** Runs a bench script as a child, echoing its output; returns stdout+stderr and the peak RSS of cdc-engine processes it spawned. */
async function child(args: string[]): Promise<{ out: string; peak: number | null; code: number }> {
  console.log(`\n$ ${args.join(" ")}`);
  const p = Bun.spawn(args, { cwd: root, stdout: "pipe", stderr: "pipe" });
  const watch = watchEnginePeak(p.pid);
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>, to: NodeJS.WriteStream) => {
    for await (const chunk of s) {
      const t = new TextDecoder().decode(chunk);
      out += t;
      to.write(t);
    }
  };
  await Promise.all([pump(p.stdout, process.stdout), pump(p.stderr, process.stderr)]);
  const code = await p.exited;
  return { out, peak: watch.stop(), code };
}
const num = (s: string | undefined) => (s === undefined ? null : Number(s.replace(/[,\s]/g, "")));

async function partDecode() {
  const cmd = `bun bench/decode.ts --rows ${ROWS}`;
  const r = await child(["bun", "bench/decode.ts", "--rows", String(ROWS)]);
  const recv = num(/pg_recvlogical \(proto 1[^)]*\): [\d.]+ s, (\d+) rows\/s/.exec(r.out)?.[1]);
  const v1 = num(/cdc-engine source \(proto 1[^)]*\): [\d.]+ s, (\d+) rows\/s/.exec(r.out)?.[1]);
  const vmax = num(/cdc-engine source \(highest proto[^)]*\): [\d.]+ s, (\d+) rows\/s/.exec(r.out)?.[1]);
  const alone = num(/decoder alone[^:]*: [\d.]+ s, (\d+) rows\/s/.exec(r.out)?.[1]);
  if (r.code !== 0) notes.push(`decode.ts exited ${r.code}`);
  rows.push(
    { part: "1 decode", figure: `${fmtInt(ROWS)}-row backlog, 10-row txns: source, pgoutput v1 vs pg_recvlogical (v1, /dev/null)`, engine: rate(v1), peer: rate(recv), ratio: ratio(v1, recv), target: "≥ 0.85×", met: met(v1 && recv ? v1 / recv >= 0.85 : null), command: cmd },
    { part: "1 decode", figure: "source, highest pgoutput version vs pg_recvlogical (v1)", engine: rate(vmax), peer: rate(recv), ratio: ratio(vmax, recv), target: "≥ 0.85×", met: met(vmax && recv ? vmax / recv >= 0.85 : null), command: cmd },
    { part: "1 decode", figure: "decoder alone on recorded messages (in memory, no server)", engine: rate(alone), peer: "-", ratio: "-", target: "-", met: "-", command: cmd },
  );
  const cmd2 = `bun bench/lib/decode-peers.ts ${ROWS}`;
  console.log(`\n$ ${cmd2} (in-process)`);
  const d = await decodePeers(ROWS);
  enginePeaks.push({ part: "decode (binary drain)", bytes: d.enginePeak });
  rows.push(
    { part: "1 decode", figure: "compiled engine end to end (stdout sink → /dev/null, from exec) vs pg-logical-replication npm (pgoutput v1, parsed, counted)", engine: rate(d.engineRate), peer: rate(d.npmRate), ratio: ratio(d.engineRate, d.npmRate), target: "> 1×", met: met(d.engineRate > d.npmRate), command: cmd2 },
    { part: "1 decode", figure: "same backlog: compiled engine end to end vs pg_recvlogical", engine: rate(d.engineRate), peer: rate(d.recvRate), ratio: ratio(d.engineRate, d.recvRate), target: "-", met: "-", command: cmd2 },
    { part: "1 decode", figure: "same backlog: pg-logical-replication vs pg_recvlogical (peer to peer)", engine: "-", peer: `${rate(d.npmRate)} / ${rate(d.recvRate)}`, ratio: ratio(d.npmRate, d.recvRate), target: "-", met: "-", command: cmd2 },
  );
}

async function partApply() {
  // bench/apply.ts (not mine) restarts its engine without `snapshot: never`: with no checkpoint the
  // engine recreates its slot and snapshots the table, so its drain figure is a snapshot copy (checked
  // 00:07 UTC). bench/lib/apply-wal.ts is the same comparison with the backlog taken from the WAL.
  const cmd = `bun bench/lib/apply-wal.ts ${ROWS}`;
  console.log(`\n$ ${cmd} (in-process)`);
  const r = await applyWal(ROWS);
  enginePeaks.push({ part: "apply", bytes: r.enginePeak });
  rows.push({ part: "2 apply", figure: `${fmtInt(ROWS)} inserts (1000-row txns) from the WAL, mirrored into another Postgres until complete (engine CPU ${r.engineCpuS.toFixed(1)} s)`, engine: rate(r.engineRate), peer: `${rate(r.subRate)} (CREATE SUBSCRIPTION)`, ratio: ratio(r.engineRate, r.subRate), target: "≥ 1×", met: met(r.engineRate >= r.subRate), command: cmd });
}

async function partLatency() {
  const runs: { delay?: string; rates: number[] }[] = [{ rates: RATES }];
  // The sinks' default batch_delay (postgres 100 ms, redis 50 ms) is latency by design; the same
  // at the low rate with 10 ms shows what a latency-minded config gets.
  if (RATES.includes(5000)) runs.push({ delay: "10ms", rates: [5000] });
  for (const run of runs) {
    const cmd = `bun bench/latency.ts --rates ${run.rates.join(",")} --seconds ${SECONDS}${run.delay ? ` --batch-delay ${run.delay}` : ""}`;
    console.log(`\n$ ${cmd} (in-process)`);
    const r = await latency(run.rates, SECONDS, console.log, run.delay);
    enginePeaks.push({ part: `latency${run.delay ? ` (batch_delay ${run.delay})` : ""}`, bytes: r.enginePeak });
    for (const x of r.results) {
      const limit = x.rate <= 5000 ? 250 : 1000;
      for (const [sink, s] of [["Postgres", x.pg], ["Redis", x.redis]] as const) {
        rows.push({
          part: "3 latency",
          figure: `commit→visible in ${sink} at ${fmtInt(x.rate)} rows/s (${fmtInt(x.achievedRate)} achieved) for ${x.seconds} s, ${run.delay ? `batch_delay ${run.delay}` : "default batch_delay"} (engine CPU ${x.engineCpuS.toFixed(1)} s for both sinks): p50 / p99 / max${s.lost ? `, ${s.lost} of ${x.markers} markers not visible` : ""}`,
          engine: `${ms(s.p50)} / ${ms(s.p99)} / ${ms(s.max)}`,
          peer: "-",
          ratio: "-",
          target: `p99 < ${limit} ms`,
          met: met(s.lost === 0 && s.p99 < limit),
          command: cmd,
        });
      }
    }
  }
}

async function partWindows() {
  const cmd = `bun bench/windows.ts ${EVENTS}`;
  const busy = await waitForQuietHost();
  if (busy >= 0.1) notes.push(`windows: the host was still ${Math.round(busy * 100)} % busy after a minute's wait`);
  const r = await child(["bun", "bench/windows.ts", String(EVENTS)]);
  for (const line of r.out.split("\n")) {
    const m = /^((?:tumbling|sliding)[^]*?)\s+([\d,]+|-) events\/main-thread-CPU-s\s+([\d,]+) events\/process-CPU-s\s+([\d,]+) events\/wall-s/.exec(line.trim());
    if (!m) continue;
    const main = num(m[2] === "-" ? undefined : m[2]);
    const wall = num(m[4]);
    const target = m[1].startsWith("tumbling") ? 1_000_000 : 300_000;
    rows.push({ part: "4 windows", figure: `${m[1]} (events per main-thread CPU second; wall ${fmtInt(wall)}/s)`, engine: `${fmtInt(main)} ev/s`, peer: "-", ratio: "-", target: `≥ ${fmtInt(target)} ev/s`, met: met(main != null ? main >= target : null), command: cmd });
  }
  if (r.code !== 0) notes.push(`windows.ts exited ${r.code}`);
}

async function partMemory() {
  const cmd = `bun bench/memory.ts --rows ${MEM_ROWS}`;
  console.log(`\n$ ${cmd} (in-process)`);
  const r = await bigTransaction(MEM_ROWS);
  rows.push({ part: "5 memory", figure: `peak RSS (VmHWM), one ${fmtInt(MEM_ROWS)}-row transaction written while the engine was stopped, then drained (stdout sink) in ${r.seconds.toFixed(0)} s`, engine: mib(r.peak), peer: "-", ratio: "-", target: "≤ 300 MB", met: met(r.peak != null ? r.peak <= 300e6 : null), command: cmd });
  // The same while the engine runs (PostgreSQL streams the transaction in progress). Kept at ≤ 1M
  // rows: the peak grows with the transaction (1.7 GB at 1M at 23:58 UTC).
  const live = Math.min(MEM_ROWS, 1_000_000);
  const cmd2 = `bun bench/memory.ts --mode live --rows ${live}`;
  console.log(`\n$ ${cmd2} (in-process)`);
  const l = await bigTransaction(live, console.log, "live");
  rows.push({ part: "5 memory", figure: `peak RSS (VmHWM), one ${fmtInt(live)}-row transaction written while the engine runs (streamed in progress), stdout sink, ${l.seconds.toFixed(0)} s`, engine: mib(l.peak), peer: "-", ratio: "-", target: "≤ 300 MB", met: met(l.peak != null ? l.peak <= 300e6 : null), command: cmd2 });
}

async function partStart() {
  const cmd = "bun bench/start.ts --runs 7";
  console.log(`\n$ ${cmd} (in-process)`);
  const r = await start(7);
  rows.push(
    { part: "6 start", figure: `exec → first /health answer, binary from \`bun run build\`, median of 7 (max ${r.max.toFixed(0)} ms; includes a local DB connect)`, engine: `${r.median.toFixed(0)} ms`, peer: "-", ratio: "-", target: "≤ 300 ms", met: met(r.median <= 300), command: cmd },
    { part: "6 start", figure: "floor: `cdc-engine --version` (exec, load the bundle, exit), median of 5", engine: `${r.versionMedian.toFixed(0)} ms`, peer: "-", ratio: "-", target: "-", met: "-", command: cmd },
  );
  // The same source compiled with JavaScriptCore bytecode (not what scripts/build.ts does yet):
  // most of the start is parsing the ~10 MB bundle, which --bytecode skips.
  const out = join(mkdtempSync(join(tmpdir(), "cdc-bench-bc-")), "cdc-engine");
  const b = Bun.spawnSync(["bun", "build", "--compile", "--minify", "--bytecode", "--format=esm", "src/cli.ts", "--outfile", out], { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (b.exitCode !== 0) {
    notes.push(`bytecode build failed: ${b.stderr.toString().trim().split("\n").pop()}`);
    return;
  }
  const shipped = process.env.CDC_ENGINE_BIN;
  process.env.CDC_ENGINE_BIN = out;
  try {
    const bc = await start(7);
    const cmd2 = `bun build --compile --minify --bytecode --format=esm src/cli.ts --outfile X && CDC_ENGINE_BIN=X ${cmd}`;
    rows.push(
      { part: "6 start", figure: `same, built with --bytecode --format=esm (median of 7, max ${bc.max.toFixed(0)} ms)`, engine: `${bc.median.toFixed(0)} ms`, peer: `${r.median.toFixed(0)} ms (as built)`, ratio: ratio(r.median, bc.median) + " faster", target: "≤ 300 ms", met: met(bc.median <= 300), command: cmd2 },
      { part: "6 start", figure: "floor with --bytecode: `cdc-engine --version`", engine: `${bc.versionMedian.toFixed(0)} ms`, peer: `${r.versionMedian.toFixed(0)} ms (as built)`, ratio: "-", target: "-", met: "-", command: cmd2 },
    );
  } finally {
    if (shipped === undefined) delete process.env.CDC_ENGINE_BIN;
    else process.env.CDC_ENGINE_BIN = shipped;
  }
}

async function partGenerate() {
  const cmd = "bun bench/generate.ts";
  const r = await child(["bun", "bench/generate.ts"]);
  for (const line of r.out.split("\n")) {
    if (!line.startsWith("{")) continue;
    const j = JSON.parse(line) as Record<string, unknown>;
    if (j.bench === "throughput") rows.push({ part: "generator", figure: `${j.label}, ${fmtInt(j.rows as number)} rows`, engine: rate(j.rows_per_s as number), peer: "-", ratio: "-", target: "-", met: "-", command: cmd });
    if (j.bench === "rate") rows.push({ part: "generator", figure: `holding ${j.requested} for ${j.seconds} s (per-second ${j.per_second_min}–${j.per_second_max})`, engine: rate(j.achieved_rows_per_s as number), peer: "-", ratio: "-", target: `${j.requested_rows_per_s}/s`, met: met(Math.abs(j.deviation_pct as number) <= 1), command: cmd });
  }
  if (r.code !== 0) notes.push(`generate.ts exited ${r.code}`);
}

async function partEngagement() {
  const cmd = "bun bench/engagement.ts";
  const r = await child(["bun", "bench/engagement.ts"]);
  for (const line of r.out.split("\n")) {
    if (!line.startsWith("{")) continue;
    const j = JSON.parse(line) as Record<string, number>;
    if (j.bench as unknown !== "engagement") continue;
    rows.push({
      part: "engagement",
      figure: `examples/engagement.yaml, ${j.achieved} rows/s for ${j.seconds} s: commit → Redis content_stats p50 ${j.p50_ms} ms, max ${j.max_ms} ms over ${j.markers} markers${j.lost ? ` (${j.lost} not seen)` : ""}; webhook ${j.webhook}/${j.events}, BigQuery ${j.bigquery}/${j.events} rows`,
      engine: `p99 ${fmtInt(j.p99_ms)} ms`,
      peer: "-",
      ratio: "-",
      target: "p99 < 5 s",
      met: met(j.p99_ms < 5000 && !j.lost),
      command: cmd,
    });
  }
  if (r.code !== 0) notes.push(`engagement.ts exited ${r.code}`);
}

const run: Record<Part, () => Promise<void>> = { decode: partDecode, apply: partApply, latency: partLatency, windows: partWindows, memory: partMemory, start: partStart, generate: partGenerate, engagement: partEngagement };
const t0 = performance.now();
for (const p of parts) {
  try {
    await run[p]();
  } catch (e) {
    console.error(`bench ${p} failed: ${e instanceof Error ? e.message : e}`);
    notes.push(`part ${p} failed: ${(e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 300)}`);
  }
}
if (enginePeaks.length) {
  const top = enginePeaks.reduce((a, b) => ((b.bytes ?? 0) > (a.bytes ?? 0) ? b : a));
  rows.push({ part: "5 memory", figure: `peak RSS of the engine process during ${enginePeaks.map((p) => `${p.part} ${mib(p.bytes)}`).join(", ")}`, engine: mib(top.bytes), peer: "-", ratio: "-", target: "≤ 200 MB", met: met(top.bytes != null ? top.bytes <= 200e6 : null), command: "bun bench/run.ts " + parts.filter((p) => ["decode", "apply", "latency"].includes(p)).join(" ") });
}
printTable(rows);
for (const n of notes) console.log(`note: ${n}`);
const invocation = `bun bench/run.ts ${process.argv.slice(2).join(" ")}`.trim();
console.log(`\ntotal ${((performance.now() - t0) / 60000).toFixed(1)} min`);
if (!values["no-append"]) {
  appendResults(rows, machine, invocation, [`total time ${((performance.now() - t0) / 60000).toFixed(1)} min`, ...notes]);
  console.log("appended to bench/RESULTS.md");
}
