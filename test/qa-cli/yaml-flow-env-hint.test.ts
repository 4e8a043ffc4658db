import { expect, test } from "bun:test";
import { messageOf } from "../config/config-helpers.ts";

// README: "inside a flow map { ... }, quote a value that holds ${...}". Unquoted, YAML reads `${`
// as a flow map of its own and the error was only "Unexpected flow-map-start at node end".
test("an unquoted ${VAR} inside { } says to quote it", () => {
  const text = "source: { url: 'postgres://x@h/db' }\nsinks: { out: { type: postgres, url: 'postgres://x@h/db', pool: ${POOL:-4} } }\npipelines: [ { name: a, from: public.g, to: out } ]\n";
  expect(messageOf(text)).toBe(
    'cdc.yaml: line 2, column 66: invalid YAML: Unexpected flow-map-start at node end (inside { } or [ ], quote a value that holds ${...}: "${VAR:-default}")',
  );
});

test("other YAML errors get no such hint", () => {
  expect(messageOf("source: [ \npipelines: x\n")).toBe(
    "cdc.yaml: line 2, column 1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
  );
});
