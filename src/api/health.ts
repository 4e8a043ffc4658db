import type { Health } from "../sinks/sink.ts";

/** Anything that reports health: the source, each sink, the checkpoint coordinator, each pipeline. */
export interface HealthComponent {
  /** "source", "sink:<name>", "checkpoint", "pipeline:<name>" */
  name: string;
  health(): Promise<Health> | Health;
}

export interface HealthReport {
  status: "up" | "down";
  /** When down: the components that are not up, with their reasons ("source: reconnecting: ..."). */
  reason?: string;
  components: Record<string, Health>;
}

const TIMEOUT_MS = 2000;

/**
 * Ask every component at once; one that does not answer in time counts as down. The engine is
 * up only when every component is up: a reconnecting source ("degraded") or a pipeline held
 * back is not "streaming and every sink healthy", so it answers 503 too.
 */
export async function collectHealth(components: HealthComponent[]): Promise<HealthReport> {
  const results = await Promise.all(components.map((c) => healthOf(c)));
  const out: Record<string, Health> = {};
  components.forEach((c, i) => (out[c.name] = results[i]));
  const notUp = components.map((c, i) => [c.name, results[i]] as const).filter(([, h]) => h.status !== "up");
  if (!notUp.length) return { status: "up", components: out };
  return { status: "down", reason: notUp.map(([name, h]) => `${name}: ${h.reason ?? h.status}`).join("; "), components: out };
}

export async function healthOf(c: HealthComponent): Promise<Health> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      Promise.resolve(c.health()),
      new Promise<Health>((resolve) => {
        timer = setTimeout(() => resolve({ status: "down", reason: `no answer within ${TIMEOUT_MS} ms` }), TIMEOUT_MS);
      }),
    ]);
  } catch (e) {
    return { status: "down", reason: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
  }
}
