import type { OutputRecord } from "../sink.ts";
import { toJsonText } from "../json.ts";

/**
 * A `type: string` key holding the whole row as JSON, for an update that did not touch a large
 * (TOASTed) column: pgoutput does not send that column, and SET of the row without it dropped
 * the stored value. The new JSON takes those columns' JSON text from the value the key holds
 * before this record: the one an earlier record of the batch set, else the one in Redis (read
 * here, one GET per key, only for such records). Fragments are copied as text, never parsed
 * into numbers, so an int8 or numeric keeps every digit. A column the held value lacks (the key
 * expired or never had it) stays out, as before.
 *
 * Returns the JSON to SET for each such record; the other records are written as they are.
 */
export async function toastMerged(records: readonly OutputRecord[], keyOf: (r: OutputRecord) => string | null, read: (keys: string[]) => Promise<(string | null)[]>): Promise<Map<OutputRecord, string>> {
  const out = new Map<OutputRecord, string>();
  if (!records.some(partial)) return out;
  const written = new Set<string>();
  const toRead = new Set<string>();
  for (const r of records) {
    const k = keyOf(r);
    if (k === null) continue;
    if (partial(r) && !written.has(k)) toRead.add(k);
    written.add(k);
  }
  const keys = [...toRead];
  const held = keys.length ? await read(keys) : [];
  const current = new Map<string, string | null>(keys.map((k, i) => [k, held[i] ?? null]));
  for (const r of records) {
    const k = keyOf(r);
    if (k === null || r.op === "truncate") continue;
    if (r.op === "delete") {
      current.set(k, null);
      continue;
    }
    if (!partial(r)) {
      current.set(k, toJsonText(r.row));
      continue;
    }
    const json = mergedRow(r, current.get(k) ?? null);
    out.set(r, json);
    current.set(k, json);
  }
  return out;
}

function partial(r: OutputRecord): boolean {
  return r.op === "upsert" && (r.unchangedToast?.length ?? 0) > 0;
}

/** The record's row as JSON, in column order, its unchanged-TOAST columns taken from `held`. */
function mergedRow(r: OutputRecord, held: string | null): string {
  const fields = held === null ? null : topLevelFields(held);
  const skip = new Set(r.unchangedToast);
  const parts: string[] = [];
  for (const c of r.table.columns) {
    if (skip.has(c.name)) {
      const raw = fields?.get(c.name);
      if (raw !== undefined) parts.push(`${JSON.stringify(c.name)}:${raw}`);
      continue;
    }
    const v = r.row[c.name];
    if (v !== undefined) parts.push(`${JSON.stringify(c.name)}:${toJsonText(v)}`);
  }
  return `{${parts.join(",")}}`;
}

/**
 * The members of a JSON object as name → the raw text of its value, without parsing the values;
 * null when `json` is no object (a value another writer set).
 */
export function topLevelFields(json: string): Map<string, string> | null {
  let i = skipWs(json, 0);
  if (json[i] !== "{") return null;
  const out = new Map<string, string>();
  i = skipWs(json, i + 1);
  if (json[i] === "}") return out;
  for (;;) {
    if (json[i] !== '"') return null;
    const nameEnd = stringEnd(json, i);
    if (nameEnd < 0) return null;
    let name: string;
    try {
      name = JSON.parse(json.slice(i, nameEnd)) as string;
    } catch {
      return null;
    }
    i = skipWs(json, nameEnd);
    if (json[i] !== ":") return null;
    const from = skipWs(json, i + 1);
    const to = valueEnd(json, from);
    if (to < 0) return null;
    out.set(name, json.slice(from, to));
    i = skipWs(json, to);
    if (json[i] === ",") i = skipWs(json, i + 1);
    else if (json[i] === "}") return out;
    else return null;
  }
}

function skipWs(s: string, i: number): number {
  while (i < s.length && (s[i] === " " || s[i] === "\n" || s[i] === "\t" || s[i] === "\r")) i++;
  return i;
}

/** Index after the string literal starting at `i` (a quote), or -1. */
function stringEnd(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === "\\") j++;
    else if (s[j] === '"') return j + 1;
  }
  return -1;
}

/** Index after the JSON value starting at `i`, or -1. */
function valueEnd(s: string, i: number): number {
  if (s[i] === '"') return stringEnd(s, i);
  if (s[i] === "{" || s[i] === "[") {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const c = s[j];
      if (c === '"') {
        j = stringEnd(s, j) - 1;
        if (j < 0) return -1;
      } else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  let j = i;
  while (j < s.length && s[j] !== "," && s[j] !== "}" && s[j] !== " " && s[j] !== "\n" && s[j] !== "\t" && s[j] !== "\r") j++;
  return j > i ? j : -1;
}
