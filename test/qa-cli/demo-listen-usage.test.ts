import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { runBinary } from "../helpers/index.ts";

// `demo --listen x` started PostgreSQL first, then failed on the config it had generated:
// "cdc-engine: /tmp/cdc-demo-XXXX/demo.yaml: api.listen: must be HOST:PORT", naming a temp file
// the user never wrote (and leaving that dir behind). Now --listen is checked before anything starts.
test("demo: a malformed --listen is one line naming the flag, exit 2, nothing started", async () => {
  const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith("cdc-demo-")));
  const r = await runBinary(["demo", "--listen", "x"], { timeoutMs: 30_000 });
  expect(r.code).toBe(2);
  expect(r.stderr).toBe("cdc-engine: --listen: 'x' is not HOST:PORT with a port from 0 to 65535\n");
  expect(r.stdout).toBe("");
  const after = readdirSync(tmpdir()).filter((n) => n.startsWith("cdc-demo-") && !before.has(n));
  expect(after).toEqual([]);
});
