/** Shared builders for sink tests: output tables, records, batches and a context that captures dead letters. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import type { Column } from "../../src/types.ts";
import type { OutputBatch, OutputRecord, OutputTable, SinkContext } from "../../src/sinks/sink.ts";

export const OID = {
  bool: 16, bytea: 17, int8: 20, int2: 21, int4: 23, text: 25, json: 114, float8: 701, int4arr: 1007, bpchar: 1042,
  varchar: 1043, date: 1082, time: 1083, timestamp: 1114, timestamptz: 1184, interval: 1186, numeric: 1700, uuid: 2950, jsonb: 3802,
} as const;

export function col(name: string, typeOid: number, opts: { typeMod?: number; key?: boolean; typeName?: string } = {}): Column {
  return { name, typeOid, typeMod: opts.typeMod ?? -1, isKey: opts.key ?? false, typeName: opts.typeName };
}
/** numeric(p,s) / varchar(n) type modifiers as Postgres encodes them. */
export const numericMod = (p: number, s: number) => ((p << 16) | s) + 4;
export const varcharMod = (n: number) => n + 4;

export function table(name: string, columns: Column[], key: string[]): OutputTable {
  return { name, columns, key };
}

export function rec(t: OutputTable, op: OutputRecord["op"], row: Record<string, unknown>, lsn: bigint, index = 0, extra: Partial<OutputRecord> = {}): OutputRecord {
  return { op, table: t, row, lsn, index, commitTime: BigInt(Date.now()) * 1000n, source: { table: "public.src", op: op === "delete" ? "delete" : "insert", xid: Number(lsn) }, ...extra };
}

export function batch(pipeline: string, records: OutputRecord[], lsn?: bigint): OutputBatch {
  return { pipeline, records, lsn: lsn ?? records.reduce((m, r) => (r.lsn > m ? r.lsn : m), 0n) };
}

export interface TestContext extends SinkContext {
  dead: { record: OutputRecord; error: string; pipeline?: string }[];
}

export function context(name: string, targets: SinkContext["targets"] = [], stateDir = mkdtempSync(join(tmpdir(), "cdc-sink-"))): TestContext {
  const dead: TestContext["dead"] = [];
  return { name, targets, stateDir, log: pino({ level: "silent" }), deadLetter: ((record: OutputRecord, error: string, pipeline?: string) => dead.push({ record, error, pipeline })) as SinkContext["deadLetter"], dead };
}

export function uniq(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * A TCP proxy we can cut and restore, to play an outage of a shared server without
 * stopping the server others use.
 */
export class TcpProxy {
  private server: { stop(closeActive?: boolean): void; port: number } | null = null;
  private sockets = new Set<{ end(): void }>();
  constructor(private readonly targetHost: string, private readonly targetPort: number, public port = 0) {}

  start(): this {
    type Peer = { peer?: { write(d: Uint8Array): number; end(): void }; pending: Uint8Array[] };
    const server = Bun.listen<Peer>({
      hostname: "127.0.0.1",
      port: this.port,
      socket: {
        open: (client) => {
          client.data = { pending: [] };
          this.sockets.add(client);
          Bun.connect({
            hostname: this.targetHost,
            port: this.targetPort,
            socket: {
              open: (up) => {
                this.sockets.add(up);
                client.data.peer = up;
                for (const d of client.data.pending) up.write(d);
                client.data.pending = [];
              },
              data: (_up, d) => void client.write(d),
              close: () => void client.end(),
              error: () => void client.end(),
            },
          }).catch(() => client.end());
        },
        data: (client, d) => {
          if (client.data.peer) client.data.peer.write(d);
          else client.data.pending.push(new Uint8Array(d));
        },
        close: (client) => client.data.peer?.end(),
        error: (client) => client.data.peer?.end(),
      },
    });
    this.server = server;
    this.port = server.port;
    return this;
  }

  /** Drop every connection and stop listening: the server looks down. */
  cut(): void {
    this.server?.stop(true);
    this.server = null;
    for (const s of this.sockets) s.end();
    this.sockets.clear();
  }
}
