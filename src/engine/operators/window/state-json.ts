import { decodeState, encodeState } from "../../state-codec.ts";
import { encodeValue } from "../../../expr/values.ts";
import { Dec } from "../../../expr/decimal.ts";

/**
 * Window state as JSON text made here, without the checkpoint codec's replacer function.
 *
 * The checkpoint store encodes operator state with a JSON.stringify replacer (bigint and bytes
 * exact), which JavaScriptCore runs per value: ~5× slower than a plain stringify. A window's
 * delta holds every row since the previous checkpoint (scenario 2: ~10 MB per 10 s at 3,333
 * rows/s), and the engine stands still while a checkpoint is taken, so that time was latency.
 * Window state is built from encodeCell() values (bigint and decimals as {b}/{d}, bytes as
 * {$bytes}), which plain JSON keeps exact; the store then only copies one string.
 */
export function encodeCell(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  return encodeValue(v);
}

/** One value as JSON text, the same as stateToJson(encodeCell(v)) gives, without building the cell. */
export function cellText(v: unknown): string {
  switch (typeof v) {
    case "number":
      // as encodeValue() keeps NaN/±Infinity and -0 (String(-0) is "0")
      return Number.isFinite(v) ? (v === 0 && 1 / v < 0 ? '{"f":"-0"}' : String(v)) : `{"f":"${v}"}`;
    case "string":
      return JSON.stringify(v);
    case "boolean":
      return v ? "true" : "false";
    case "bigint":
      return `{"b":"${v}"}`;
    case "undefined":
      return "null";
  }
  if (v === null) return "null";
  if (v instanceof Dec) return `{"d":"${v.toString()}"}`;
  return stateToJson(encodeCell(v));
}

/** State as text: a plain stringify, or the codec's when a value still needs it (a bigint inside a JSON value). */
export function stateToJson(state: unknown): string {
  try {
    return JSON.stringify(state);
  } catch {
    return encodeState(state);
  }
}

/** Back from stateToJson(): the codec's reviver only when its markers are in the text. */
export function stateFromJson(text: string): unknown {
  return text.includes('"$bytes"') || text.includes('"$bigint"') || text.includes('"$map"') ? decodeState(text) : JSON.parse(text);
}

/** A checkpoint part that is stateToJson() text ({ json }), or an object as older checkpoints hold it. */
export function unwrapState(s: unknown): unknown {
  return s !== null && typeof s === "object" && typeof (s as { json?: unknown }).json === "string" ? stateFromJson((s as { json: string }).json) : s;
}
