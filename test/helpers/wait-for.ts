/** Poll `fn` until it returns something truthy; on timeout the error names what was awaited, the last error and the logs. */
export async function waitUntil<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 60_000, logs?: () => string, everyMs = 150): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown = null;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}${logs ? `\nlogs: ${logs().slice(-4000)}` : ""}`);
}
