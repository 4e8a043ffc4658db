import type { PipelineConfig } from "./pipeline-schema.ts";

/** "schema.table" for a `from:` entry ("orders" → "public.orders"). */
export function qualify(ref: string): string {
  return ref.includes(".") ? ref : `public.${ref}`;
}

/** A pipeline's `from:` entries, qualified ("schema.table" or "schema.*"). */
export function fromTables(p: PipelineConfig): string[] {
  return (Array.isArray(p.from) ? p.from : [p.from]).map(qualify);
}

/** Whether a table ("schema.table") is one of `patterns` ("schema.table", or "schema.*" for every table of the schema). */
export function tableMatcher(patterns: string[]): (table: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.endsWith(".*")));
  const schemas = patterns.filter((p) => p.endsWith(".*")).map((p) => p.slice(0, -1));
  return (table) => exact.has(table) || schemas.some((s) => table.startsWith(s));
}
