/** Process memory from /proc: peak RSS (VmHWM) of a process and of the cdc-engine processes below a parent. */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export function vmHwm(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

/** pids below `root` whose executable is named cdc-engine (the compiled binary). */
export function engineDescendants(root: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    let exe = "";
    try {
      exe = readlinkSync(`/proc/${pid}/exe`);
    } catch {
      continue;
    }
    if (!/\/cdc-engine( \(deleted\))?$/.test(exe)) continue;
    for (let p: number | null = parentOf(pid), hops = 0; p && p > 1 && hops < 6; p = parentOf(p), hops++) {
      if (p === root) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
}

/** Samples the peak RSS of cdc-engine processes below `root` (VmHWM is read before they exit). */
export function watchEnginePeak(root: number, everyMs = 250): { stop(): number | null } {
  let peak: number | null = null;
  const tick = () => {
    for (const pid of engineDescendants(root)) {
      const h = vmHwm(pid);
      if (h != null) peak = Math.max(peak ?? 0, h);
    }
  };
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      tick();
      clearInterval(timer);
      return peak;
    },
  };
}

/** "273 MiB (286 MB)": VmHWM in MiB, with the decimal MB the targets are written in. */
export const mib = (n: number | null | undefined): string => (n == null ? "-" : `${Math.round(n / 2 ** 20)} MiB (${Math.round(n / 1e6)} MB)`);

/**
 * CPU seconds (user + system) a PostgreSQL server has used so far: the postmaster, its live
 * children (backends, walsenders, apply workers) and the children it has reaped. Read before and
 * after a phase to see what the servers spent on it beside the engine (apply: source walsender and
 * sink backend, or the subscription's apply worker).
 */
export function serverCpuSeconds(dataDir: string): number {
  try {
    const pm = Number(readFileSync(`${dataDir}/postmaster.pid`, "utf8").split("\n")[0]);
    let ticks = 0;
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      const pid = Number(d);
      let f: string[];
      try {
        const s = readFileSync(`/proc/${pid}/stat`, "utf8");
        f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      } catch {
        continue;
      }
      if (pid === pm) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      else if (Number(f[1]) === pm) ticks += Number(f[11]) + Number(f[12]);
    }
    return ticks / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds of each thread of `pid`, summed by thread name (main thread, GC helpers, JIT workers…), largest first. */
export function threadCpu(pid: number): [string, number][] {
  const by = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        const name = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
        const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
        const label = Number(tid) === pid ? "main" : name.replace(/\s*\d+$/, "");
        by.set(label, (by.get(label) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
      } catch {
        // the thread ended meanwhile
      }
    }
  } catch {
    return [];
  }
  return [...by].sort((a, b) => b[1] - a[1]);
}

/** Share of the host's CPU time (all cores) spent outside idle over the next `ms`, from /proc/stat. */
export async function hostBusy(ms = 500): Promise<number> {
  const read = () => {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await Bun.sleep(ms);
  const b = read();
  const total = b.total - a.total;
  return total > 0 ? 1 - (b.idle - a.idle) / total : 0;
}

/**
 * Waits (up to `maxMs`) until the host is quiet: servers an earlier part stopped may still be
 * writing their checkpoint, and a CPU-timed part run beside them measured half its rate
 * (tumbling windows 532k ev/s right after the latency part, 1.19M alone). Returns the last busy share.
 */
export async function waitForQuietHost(maxMs = 60_000, below = 0.1): Promise<number> {
  const until = performance.now() + maxMs;
  let busy = await hostBusy();
  while (busy >= below && performance.now() < until) busy = await hostBusy();
  return busy;
}
