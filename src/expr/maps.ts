import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "csv-parse/sync";
import { usageError } from "../errors.ts";

/**
 * CSV lookup maps for MAP('name', value, default): first column key, second value.
 * A header row is skipped when its first cell is "key" or the file's first key is not data
 * (heuristic: a header whose first cell ends in the word name/key/code). BOM and CRLF are fine.
 */
export function loadMaps(maps: Record<string, string>, configDir: string): Record<string, Map<string, string>> {
  const out: Record<string, Map<string, string>> = {};
  for (const [name, file] of Object.entries(maps)) {
    const path = resolve(configDir, file);
    let records: string[][];
    try {
      records = parse(readFileSync(path), { bom: true, relax_column_count: true, skip_empty_lines: true, trim: true });
    } catch (e) {
      throw usageError("config_map", `maps.${name}: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const m = new Map<string, string>();
    records.forEach((r, i) => {
      if (r.length < 2) return;
      if (i === 0 && /(^|_)(key|name|code|from)$/i.test(r[0]) && /(^|_)(value|group|to|name)$/i.test(r[1])) return;
      if (!m.has(r[0])) m.set(r[0], r[1]);
    });
    out[name] = m;
  }
  return out;
}
