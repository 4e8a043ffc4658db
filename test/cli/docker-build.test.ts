/**
 * The Dockerfile's build stage, run without Docker (no engine on these machines): an empty dir gets
 * exactly what its COPY lines copy, then its RUN lines run there with the ARG defaults. A file the
 * build needs but the Dockerfile does not copy (the postgres patch, sql/, the demo's CSV) fails
 * here as it fails in `docker build`. Not covered: the oven/bun base image itself and the
 * distroless stage (only that the files it copies from the build stage exist).
 */
import { describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const root = join(import.meta.dir, "../..");

interface Stage { args: Record<string, string>; workdir: string; steps: { op: "COPY" | "RUN"; text: string }[] }

/** Instructions of each stage, continuation lines joined; only what the build stage uses. */
function stages(dockerfile: string): Stage[] {
  const out: Stage[] = [];
  const lines = dockerfile.replace(/\\\n\s*/g, " ").split("\n").filter((l) => l.trim() && !l.trimStart().startsWith("#"));
  for (const line of lines) {
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(line.trim())!;
    if (op === "FROM") out.push({ args: {}, workdir: "/", steps: [] });
    const st = out.at(-1);
    if (!st) continue;
    if (op === "ARG") {
      const [k, v = ""] = rest.split("=");
      st.args[k] = v;
    } else if (op === "WORKDIR") st.workdir = rest;
    else if (op === "COPY" || op === "RUN") st.steps.push({ op, text: rest });
  }
  return out;
}

/** .dockerignore patterns: a COPY source matched by one is missing from the context. */
function ignoredBy(path: string, patterns: string[]): string | undefined {
  const parts = path.split("/");
  return patterns.find((p) => parts.some((_, i) => new Bun.Glob(p).match(parts.slice(0, i + 1).join("/"))));
}

describe("Dockerfile build stage", () => {
  test("builds a working binary from exactly the files it copies", async () => {
    const df = readFileSync(join(root, "Dockerfile"), "utf8");
    const ignore = readFileSync(join(root, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    const [build, final] = stages(df);
    const tmp = mkdtempSync(join(tmpdir(), "cdc-docker-"));
    // The stage's absolute paths (WORKDIR, /out) are put under the temp dir.
    const at = (p: string) => join(tmp, p);
    // As `docker build --build-arg GIT_COMMIT=abc123def456`; nothing of this shell's build settings.
    const { CDC_GIT_COMMIT: _c, CDC_BUILD_OUTFILE: _o, ...env } = process.env;
    for (const step of build.steps) {
      if (step.op === "COPY") {
        const words = step.text.split(/\s+/);
        const dest = words.pop()!;
        for (const src of words) {
          expect(ignoredBy(src, ignore)).toBeUndefined();
          const target = dest.endsWith("/") ? join(at(build.workdir), dest, src.split("/").pop()!) : join(at(build.workdir), dest);
          mkdirSync(dirname(target), { recursive: true });
          cpSync(join(root, src), target, { recursive: true });
        }
        continue;
      }
      const cmd = step.text.replaceAll(" /out/", ` ${at("out")}/`).replaceAll("=/out/", `=${at("out")}/`);
      const p = Bun.spawnSync(["sh", "-c", cmd], { cwd: at(build.workdir), env: { ...env, ...build.args, GIT_COMMIT: "abc123def456" }, stdout: "pipe", stderr: "pipe" });
      const said = p.stdout.toString() + p.stderr.toString();
      if (p.exitCode !== 0) throw new Error(`RUN ${step.text}\nexit ${p.exitCode}\n${said}`);
      if (cmd.includes("--version")) expect(said).toContain("cdc-engine 0.1.0 (abc123def456)");
    }
    for (const step of final.steps.filter((s) => s.op === "COPY" && s.text.includes("--from=build"))) {
      const src = step.text.split(/\s+/).filter((w) => !w.startsWith("--"))[0];
      expect(existsSync(at(src))).toBe(true);
    }
  }, 300_000);
});
