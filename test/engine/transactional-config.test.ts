import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { CdcError } from "../../src/errors.ts";

const config = (extra: string) => `source: { url: "postgres://localhost/x", slot: a, publication: a }
sinks: { out: { type: stdout } }
pipelines: [{ name: p, from: t, to: out${extra} }]
`;

describe("transactional", () => {
  test("true (and absent) is accepted: every batch ends on a source-transaction boundary", () => {
    expect(parseConfig(config(", transactional: true"), "c.yaml").pipelines[0].transactional).toBe(true);
    expect(parseConfig(config(""), "c.yaml").pipelines[0].transactional).toBeUndefined();
  });

  test("false is a one-line usage error that names the key and says what to do instead", () => {
    let err: unknown;
    try {
      parseConfig(config(", transactional: false"), "c.yaml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CdcError);
    expect((err as CdcError).kind).toBe("usage");
    expect((err as CdcError).message).toBe(
      "c.yaml: pipelines.0.transactional: false is not supported: every batch ends on a source-transaction boundary (that is how exactly-once holds); for larger batches raise the sink's batch_size",
    );
    expect((err as CdcError).message).not.toContain("\n");
  });
});
