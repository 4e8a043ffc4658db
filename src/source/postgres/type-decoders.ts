/**
 * Text-format value decoding, keyed by type OID: the one place that turns Postgres' text
 * output into the engine's value representation (see src/types.ts). The stream (pgoutput text
 * tuples) and the snapshot (columns read as ::text) both go through here, so a value looks
 * the same whichever path delivered it.
 */
import { BINARY_SCALAR, binaryArray, binaryText, type BinaryDecoder } from "./binary-decoders.ts";
import { withBounds, withDelimiter } from "../../array-bounds.ts";

export type Decoder = (text: string) => unknown;

const asText: Decoder = (t) => t;
const asInt: Decoder = (t) => Number.parseInt(t, 10);
const asBigInt: Decoder = (t) => BigInt(t);
// Number() parses "NaN", "Infinity", "-Infinity" as Postgres prints them.
const asFloat: Decoder = (t) => Number(t);
// "t" from the output function (stream, arrays), "true" from a ::text cast (snapshot).
const asBool: Decoder = (t) => t === "t" || t === "true";

export function decodeBytea(t: string): Uint8Array {
  if (t.startsWith("\\x")) return new Uint8Array(Buffer.from(t.slice(2), "hex"));
  // bytea_output = escape: \\ is a backslash, \ooo an octal byte, anything else literal.
  const out: number[] = [];
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c !== 92) out.push(c);
    else if (t[i + 1] === "\\") out.push(92), i++;
    else out.push(Number.parseInt(t.slice(i + 1, i + 4), 8)), (i += 3);
  }
  return new Uint8Array(out);
}

/** Scalar built-ins whose representation is not the text itself. */
const SCALAR: Record<number, Decoder> = {
  16: asBool,
  17: decodeBytea,
  20: asBigInt, // int8
  21: asInt, // int2
  23: asInt, // int4
  26: asInt, // oid
  28: asInt, // xid
  29: asInt, // cid
  700: asFloat,
  701: asFloat,
};

/** Array type OID → element type OID, for the built-in array types (the rest come from pg_type). */
const BUILTIN_ARRAYS: Record<number, number> = {
  1000: 16, 1001: 17, 1002: 18, 1003: 19, 1005: 21, 1007: 23, 1009: 25, 1028: 26, 1014: 1042, 1015: 1043,
  1016: 20, 1021: 700, 1022: 701, 199: 114, 3807: 3802, 1231: 1700, 2951: 2950, 1182: 1082, 1183: 1083,
  1115: 1114, 1185: 1184, 1187: 1186, 1270: 1266, 1041: 869, 651: 650, 1040: 829, 775: 774, 791: 790, 143: 142,
  1561: 1560, 1563: 1562, 3221: 3220,
};

export interface PgTypeInfo {
  oid: number;
  /** b base, c composite, d domain, e enum, p pseudo, r range, m multirange */
  typtype: string;
  /** Element type for array types (0 otherwise). */
  elem: number;
  /** Base type for domains. */
  base: number;
  delim: string;
  name: string;
}

/**
 * Decoders for one database: built-ins plus what pg_type says about arrays, domains and enums.
 * Unknown OIDs (composites, enums, types created later) decode as text.
 */
export class TypeDecoders {
  private cache = new Map<number, Decoder>();
  private binCache = new Map<number, BinaryDecoder | null>();
  private info = new Map<number, PgTypeInfo>();

  constructor(types: PgTypeInfo[] = []) {
    this.load(types);
  }

  load(types: PgTypeInfo[]): void {
    for (const t of types) this.info.set(t.oid, t);
    this.cache.clear();
    this.binCache.clear();
  }

  /** Whether pgoutput's binary mode gives a value we decode (it sends every column in binary, composites too). */
  hasBinary(oid: number): boolean {
    return this.binaryDecoder(oid) !== null;
  }

  /** Binary-format decoder for the type, or null when only the text format is decoded. */
  binaryDecoder(oid: number): BinaryDecoder | null {
    let d = this.binCache.get(oid);
    if (d === undefined) {
      d = this.buildBinary(oid, 0);
      this.binCache.set(oid, d);
    }
    return d;
  }

  private buildBinary(oid: number, depth: number): BinaryDecoder | null {
    if (depth > 10) return null;
    const scalar = BINARY_SCALAR[oid];
    if (scalar) return scalar;
    const builtinElem = BUILTIN_ARRAYS[oid];
    const t = this.info.get(oid);
    if (builtinElem !== undefined || (t && t.elem && t.typtype === "b" && t.name.startsWith("_"))) {
      const elem = this.buildBinary(builtinElem ?? t!.elem, depth + 1);
      return elem && binaryArray(elem);
    }
    if (t?.typtype === "e") return binaryText; // enum_send: the label
    if (t?.typtype === "d" && t.base) return this.buildBinary(t.base, depth + 1);
    return null;
  }

  /** The type a domain is over (through domains of domains); the type itself otherwise. */
  baseType(oid: number): number {
    for (let depth = 0; depth < 10; depth++) {
      const t = this.info.get(oid);
      if (t?.typtype !== "d" || !t.base) return oid;
      oid = t.base;
    }
    return oid;
  }

  has(oid: number): boolean {
    return oid in SCALAR || oid in BUILTIN_ARRAYS || this.info.has(oid) || oid < 10000;
  }

  decoder(oid: number): Decoder {
    let d = this.cache.get(oid);
    if (!d) {
      d = this.build(oid, 0);
      this.cache.set(oid, d);
    }
    return d;
  }

  decode(oid: number, text: string): unknown {
    return this.decoder(oid)(text);
  }

  private build(oid: number, depth: number): Decoder {
    if (depth > 10) return asText;
    const scalar = SCALAR[oid];
    if (scalar) return scalar;
    const builtinElem = BUILTIN_ARRAYS[oid];
    const t = this.info.get(oid);
    if (builtinElem !== undefined || (t && t.elem && t.typtype === "b" && t.name.startsWith("_"))) {
      const elem = this.build(builtinElem ?? t!.elem, depth + 1);
      const delim = t?.delim ?? ",";
      return (text) => parseArray(text, elem, delim);
    }
    if (t && t.typtype === "d" && t.base) return this.build(t.base, depth + 1);
    return asText;
  }
}

/**
 * Parse a Postgres array literal: `{1,2,NULL}`, nested `{{a,b},{c,d}}`, quoted elements with
 * backslash escapes, an optional `[lo:hi]=` dimension prefix (kept on the array: array-bounds.ts). NULL elements become null.
 */
export function parseArray(text: string, elem: Decoder, delim = ","): unknown[] {
  let i = 0;
  let prefix = "";
  if (text[0] === "[") (i = text.indexOf("=") + 1), (prefix = text.slice(0, i - 1));
  const d = delim.charCodeAt(0);
  function parseLevel(): unknown[] {
    // text[i] is '{'
    i++;
    const out: unknown[] = [];
    if (text.charCodeAt(i) === 125 /* } */) {
      i++;
      return out;
    }
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 123 /* { */) out.push(parseLevel());
      else if (c === 34 /* " */) {
        i++;
        let s = "";
        let start = i;
        for (;;) {
          const ch = text.charCodeAt(i);
          if (ch === 92 /* \ */) {
            s += text.slice(start, i) + text[i + 1];
            i += 2;
            start = i;
          } else if (ch === 34) {
            s += text.slice(start, i);
            i++;
            break;
          } else if (Number.isNaN(ch)) throw new Error(`unterminated array literal: ${text.slice(0, 80)}`);
          else i++;
        }
        out.push(elem(s));
      } else {
        const start = i;
        while (i < text.length && text.charCodeAt(i) !== d && text.charCodeAt(i) !== 125) i++;
        const raw = text.slice(start, i).trim();
        out.push(raw === "NULL" ? null : elem(raw));
      }
      const sep = text.charCodeAt(i);
      i++;
      if (sep === 125) return out;
      if (sep !== d) throw new Error(`malformed array literal: ${text.slice(0, 80)}`);
    }
  }
  const arr = parseLevel();
  withDelimiter(arr, delim); // box[] is split at ';': the postgres sink prints it back so
  return prefix ? withBounds(arr, prefix) : arr;
}

/** pg_type rows the decoders need: arrays, domains, enums (a few hundred rows, read once at start). */
export const PG_TYPE_QUERY = `
  select t.oid::int as oid, t.typtype::text as typtype, t.typelem::int as elem, t.typbasetype::int as base,
         t.typdelim::text as delim, t.typname::text as name
  from pg_type t
  where t.typtype in ('d', 'e') or (t.typelem <> 0 and t.typlen = -1)`;
