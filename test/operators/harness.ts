import type { Change, Column, Relation, Row, Txn } from "../../src/types.ts";
import type { EmittedRow, OperatorContext, RejectedRow } from "../../src/engine/operators/operator.ts";
import { compilePipeline, type CompiledPipeline } from "../../src/engine/operators/index.ts";
import { pipelineSchema } from "../../src/config/pipeline-schema.ts";

/** Test harness: relations, transactions, a context that records rejects/counters, and a keyed sink. */
export function relation(table: string, cols: [name: string, oid: number, typeName?: string, key?: boolean][]): Relation {
  const [schema, name] = table.split(".");
  const columns: Column[] = cols.map(([n, oid, typeName, key]) => ({ name: n, typeOid: oid, typeName, typeMod: -1, isKey: Boolean(key) }));
  return { id: Math.floor(Math.random() * 1e6), schema, name, table, replicaIdentity: "d", columns };
}

let lsn = 1000n;
export function txn(commitIso: string | number, changes: Change[]): Txn {
  lsn += 10n;
  const commitUs = typeof commitIso === "number" ? commitIso : Date.parse(commitIso) * 1000;
  return { lsn, endLsn: lsn + 1n, xid: Number(lsn), commitTime: BigInt(commitUs), changes };
}

export function keyOf(rel: Relation, row: Row): Row {
  const k: Row = {};
  for (const c of rel.columns) if (c.isKey) k[c.name] = row[c.name];
  return k;
}
export const ins = (rel: Relation, after: Row): Change => ({ op: "insert", table: rel.table, relation: rel, key: keyOf(rel, after), after });
/** Default replica identity: the update carries no old row unless the key changed. */
export const upd = (rel: Relation, after: Row, oldKey?: Row): Change => ({ op: "update", table: rel.table, relation: rel, key: keyOf(rel, after), before: oldKey ?? null, after });
export const del = (rel: Relation, key: Row): Change => ({ op: "delete", table: rel.table, relation: rel, key, before: key });

export class Recorder implements OperatorContext {
  pipeline = "test";
  rejected: RejectedRow[] = [];
  counts: Record<string, number> = {};
  reject(r: RejectedRow): void {
    this.rejected.push(r);
  }
  count(metric: string, n = 1): void {
    this.counts[metric] = (this.counts[metric] ?? 0) + n;
  }
}

/** Applies emitted rows the way a keyed sink does (upsert/delete by key). */
export class KeyedSink {
  rows = new Map<string, Row>();
  log: EmittedRow[] = [];
  constructor(readonly key: string[]) {}
  emit = (r: EmittedRow): void => {
    this.log.push(r);
    const k = this.key.map((c) => String(r.row[c])).join("|");
    if (r.op === "upsert") this.rows.set(k, r.row);
    else if (r.op === "delete") this.rows.delete(k);
    else this.rows.clear();
  };
  sorted(): Row[] {
    return [...this.rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
  }
}

export async function build(config: Record<string, unknown>, opts: { maps?: Record<string, string>; configDir?: string; relations?: Map<string, Relation>; stateDir?: string } = {}) {
  const p = pipelineSchema.parse({ name: "test", to: "out", ...config });
  const ctx = new Recorder();
  const compiled: CompiledPipeline = await compilePipeline(p, { ...ctx, reject: (r) => ctx.reject(r), count: (m, n) => ctx.count(m, n), maps: opts.maps ?? {}, configDir: opts.configDir ?? process.cwd(), relations: opts.relations, stateDir: opts.stateDir });
  const sink = new KeyedSink(compiled.key.length ? compiled.key : ["__all"]);
  const op = compiled.operators[0];
  return {
    compiled,
    ctx,
    sink,
    op,
    run(t: Txn) {
      return op.process(t, sink.emit);
    },
    /** Close every window: an idle source seen by the wall clock far in the future. */
    closeAll() {
      op.onWatermark?.(32503680000000, sink.emit);
      op.onWatermark?.(32503680000000 + 3_600_000, sink.emit);
    },
  };
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function jsonSafe(state: unknown): unknown {
  return JSON.parse(JSON.stringify(state, (_k, v) => {
    if (typeof v === "bigint") throw new Error("bigint in snapshot");
    return v;
  }));
}
