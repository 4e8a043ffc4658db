import { expect } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { CdcError } from "../../src/errors.ts";

/** A valid config the config tests vary: one postgres sink, one mirror of two tables. */
export const BASE = `
source:
  url: postgres://postgres@127.0.0.1:5432/shop
sinks:
  wh: { type: postgres, url: postgres://postgres@127.0.0.1:5432/warehouse }
pipelines:
  - name: mirror
    from: [public.orders, public.customers]
    to: wh
`;

/** The usage error `text` gives (with `env` for ${VAR}); fails the test when it gives none. */
export function errorOf(text: string, env: Record<string, string> = {}): CdcError {
  try {
    parseConfig(text, "cdc.yaml", env);
  } catch (e) {
    expect(e).toBeInstanceOf(CdcError);
    expect((e as CdcError).kind).toBe("usage");
    return e as CdcError;
  }
  throw new Error("expected a config error");
}

export const messageOf = (text: string, env: Record<string, string> = {}): string => errorOf(text, env).message;
