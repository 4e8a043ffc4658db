/** Why the replication stream failed: an error no reconnect can fix, or nothing (reconnect). */
import type { Pg } from "../../db/postgres-client.ts";
import { CdcError, errorMessage } from "../../errors.ts";
import { getSlot } from "./slot.ts";

/** After a stream failure: an error that no retry can fix, or null to reconnect. */
export async function diagnoseStreamFailure(e: unknown, sql: Pg | null, slotName: string, publications: string[]): Promise<Error | null> {
  // prepared_lost: the slot will send that bare COMMIT PREPARED on every reconnect; retrying only
  // stalled the stream for good with a warning a second, where serve means to exit 2 (LOST in serve.ts).
  if (e instanceof CdcError && ["source_role", "slot_lost", "slot_foreign", "source_wal_level", "prepared_lost"].includes(e.code)) return e;
  try {
    const slot = await getSlot(sql!, slotName);
    if (!slot || slot.walStatus === "lost") {
      return new CdcError("slot_lost", `replication slot ${slotName} ${slot ? "was invalidated (its WAL was removed: max_slot_wal_keep_size)" : "was dropped"} while streaming: changes are lost. Start with --resnapshot`, { component: "source" });
    }
    // The walsender looks the publication up as of each change it decodes: once it is dropped,
    // the slot fails on every change after the drop, also after the publication is made again
    // (a restart used to recreate it and then reconnect every second for good, warning only).
    const named = /publication "([^"]+)" does not exist/.exec(errorMessage(e))?.[1];
    for (const name of publications) {
      const [pub] = await sql!`select 1 from pg_publication where pubname = ${name}`;
      if (!pub || name === named) return publicationLost(name, slotName);
    }
    if (named) return publicationLost(named, slotName);
  } catch {
    /* server unreachable: a reconnect will tell */
  }
  return null;
}

/**
 * A publication the slot streams was dropped: the slot cannot decode past the drop (recreating
 * the publication does not help), so only a new slot and a new snapshot go on. Exit 2 (kind
 * "usage"): no restart changes it, the operator decides.
 */
export function publicationLost(publication: string, slot: string): CdcError {
  return new CdcError(
    "publication_lost",
    `publication ${publication} was dropped while replication slot ${slot} streamed it: the slot cannot decode the changes after the drop (PostgreSQL looks the publication up as of each change, so creating it again does not help) and they are lost for this slot. Stop cdc-engine, run \`cdc-engine slot drop --config <file>\`, then start with --resnapshot to read the tables again`,
    { component: "source", kind: "usage" },
  );
}
