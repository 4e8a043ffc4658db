/**
 * A source that cannot be reached (or refuses the login) at start: one line naming the source and
 * the server, password masked. It was the bare driver message ("connect ECONNREFUSED
 * 127.0.0.1:1", `role "nouser" does not exist`), which said neither what nor where.
 */
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { CdcError } from "../../src/errors.ts";
import { createPostgresSource } from "../../src/source/postgres/index.ts";
import { freePort, sharedPg } from "../helpers/index.ts";
import { sourceConfig } from "./source-helpers.ts";

async function startError(url: string): Promise<CdcError> {
  const source = createPostgresSource(sourceConfig(url), { stateDir: mkdtempSync(join(tmpdir(), "cdc-src-")), log: pino({ level: "silent" }) });
  try {
    await source.start({ tables: ["public.t"], checkpointLsn: null, resnapshot: false, onTxn: async () => {} });
  } catch (e) {
    expect(e).toBeInstanceOf(CdcError);
    expect(await source.done).toBe(e as Error);
    return e as CdcError;
  }
  throw new Error("expected the start to fail");
}

test("unreachable source: [source], the URL without its password, the reason", async () => {
  const port = await freePort();
  const e = await startError(`postgres://app:s3cret@127.0.0.1:${port}/shop`);
  expect(e.message).toBe(`[source] cannot start streaming from postgres://app:***@127.0.0.1:${port}/shop: connect ECONNREFUSED 127.0.0.1:${port}`);
  expect(e.code).toBe("source_unreachable"); // no connection made: the first start of serve exits, it is not retried
});

test("a role that does not exist: same shape", async () => {
  const pg = await sharedPg("system");
  const e = await startError(`postgres://nosuchrole:pw@127.0.0.1:${pg.port}/postgres`);
  expect(e.message).toBe(`[source] cannot start streaming from postgres://nosuchrole:***@127.0.0.1:${pg.port}/postgres: role "nosuchrole" does not exist`);
  expect(e.code).toBe("source_unreachable");
});
