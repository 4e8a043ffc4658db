import type { Pg } from "../../db/postgres-client.ts";
import { CdcError } from "../../errors.ts";
import { getSlot, type SlotInfo } from "./slot.ts";

/**
 * The configured slot as found at start, refused when it is not ours to stream (another
 * plugin's or database's) or another consumer streams it. `slot` is null when missing or
 * invalidated; `exists`: there is one to drop before it is made again.
 */
export async function lookUpSlot(sql: Pg, name: string): Promise<{ slot: SlotInfo | null; exists: boolean }> {
  const slot = await getSlot(sql, name);
  const [{ db }] = await sql`select current_database()::text as db`;
  if (slot && (slot.plugin !== "pgoutput" || slot.database !== db)) {
    throw new CdcError("slot_foreign", `replication slot ${name} exists but is not a pgoutput slot of database ${db} (plugin ${slot.plugin}, database ${slot.database}); configure another source.slot`, { kind: "usage", component: "source" });
  }
  if (slot?.active) {
    throw new CdcError("slot_active", `replication slot ${name} is active for PID ${slot.activePid}: another cdc-engine (or consumer) is streaming from it; stop it or configure a different source.slot`, { component: "source" });
  }
  // invalidated: WAL is gone, same as missing
  return { slot: slot?.walStatus === "lost" ? null : slot, exists: slot !== null };
}
