import { describe, expect, test } from "bun:test";
import { runBinary } from "../helpers/index.ts";

// `generate --url notaurl` printed the driver's bare "Invalid URL" and exited 1 (a runtime failure
// a restart could fix); a bad URL is a usage error: one line naming where it came from, exit 2.
describe("generate: a URL that is not a postgres:// URL", () => {
  test("--url", async () => {
    const r = await runBinary(["generate", "--dataset", "orders", "--url", "notaurl", "--count", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("cdc-engine: --url: 'notaurl' is not a postgres:// URL\n");
  });
  test("another scheme, its credentials hidden", async () => {
    const r = await runBinary(["generate", "--dataset", "orders", "--url", "mysql://root:secret@127.0.0.1/x", "--count", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("cdc-engine: --url: 'mysql://…@127.0.0.1/x' is not a postgres:// URL\n");
  });
  test("DATABASE_URL is named when it is the source", async () => {
    const r = await runBinary(["generate", "--dataset", "orders", "--count", "1"], { env: { DATABASE_URL: "bad", PG_URL: "" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("cdc-engine: DATABASE_URL: 'bad' is not a postgres:// URL\n");
  });
  test("a postgres URL that cannot connect is still a runtime failure (exit 1)", async () => {
    const r = await runBinary(["generate", "--dataset", "orders", "--url", "postgres://u@127.0.0.1:1/x", "--count", "1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot connect to postgres://u@127.0.0.1:1/x");
  });
});
