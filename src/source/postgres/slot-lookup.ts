import type { Pg } from "../../db/postgres-client.ts";
import { CdcError } from "../../errors.ts";
import { getSlot, type SlotInfo } from "./slot.ts";

/** Slots this process has streamed from: an in-process restart may find its own old walsender still on one. */
const streamedHere = new Set<string>();

/**
 * How long a start without a checkpoint waits for an active slot to be let go before calling it
 * taken: the walsender of this engine's own start killed before its first checkpoint (kill -9
 * mid-snapshot, then an immediate restart) ends within moments of its connection closing.
 */
const OWN_WALSENDER_GONE_MS = 5_000;

/**
 * The configured slot as found at start, refused when it is not ours to stream (another
 * plugin's or database's) or another consumer streams it. `slot` is null when missing or
 * invalidated; `exists`: there is one to drop before it is made again.
 *
 * `checkpointed`: the state dir holds a checkpoint. Without one, a slot another process streams
 * from is not this engine's: a second engine sharing the slot (another state dir) waited, and
 * once the first one stopped it dropped the slot and made it again for its own snapshot, so the
 * first one's next start found its changes lost (QA). Refused with exit 2 instead.
 */
export async function lookUpSlot(sql: Pg, name: string, checkpointed: boolean): Promise<{ slot: SlotInfo | null; exists: boolean }> {
  let slot = await getSlot(sql, name);
  const [{ db }] = await sql`select current_database()::text as db`;
  if (slot && (slot.plugin !== "pgoutput" || slot.database !== db)) {
    throw new CdcError("slot_foreign", `replication slot ${name} exists but is not a pgoutput slot of database ${db} (plugin ${slot.plugin}, database ${slot.database}); configure another source.slot`, { kind: "usage", component: "source" });
  }
  for (const until = Date.now() + OWN_WALSENDER_GONE_MS; slot?.active && !checkpointed && !streamedHere.has(name) && Date.now() < until; ) {
    await Bun.sleep(200);
    slot = await getSlot(sql, name);
  }
  if (slot?.active && !checkpointed && !streamedHere.has(name)) {
    throw new CdcError(
      "slot_taken",
      `replication slot ${name} is in use by PID ${slot.activePid} (another cdc-engine or consumer), and this state dir holds no checkpoint of it: this engine would drop it and make it again once it is free, taking it from its owner. Give this config its own source.slot and source.publication (if PID ${slot.activePid} is this engine's own connection left by a crash, start again once it is gone)`,
      { kind: "usage", component: "source" },
    );
  }
  if (slot?.active) {
    throw new CdcError("slot_active", `replication slot ${name} is active for PID ${slot.activePid}: another cdc-engine (or consumer) is streaming from it; stop it or configure a different source.slot`, { component: "source" });
  }
  streamedHere.add(name);
  // invalidated: WAL is gone, same as missing
  return { slot: slot?.walStatus === "lost" ? null : slot, exists: slot !== null };
}
