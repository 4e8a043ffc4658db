/**
 * Build the single executable: `bun run build` for this host (./cdc-engine), `bun run build:all`
 * for every Linux target Bun can cross-compile to (dist/cdc-engine-<target>). The git commit is
 * baked in for --version: from `git rev-parse`, or $CDC_GIT_COMMIT where there is no .git (Docker).
 * Cross targets need Bun's runtime for that target, which `bun build` downloads once; a closed
 * network makes that target fail, and the others still build.
 */
import { $ } from "bun";
import { statSync } from "node:fs";

const all = process.argv.includes("--all");
const fromGit = (await $`git rev-parse --short=12 HEAD`.nothrow().quiet().text()).trim();
const dirty = fromGit && (await $`git status --porcelain --untracked-files=no`.nothrow().quiet().text()).trim() ? "-dirty" : "";
const commit = process.env.CDC_GIT_COMMIT || (fromGit ? fromGit + dirty : "unknown");
const targets = all ? ["bun-linux-x64", "bun-linux-arm64", "bun-linux-x64-musl", "bun-linux-arm64-musl"] : [null];

const failed: string[] = [];
for (const target of targets) {
  const outfile = process.env.CDC_BUILD_OUTFILE && !target ? process.env.CDC_BUILD_OUTFILE : target ? `dist/cdc-engine-${target.replace(/^bun-/, "")}` : "cdc-engine";
  const args = ["build", "--compile", "--minify", "--sourcemap", "--define", `CDC_GIT_COMMIT=${JSON.stringify(commit)}`];
  if (target) args.push(`--target=${target}`);
  // Host build: precompiled bytecode halves start-up (bench start: 339 ms → 136 ms to /health).
  // ESM because cli.ts has a top-level await; cross targets keep plain source until tried there.
  else args.push("--bytecode", "--format=esm");
  args.push("src/cli.ts", "--outfile", outfile);
  const started = performance.now();
  const proc = Bun.spawnSync(["bun", ...args], { stdout: "pipe", stderr: "pipe" });
  if (proc.exitCode !== 0) {
    const why = (proc.stderr.toString() + proc.stdout.toString()).trim().split("\n").slice(-3).join(" | ");
    console.error(`FAIL ${target ?? "host"}: ${why}`);
    failed.push(target ?? "host");
    continue;
  }
  const mb = (statSync(outfile).size / 1024 / 1024).toFixed(1);
  console.log(`built ${outfile} (${commit}, ${mb} MiB, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
if (all) {
  // Checksums for whoever downloads the release files.
  const lines: string[] = [];
  for (const t of targets) {
    const f = `dist/cdc-engine-${t!.replace(/^bun-/, "")}`;
    if (failed.includes(t!)) continue;
    const hash = new Bun.CryptoHasher("sha256").update(await Bun.file(f).arrayBuffer()).digest("hex");
    lines.push(`${hash}  ${f.slice("dist/".length)}`);
  }
  await Bun.write("dist/SHA256SUMS", lines.join("\n") + "\n");
  console.log("wrote dist/SHA256SUMS");
}
if (failed.length) {
  console.error(`${failed.length} of ${targets.length} target(s) failed: ${failed.join(", ")}`);
  process.exit(1);
}
