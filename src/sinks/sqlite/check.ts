import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { SqliteSinkConfig } from "./config.ts";

export async function checkSqliteSink(config: SqliteSinkConfig): Promise<string> {
  const path = resolve(config.path);
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { create: true });
  try {
    const row = db.query("select sqlite_version() as v").get() as { v: string };
    return `sqlite ${row.v}, file ${path}`;
  } finally {
    db.close();
  }
}
