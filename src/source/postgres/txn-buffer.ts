/**
 * The raw pgoutput data messages of one open transaction. Kept in memory up to a byte
 * budget, then everything goes to a spill file under the state dir (length-prefixed
 * records, written in 1 MiB blocks) so RSS stays flat whatever the transaction size.
 * Streamed in-progress transactions (protocol v2+) start on disk and are deleted on abort.
 */
import { closeSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

const BLOCK = 1 << 20;

export class TxnBuffer {
  private mem: Buffer[] = [];
  private fd: number | null = null;
  private path: string | null = null;
  /** Write block, allocated only once the transaction spills. */
  private block: Buffer | null = null;
  private blockLen = 0;
  bytes = 0;
  count = 0;
  /** Subtransactions aborted inside a streamed transaction: their changes are skipped. */
  readonly abortedSubxids = new Set<number>();

  constructor(
    private dir: string,
    private name: string,
    private budget: number,
  ) {
    if (budget <= 0) this.openFile();
  }

  get spilled(): boolean {
    return this.fd !== null;
  }

  add(msg: Buffer): void {
    this.bytes += msg.length;
    this.count++;
    if (this.fd === null) {
      // Kept as the view it is: each socket chunk is a buffer of its own (Bun allocates every read
      // anew; postgres.js' framing concatenates into new ones), never reused. Copying each message
      // into a slab cost a copy and a view per message (~4 % of the apply profile).
      this.mem.push(msg);
      if (this.bytes > this.budget) {
        this.openFile();
        for (const m of this.mem) this.write(m);
        this.mem = [];
      }
    } else this.write(msg);
  }

  /** Messages in order (from memory or the spill file). A spilled message is only valid until the next one is read. */
  *messages(): Generator<Buffer> {
    if (this.fd === null) {
      yield* this.mem;
      return;
    }
    this.flush();
    let pos = 0;
    let buf = Buffer.allocUnsafe(BLOCK);
    let have = 0;
    let at = 0;
    for (;;) {
      if (have - at < 4 || have - at < 4 + buf.readUInt32LE(at)) {
        // Refill: keep the unread tail, grow for records bigger than a block.
        const tail = have - at;
        const need = tail >= 4 ? 4 + buf.readUInt32LE(at) : BLOCK;
        const next = need > buf.length ? Buffer.allocUnsafe(need + BLOCK) : buf;
        buf.copy(next, 0, at, have);
        buf = next;
        have = tail;
        at = 0;
        const n = readSync(this.fd, buf, have, buf.length - have, pos);
        pos += n;
        have += n;
        if (n === 0) {
          if (have - at !== 0) throw new Error(`spill file ${this.path} truncated`);
          return;
        }
        continue;
      }
      const len = buf.readUInt32LE(at);
      // A view into the read block, valid until the next message is asked for (the decoder copies
      // what it keeps): no allocation per message, which keeps the garbage of a huge transaction down.
      yield buf.subarray(at + 4, at + 4 + len);
      at += 4 + len;
    }
  }

  /** Release memory and delete the spill file. */
  discard(): void {
    this.mem = [];
    this.block = null;
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
      try {
        unlinkSync(this.path!);
      } catch {
        /* already gone */
      }
    }
  }

  private openFile(): void {
    mkdirSync(this.dir, { recursive: true });
    this.path = join(this.dir, `${this.name}-${process.pid}-${Date.now()}.spill`);
    this.fd = openSync(this.path, "w+");
    this.block = Buffer.allocUnsafe(BLOCK);
  }

  private write(msg: Buffer): void {
    if (this.blockLen + 4 + msg.length > BLOCK) this.flush();
    if (4 + msg.length > BLOCK) {
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32LE(msg.length, 0);
      writeSync(this.fd!, head);
      writeSync(this.fd!, msg);
      return;
    }
    this.block!.writeUInt32LE(msg.length, this.blockLen);
    msg.copy(this.block!, this.blockLen + 4);
    this.blockLen += 4 + msg.length;
  }

  private flush(): void {
    if (this.blockLen) writeSync(this.fd!, this.block!, 0, this.blockLen);
    this.blockLen = 0;
  }
}
