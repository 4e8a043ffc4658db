/** The deploy files point at things that exist, and compose's config draws no false warning. */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { configPermissionWarning } from "../../src/config/load.ts";

const root = join(import.meta.dir, "../..");
const read = (p: string) => readFileSync(join(root, p), "utf8");

describe("deploy files", () => {
  test("repo paths named in compose.yaml, the unit and the compose config exist", () => {
    for (const f of ["compose.yaml", "deploy/cdc-engine.service", "deploy/compose/cdc.yaml", "Dockerfile"]) {
      // docs/readme/operations.md was named by two of them and never existed.
      const named = read(f).match(/\b(?:docs|deploy|sql|examples|scripts)\/[\w./-]+\w|\bREADME\.md\b/g) ?? [];
      for (const p of named) expect({ in: f, path: p, exists: existsSync(join(root, p)) }).toEqual({ in: f, path: p, exists: true });
    }
  });

  test("the unit's Documentation= is a file the README's systemd steps install", () => {
    const doc = /^Documentation=file:\/\/(\S+)$/m.exec(read("deploy/cdc-engine.service"))?.[1];
    expect(doc).toBe("/usr/local/share/doc/cdc-engine/README.md");
    expect(read("README.md")).toContain(`sudo install -D -m 0644 README.md ${doc}`);
  });

  test("compose's cdc.yaml, world-readable as git checks it out, draws no permission warning", () => {
    // It did ("holds secrets; run: chmod 600"), from the words in its comments; a host file at 0600
    // is unreadable by the container's uid 65532.
    const path = join(root, "deploy/compose/cdc.yaml");
    expect(statSync(path).mode & 0o004).toBe(0o004);
    expect(configPermissionWarning(path, read("deploy/compose/cdc.yaml"))).toBeNull();
  });

  test("the unit restarts a start that failed on an unreachable database without a start limit, and never a config error", () => {
    // StartLimitBurst=10 in 10 min with RestartSec=5s left the unit failed for good after ~50 s of a sink down at boot.
    const unit = read("deploy/cdc-engine.service");
    expect(unit).toMatch(/^StartLimitIntervalSec=0$/m);
    expect(unit).not.toMatch(/^StartLimitBurst=/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^RestartPreventExitStatus=2$/m);
  });
});
