import { CdcError } from "../../errors.ts";
import type { Relation } from "../../types.ts";
import { relationChanged } from "./catalog.ts";
import { lookUpMissingValues } from "./missing-values.ts";
import { relationTypes } from "./pgoutput.ts";
import type { StreamReaderOptions } from "./stream-reader-options.ts";

// Relation messages in the stream (moved out of stream-reader.ts): checked for binary decoders,
// and noted as the table's current shape, a schema change when its columns differ.

/**
 * In binary mode every column of a table must have a binary decoder. Checked when the Relation
 * message arrives, before anything of its transaction is handed over, so the source can
 * reconnect in text mode and the server sends that transaction again.
 */
export async function checkBinary(o: StreamReaderOptions, m: Buffer, hasXid: boolean): Promise<void> {
  const rel = relationTypes(m, hasXid);
  if (o.refreshTypes && rel.columns.some((c) => !o.types.has(c.typeOid))) await o.refreshTypes();
  const bad = rel.columns.find((c) => !o.types.hasBinary(c.typeOid));
  if (bad) {
    throw new CdcError("source_binary_unsupported", `column ${rel.table}.${bad.name} (type oid ${bad.typeOid}) has no binary decoder`, { component: "source" });
  }
}

/**
 * A Relation message: the relation as the source now has it, with the catalog's type names and
 * missing values of its columns and its key; the relation when its columns changed (announced
 * through onSchemaChange), else null.
 */
export async function noteRelation(o: StreamReaderOptions, rel: Relation): Promise<Relation | null> {
  if (o.refreshTypes && rel.columns.some((c) => !o.types.has(c.typeOid))) await o.refreshTypes();
  const prev = o.known.get(rel.id);
  if (prev) {
    for (const c of rel.columns) {
      const same = prev.columns.find((p) => p.name === c.name && p.typeOid === c.typeOid && p.typeMod === c.typeMod);
      c.typeName = same?.typeName;
      if (same?.missing !== undefined) c.missing = same.missing;
    }
  }
  // A column added or retyped while streaming: its exact type, as the catalog names it. Without
  // it a sink created numeric(10,2) as numeric, varchar(5) as varchar, and inet, enums or an
  // int8[] as text (where the array's text then differed from the source's).
  const unnamed = rel.columns.filter((c) => c.typeName === undefined);
  if (unnamed.length && o.formatTypes) {
    try {
      const names = await o.formatTypes(unnamed.map((c) => ({ oid: c.typeOid, mod: c.typeMod })));
      unnamed.forEach((c, i) => (c.typeName = names[i] ?? undefined));
    } catch (e) {
      o.log.warn({ table: rel.table, err: (e as Error).message }, `cannot look up the types of new columns of ${rel.table}; sinks fall back to a type by OID`);
    }
  }
  if (prev && o.missingValues) {
    const lost = await lookUpMissingValues(rel, prev, o.missingValues).catch((e) => {
      o.log.warn({ table: rel.table, err: (e as Error).message }, `cannot look up the defaults of new columns of ${rel.table}; a sink adds them empty to the rows it has`);
      return [];
    });
    if (lost.length) o.log.warn({ table: rel.table, columns: lost }, `new columns ${lost.join(", ")} of ${rel.table} have a default the table's rows got in a rewrite (a volatile default such as now() or a serial, or a rewrite since), which logical decoding does not send: the rows copied before keep them empty; serve --resnapshot reads the table again`);
  }
  // REPLICA IDENTITY FULL flags every column as identity; the row's key is still its primary key
  // (otherwise every update looks like a key change). Without a primary key the whole row stays the identity.
  const pk = prev && rel.replicaIdentity === "f" ? new Set(prev.columns.filter((c) => c.isKey).map((c) => c.name)) : null;
  // No primary key (pk empty): the row has no key at all; sinks treat the table as keyless and `before` carries the whole old row.
  if (pk && pk.size < rel.columns.length) for (const c of rel.columns) c.isKey = pk.has(c.name);
  const changed = relationChanged(prev, rel);
  o.known.set(rel.id, rel);
  if (!changed) return null;
  o.log.info({ table: rel.table, columns: rel.columns.map((c) => c.name) }, `schema change on ${rel.table}`);
  o.onSchemaChange?.(rel);
  return rel;
}
