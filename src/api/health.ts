import type { Health } from "../sinks/sink.ts";

/** Anything that reports health: the source, each sink, the checkpoint coordinator, each pipeline. */
export interface HealthComponent {
  /** "source", "sink:<name>", "checkpoint", "pipeline:<name>" */
  name: string;
  health(): Promise<Health> | Health;
}

export interface HealthReport {
  status: "up" | "down";
  components: Record<string, Health>;
}

const TIMEOUT_MS = 2000;

/** Ask every component at once; one that does not answer in time counts as down. */
export async function collectHealth(components: HealthComponent[]): Promise<HealthReport> {
  const results = await Promise.all(components.map((c) => healthOf(c)));
  const out: Record<string, Health> = {};
  components.forEach((c, i) => (out[c.name] = results[i]));
  const down = results.some((h) => h.status === "down");
  return { status: down ? "down" : "up", components: out };
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
