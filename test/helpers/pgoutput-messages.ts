/** pgoutput messages built by hand for decoder tests (relation 1 = public.t; a column named "id" is the key). */

export function relationMessage(cols: [string, number][]): Buffer {
  const parts = [Buffer.from([0x52, 0, 0, 0, 1]), Buffer.from("public\0t\0"), Buffer.from([0x64, 0, cols.length])];
  for (const [name, oid] of cols) {
    const t = Buffer.alloc(8);
    t.writeUInt32BE(oid, 0);
    t.writeInt32BE(-1, 4);
    parts.push(Buffer.from([name === "id" ? 1 : 0]), Buffer.from(name + "\0"), t);
  }
  return Buffer.concat(parts);
}

/** One tuple: a value as text ('t'), null ('n') or undefined for an unchanged TOAST value ('u'). */
export function tuple(vals: (string | null | undefined)[]): Buffer {
  const n = Buffer.alloc(2);
  n.writeUInt16BE(vals.length);
  const parts = [n];
  for (const v of vals) {
    if (v === null) parts.push(Buffer.from("n"));
    else if (v === undefined) parts.push(Buffer.from("u"));
    else {
      const b = Buffer.from(v);
      const h = Buffer.alloc(5);
      h[0] = 0x74;
      h.writeUInt32BE(b.length, 1);
      parts.push(h, b);
    }
  }
  return Buffer.concat(parts);
}

/** An insert into relation 1. */
export const insertMessage = (vals: (string | null | undefined)[]) => Buffer.concat([Buffer.from([0x49, 0, 0, 0, 1, 0x4e]), tuple(vals)]);
