import { expect, test } from "bun:test";
import { runBinary } from "../helpers/index.ts";

// `help serve extra` blamed 'serve', the part that was right.
test("help with a command and something more names the extra argument", async () => {
  const r = await runBinary(["help", "serve", "extra"]);
  expect(r.code).toBe(2);
  expect(r.stderr.split("\n")[0]).toBe("cdc-engine: unexpected argument 'extra'");
});

test("help serve still prints serve's flags", async () => {
  const r = await runBinary(["help", "serve"]);
  expect(r.code).toBe(0);
  expect(r.stdout.split("\n")[0]).toBe("cdc-engine serve --config FILE [--listen HOST:PORT] [--log-level LEVEL] [--resnapshot]");
});
