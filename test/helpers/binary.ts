/** The compiled executable, built once per test run into a temp dir (end-to-end tests run it as a user would). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let built: Promise<string> | null = null;

export function binaryPath(): Promise<string> {
  if (process.env.CDC_ENGINE_BIN) return Promise.resolve(process.env.CDC_ENGINE_BIN);
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "cdc-bin-"));
    // ~120 MB a test process: left behind, every run of a test file filled /tmp a little more.
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, "cdc-engine");
    const root = join(import.meta.dir, "../..");
    // Built as scripts/build.ts ships it for this host: minified, with bytecode. Minifying renames
    // classes, and the postgres sink's data errors were recognised by class name: only the shipped
    // binary retried them for good instead of sending them to the dead-letter queue.
    const p = Bun.spawn(["bun", "build", "--compile", "--minify", "--bytecode", "--format=esm", "src/cli.ts", "--outfile", out], { cwd: root, stdout: "pipe", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`bun build --compile failed: ${err}`);
    return out;
  })();
  return built;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the binary from a directory outside the repo, so nothing beside it is needed. */
export async function runBinary(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  const bin = await binaryPath();
  const p = Bun.spawn([bin, ...args], {
    cwd: opts.cwd ?? tmpdir(),
    env: { ...process.env, ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: opts.timeoutMs ?? 60_000,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}
