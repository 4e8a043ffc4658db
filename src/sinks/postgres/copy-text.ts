import type { OutputRecord } from "../sink.ts";
import { toPgText } from "./values.ts";

/** Characters COPY text format escapes; almost no value has one, so the test decides the path. */
const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIAL_ALL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/**
 * Records as COPY text-format bytes (tab-separated, \N for NULL, backslash/tab/newline/CR
 * escaped), for the columns `cols`. A record with its row in wire form (OutputRecord.wire, a
 * mirror's insert or update) is copied from the bytes pgoutput sent, escaped on the way: the
 * output function's text is what the input function reads back, so printing decoded values
 * again (bigint and number toString, string concat, one UTF-8 encode) was skipped; that was
 * about a third of the engine's CPU in the apply bench (bench/RESULTS.md). Other records are
 * printed from their values.
 */
export function copyData(records: OutputRecord[], cols: string[]): Buffer {
  // Room for every wire line at its worst up front: one allocation, no copies while growing; the
  // pages past what is written are never touched, so they cost no memory.
  let bound = 0;
  for (const r of records) if (r.wire !== undefined) bound += wireBound(r.wire.at, r.wire.end);
  const out = new CopyOut(bound);
  let wireTable: OutputRecord["table"] | null = null;
  for (const r of records) {
    const w = r.wire;
    if (w !== undefined && (r.table === wireTable || (wireCols(r.table.columns, cols) && (wireTable = r.table)))) out.wireLine(w.buf, w.at, w.end);
    else out.text(printLine(r.row, cols));
  }
  return out.done();
}

/** The wire tuple's columns are `cols`, in order (the sink writes every column of the table). */
function wireCols(columns: { name: string }[], cols: string[]): boolean {
  if (columns.length !== cols.length) return false;
  for (let i = 0; i < cols.length; i++) if (columns[i].name !== cols[i]) return false;
  return true;
}

function printLine(row: Record<string, unknown>, cols: string[]): string {
  const last = cols.length - 1;
  let line = "";
  for (let i = 0; i <= last; i++) {
    const v = row[cols[i]];
    const t = typeof v === "string" ? v : toPgText(v);
    // Numbers, bigints and booleans print no character COPY escapes: only text is tested.
    const plain = t === null ? "\\N" : typeof v === "number" || typeof v === "bigint" || typeof v === "boolean" || !COPY_SPECIAL.test(t) ? t : t.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c]);
    line += plain + (i === last ? "\n" : "\t");
  }
  return line;
}

/** Most bytes a wire tuple's COPY line takes: escaping at most doubles a value; a NULL ("\N" + separator) is 3 bytes for its 1. */
function wireBound(at: number, end: number): number {
  return 3 * (end - at) + 1;
}

/** COPY data built in one growing buffer: wire lines byte by byte, printed lines as UTF-8. */
class CopyOut {
  private buf: Buffer;
  private len = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(size, 64 * 1024));
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  text(s: string): void {
    // At most 3 bytes per UTF-16 unit.
    this.room(s.length * 3);
    this.len += this.buf.write(s, this.len, "utf8");
  }

  /** One tuple (column count, then 'n' or 't' + length + bytes per column) as one COPY line. */
  wireLine(src: Buffer, at: number, end: number): void {
    const n = (src[at] << 8) | src[at + 1];
    this.room(wireBound(at, end));
    const dst = this.buf;
    let o = this.len;
    let i = at + 2;
    for (let c = 0; c < n; c++) {
      if (c > 0) dst[o++] = 0x09;
      if (src[i++] === 0x6e /* n */) {
        dst[o++] = 0x5c;
        dst[o++] = 0x4e;
        continue;
      }
      const stop = i + 4 + src.readUInt32BE(i);
      for (i += 4; i < stop; i++) {
        const b = src[i];
        // Bytes below 0x80 never occur inside a multi-byte UTF-8 character: testing bytes is exact.
        if (b === 0x5c) (dst[o++] = 0x5c), (dst[o++] = 0x5c);
        else if (b === 0x09) (dst[o++] = 0x5c), (dst[o++] = 0x74);
        else if (b === 0x0a) (dst[o++] = 0x5c), (dst[o++] = 0x6e);
        else if (b === 0x0d) (dst[o++] = 0x5c), (dst[o++] = 0x72);
        else dst[o++] = b;
      }
    }
    dst[o++] = 0x0a;
    this.len = o;
  }

  done(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}
