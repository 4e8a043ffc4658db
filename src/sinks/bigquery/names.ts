import { targetTableName } from "../mysql/ddl.ts";

/**
 * BigQuery table ids hold letters, marks, numbers, connectors (`_`), dashes and spaces (Google's
 * table naming rules); Postgres names may also hold dots, quotes, `/`, `#`, `?`... A source table
 * `"Sales Data"."Orders ""2024"".v1"` became the id `Sales Data_Orders "2024".v1`: BigQuery refuses
 * it, and the stand-in (which did not decode the URL) answered 404 on every insertAll, so the sink
 * retried that batch for good and held the pipeline. Every other character becomes `_`, as the
 * schema's dot already does ("sales.x" → "sales_x"); two names that come out the same are caught
 * by TableOwners (the first written owns the id, the other's records go to the DLQ).
 */
export function bigqueryTableName(name: string): string {
  return targetTableName(name).replace(/[^\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]/gu, "_");
}
