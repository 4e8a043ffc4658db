import { expect, test } from "bun:test";
import { interpolate } from "../../src/config/interpolate.ts";

// ${A:-${B}} (a default naming another variable, as docker compose reads it) came out as the
// literal "${B}": the pattern's default stopped at the first closing brace.
const env = { A: "a", B: "b", EMPTY: "" };
const run = (s: string, e: Record<string, string> = env) => interpolate(s, e, "cdc.yaml", ["source", "url"]);

test("references, defaults, nested defaults and escapes", () => {
  expect(run("x${A}y")).toBe("xay");
  expect(run("${MISSING:-d}")).toBe("d");
  expect(run("${EMPTY:-d}")).toBe("d");
  expect(run("${EMPTY:-}")).toBe("");
  expect(run("${MISSING:-${B}}")).toBe("b");
  expect(run("${MISSING:-pre-${NOPE:-${A}}-post}")).toBe("pre-a-post");
  expect(run("${A:-${NOPE}}")).toBe("a"); // the default is not read when the variable is set
  expect(run("$${A} and $$ and $5 and ${1x} and ${A")).toBe("${A} and $$ and $5 and ${1x} and ${A");
  expect(run("${MISSING:-{b}}")).toBe("{b}");
});

test("a missing variable is one line naming the key, also inside a default", () => {
  expect(() => run("${NOPE}")).toThrow("cdc.yaml: source.url: environment variable NOPE is not set and has no default");
  expect(() => run("${MISSING:-${NOPE}}")).toThrow("cdc.yaml: source.url: environment variable NOPE is not set and has no default");
  expect(() => run("${EMPTY}")).toThrow("environment variable EMPTY is empty and has no default (write ${EMPTY:-} to allow an empty value)");
});
