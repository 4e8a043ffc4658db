/**
 * Operator state as JSON text that keeps bigint and bytes exact (JSON has neither):
 * bigint → {"$bigint":"123"}, Uint8Array → {"$bytes":"base64"}.
 */
export function encodeState(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (typeof v === "bigint") return { $bigint: v.toString() };
    if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString("base64") };
    if (v instanceof Map) return { $map: [...v.entries()] };
    return v;
  });
}

export function decodeState(text: string): unknown {
  return JSON.parse(text, (_k, v) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1) {
        if (keys[0] === "$bigint") return BigInt(v.$bigint);
        if (keys[0] === "$bytes") return new Uint8Array(Buffer.from(v.$bytes, "base64"));
        if (keys[0] === "$map") return new Map(v.$map);
      }
    }
    return v;
  });
}
