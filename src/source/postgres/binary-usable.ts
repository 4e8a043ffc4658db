import type { Logger } from "pino";
import type { Relation } from "../../types.ts";
import type { TypeDecoders } from "./type-decoders.ts";

/**
 * source.binary: binary values need PostgreSQL 14+ and a binary decoder for every captured
 * column (pgoutput sends every column in binary then). Otherwise text, with a warning naming why.
 */
export function binaryUsable(relations: Map<string, Relation>, types: TypeDecoders, serverVersion: number, log: Logger): boolean {
  if (serverVersion < 140000) {
    log.warn("source.binary: binary pgoutput values need PostgreSQL 14 or later; decoding the text format (same values)");
    return false;
  }
  for (const rel of relations.values()) {
    const bad = rel.columns.find((col) => !types.hasBinary(col.typeOid));
    if (bad) {
      log.warn({ table: rel.table, column: bad.name, type: bad.typeName }, `source.binary: column ${rel.table}.${bad.name} (${bad.typeName}) has no binary decoder; decoding the text format (same values)`);
      return false;
    }
  }
  return true;
}
