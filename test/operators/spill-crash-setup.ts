import { compilePipeline } from "../../src/engine/operators/index.ts";
import { operatorRunner } from "../../src/engine/operator-runner.ts";
import { pipelineSchema } from "../../src/config/pipeline-schema.ts";
import type { OutputRecord } from "../../src/sinks/sink.ts";
import type { Row, Txn } from "../../src/types.ts";
import { ins, relation, rng } from "./harness.ts";
import { AGG, workload } from "./orders-workload.ts";

export const CUSTOMERS = relation("public.customers", [["id", 23, "integer", true], ["name", 25, "text"], ["segment", 25, "text"]]);
export const SEGMENTS = ["retail", "b2b", "vip", "staff"];

/**
 * The crash test's pipeline: orders joined with 3,000 customers (static), a 1-minute tumbling
 * window per segment, with a 24 kB budget (~60 join rows or ~150 row contributions).
 */
export async function crashSetup(dir: string, seed: number, n: number) {
  const p = pipelineSchema.parse({
    name: "crash",
    from: "public.orders",
    join: [{ table: "public.customers", on: "customer_id = customers.id", columns: ["segment"], wait: "0s" }],
    window: { type: "tumbling", size: "1m", time: "created_at", key: ["segment"], lateness: "30s" },
    aggregate: AGG,
    state_budget: "24kb",
    to: { sink: "pg", key: ["segment", "window_start"] },
  });
  const compiled = await compilePipeline(p, { pipeline: p.name, reject: () => {}, count: () => {}, maps: {}, configDir: process.cwd(), stateDir: dir });
  const runner = operatorRunner(p, compiled, undefined);
  const r = rng(seed + 1000);
  const customers = new Map<number, Row>();
  for (let id = 1; id <= 3000; id++) customers.set(id, { id, name: `c${id}`, segment: SEGMENTS[Math.floor(r() * SEGMENTS.length)] });
  const { txns, table } = workload(seed, n, true, { customers: 3000 });
  const first: Txn = { lsn: 500n, endLsn: 501n, xid: 500, commitTime: txns[0]!.commitTime - 1_000_000n, changes: [...customers.values()].map((c) => ins(CUSTOMERS, c)) };
  const sink = new Map<string, Row>();
  const apply = (records: OutputRecord[]) => {
    for (const x of records) {
      const k = `${x.row.segment}|${x.row.window_start}`;
      if (x.op === "upsert") sink.set(k, x.row);
      else if (x.op === "delete") sink.delete(k);
    }
  };
  const op = compiled.operators[0] as unknown as { stats(): Record<string, number> };
  const spill = () => {
    const s = op.stats();
    return { rows: s.window_rows_spilled, join: s.join_rows_spilled };
  };
  return { runner, compiled, txns: [first, ...txns], table, customers, sink, apply, spill };
}
