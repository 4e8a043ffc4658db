/**
 * Build the single executable: `bun run build` for this host, `bun run build:all` for
 * every Linux target Bun can cross-compile to. The git commit is baked in for --version.
 */
import { $ } from "bun";

const all = process.argv.includes("--all");
const commit = (await $`git rev-parse --short HEAD`.nothrow().quiet().text()).trim() || "unknown";
const targets = all
  ? ["bun-linux-x64", "bun-linux-arm64", "bun-linux-x64-musl", "bun-linux-arm64-musl"]
  : [null];

for (const target of targets) {
  const outfile = target ? `dist/cdc-engine-${target.replace(/^bun-/, "")}` : "cdc-engine";
  const args = ["build", "--compile", "--minify", "--sourcemap", `--define`, `CDC_GIT_COMMIT=${JSON.stringify(commit)}`];
  if (target) args.push(`--target=${target}`);
  args.push("src/cli.ts", "--outfile", outfile);
  const proc = Bun.spawnSync(["bun", ...args], { stdout: "inherit", stderr: "inherit" });
  if (proc.exitCode !== 0) {
    console.error(`build failed for ${target ?? "host"}`);
    process.exit(proc.exitCode ?? 1);
  }
  console.log(`built ${outfile} (${commit})`);
}
