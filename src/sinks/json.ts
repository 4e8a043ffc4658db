/**
 * JSON text for rows without losing exactness: bigint is written as a bare JSON number
 * (the digits, not a float), Uint8Array as base64, everything else as JSON.stringify does.
 */
export function toJsonText(value: unknown): string {
  let hasBig = false;
  const text = JSON.stringify(value, (_k, v) => {
    if (typeof v === "bigint") {
      hasBig = true;
      return `\u0000big:${v.toString()}\u0000`;
    }
    if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
    return v;
  });
  return hasBig ? text.replace(/"\\u0000big:(-?\d+)\\u0000"/g, "$1") : text;
}
