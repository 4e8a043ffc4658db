import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBinary } from "../helpers/index.ts";

// A CDC_API_TOKEN shorter than 8 characters was found only when the API started, after the
// engine had connected to the source, made its slot and begun streaming (then it stopped with
// exit 2). Like a malformed --listen, it is now refused before anything starts: here the source
// is unreachable, so before the fix this run ended with the connection error (exit 1) instead.
test("serve: a short CDC_API_TOKEN is exit 2 before the engine starts", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qa-token-"));
  try {
    const config = join(dir, "cdc.yaml");
    writeFileSync(
      config,
      `source: { url: "postgres://postgres@127.0.0.1:1/none" }\nstate: { dir: ${JSON.stringify(join(dir, "state"))} }\napi: { listen: "127.0.0.1:0" }\nsinks: { out: { type: stdout } }\npipelines: [ { name: a, from: public.t, to: out } ]\n`,
    );
    const r = await runBinary(["serve", "--config", config], { env: { CDC_API_TOKEN: "abc" } });
    expect(r.stderr).toBe("cdc-engine: CDC_API_TOKEN: must be at least 8 characters\n");
    expect(r.code).toBe(2);
    expect(existsSync(join(dir, "state"))).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
