import type { Source, SourceStartOptions, SourceStats } from "../../src/source/source.ts";
import type { Health } from "../../src/sinks/sink.ts";
import type { Column, Lsn, Relation, Row, Txn, Change } from "../../src/types.ts";

/**
 * A Source that replays a fixed list of transactions from the start (as a slot would from
 * its confirmed position) and records what the engine confirmed.
 */
export class FakeSource implements Source {
  confirmed: Lsn[] = [];
  startedWith: Lsn | null | undefined;
  private resolveDone!: (e: Error | null) => void;
  done = new Promise<Error | null>((r) => (this.resolveDone = r));
  private stopped = false;
  delivered = 0;

  /** `relations`: the catalog's tables at start (default: those of `txns`). */
  constructor(private txns: Txn[], private opts: { from?: Lsn; relations?: Relation[] } = {}) {}

  async start(o: SourceStartOptions): Promise<void> {
    this.startedWith = o.checkpointLsn;
    // As a source does from its catalog: the tables' columns before any row.
    o.onRelations?.(this.opts.relations ?? [...new Map(this.txns.flatMap((t) => t.changes.map((c) => [c.table, c.relation] as const))).values()]);
    for (const t of this.txns) {
      if (this.stopped) break;
      if (this.opts.from !== undefined && t.lsn <= this.opts.from) continue;
      await o.onTxn(t);
      this.delivered++;
    }
  }
  confirm(lsn: Lsn): void {
    const last = this.confirmed.at(-1);
    if (last !== undefined && lsn < last) throw new Error(`confirm went backwards: ${lsn} < ${last}`);
    this.confirmed.push(lsn);
  }
  health(): Health {
    return { status: "up" };
  }
  stats(): SourceStats {
    return { receivedLsn: null, confirmedLsn: this.confirmed.at(-1) ?? null, lagBytes: 0, lagSeconds: 0, slotRetainedBytes: 0 };
  }
  async stop(): Promise<void> {
    this.stopped = true;
    this.resolveDone(null);
  }
}

export function col(name: string, typeName: string, typeOid: number, isKey = false): Column {
  return { name, typeName, typeOid, typeMod: -1, isKey };
}

export function relation(table: string, columns: Column[], replicaIdentity = "d", id = 1): Relation {
  const [schema, name] = table.split(/\.(.*)/s);
  return { id, schema, name, table, replicaIdentity, columns };
}

let lsnCounter = 0x1000000n;
export function txn(changes: Change[], extra: Partial<Txn> = {}): Txn {
  lsnCounter += 0x100n;
  return { lsn: lsnCounter, endLsn: lsnCounter + 8n, xid: Number(lsnCounter & 0xffffn), commitTime: 1_700_000_000_000_000n, changes, ...extra };
}

export const ins = (rel: Relation, after: Row): Change => ({ op: "insert", table: rel.table, relation: rel, after });
export const upd = (rel: Relation, after: Row, before: Row | null = null, unchangedToast?: string[]): Change => ({ op: "update", table: rel.table, relation: rel, after, before, unchangedToast });
export const del = (rel: Relation, key: Row): Change => ({ op: "delete", table: rel.table, relation: rel, key, before: key });
export const trunc = (rel: Relation): Change => ({ op: "truncate", table: rel.table, relation: rel, truncate: { cascade: false, restartIdentity: false } });
