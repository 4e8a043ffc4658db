import { expect, test } from "bun:test";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, configPermissionWarning } from "../../src/config/load.ts";
import { exposureWarning, startApiServer } from "../../src/api/server.ts";
import { createApp } from "../../src/api/app.ts";

const minimal = "source:\n  url: postgres://u:pw@db/x\nsinks:\n  out: { type: stdout }\npipelines:\n  - { name: p, from: public.t, to: out }\n";

test("the API binds 127.0.0.1 unless configured; admin is off without a token", () => {
  const cfg = parseConfig(minimal, "cdc.yaml", {});
  expect(cfg.api.listen).toBe("127.0.0.1:8080");
  expect(cfg.api.token).toBeUndefined();
});

test("binding a non-loopback address is warned about; loopback is not", () => {
  expect(exposureWarning("127.0.0.1")).toBeNull();
  expect(exposureWarning("::1")).toBeNull();
  expect(exposureWarning("localhost")).toBeNull();
  expect(exposureWarning("0.0.0.0")).toContain("api.listen binds 0.0.0.0");
});

test("a world-readable config holding a password is warned about with the chmod to run", () => {
  const dir = mkdtempSync(join(tmpdir(), "cdc-perm-"));
  const path = join(dir, "cdc.yaml");
  writeFileSync(path, minimal);
  chmodSync(path, 0o644);
  expect(configPermissionWarning(path, minimal)).toBe(`${path} is world-readable and holds secrets; run: chmod o-r ${path} (600 when the engine runs as its owner; 640 with the engine's group, as the systemd unit and the Docker image read it)`);
  chmodSync(path, 0o600);
  expect(configPermissionWarning(path, minimal)).toBeNull();
  chmodSync(path, 0o644);
  expect(configPermissionWarning(path, minimal.replace("u:pw@", "u@"))).toBeNull();
  // Secrets named, not held: ${VARS}, and words in comments.
  expect(configPermissionWarning(path, minimal.replace("u:pw@", "u:${PGPASSWORD}@"))).toBeNull();
  expect(configPermissionWarning(path, minimal.replace("u:pw@", "u@") + "# the token and the password come from cdc.env\napi: { token: ${CDC_API_TOKEN} }\n")).toBeNull();
  expect(configPermissionWarning(path, minimal.replace("u:pw@", "u@") + "api: { token: s3cr3t-literal-token }\n")).not.toBeNull();
});

test("an IPv6 listen address works and the server reports a usable URL", async () => {
  const server = startApiServer(createApp({ components: () => [] }), "[::1]:0");
  try {
    expect(server.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
    const res = await fetch(server.url + "/health");
    expect(res.status).toBe(200);
  } finally {
    await server.stop();
  }
});
