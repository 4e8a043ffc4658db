import type { Change, Row } from "../../../types.ts";
import type { OperatorContext } from "../operator.ts";
import { formatTimestamp } from "../../../expr/time.ts";
import { EvalError } from "../../../expr/values.ts";
import type { RowChange, WindowPlan, WindowSettings } from "./types.ts";

/**
 * The late-row rule every window shares: a row whose event time `t` is behind the watermark is
 * counted (cdc_engine_late_rows_total); with `late: dlq` it goes to the DLQ and is not applied
 * (returns false), with `late: update` it is applied and its windows are emitted again. Rows of
 * the initial snapshot are never late.
 */
export function admitLate(t: number, watermarkUs: number, s: WindowSettings, ctx: OperatorContext, row: Row, source: Change): boolean {
  if (!(t < watermarkUs)) return true;
  // A snapshot row is history read in key order, not a row that came late: applied as `late: update`
  // would, and not counted (QA: 571 rows the table already held went to the DLQ as late).
  if (source.op === "read") return true;
  ctx.count("late_rows");
  if (s.late !== "dlq") return true;
  ctx.reject({ row, reason: `late row: event time ${formatTimestamp(t, true)} is behind the watermark ${formatTimestamp(watermarkUs, true)}`, source });
  return false;
}

/** Where a change's old row counted: its exact event time, or the end of the pane it lies in. */
export type OldEventTime = { atUs: number } | { paneEndUs: number };

/**
 * With `late: dlq` an update or delete is refused whole, before its old row is taken back: when
 * the old row's event time is behind the watermark (for panes: the pane lies wholly behind it; a
 * pane straddling it counts as on time), or the new row's event time `newUs` is. The windows stay
 * as they were and the change goes to the DLQ. (Taking the old row back and then refusing the new
 * one dropped the row from its windows for good: a replay from the DLQ was refused as late
 * again.) `newUs` is null where the new row's time cannot be read here (add() refuses such a row
 * with its own reason). Only a change with an old row held in memory is checked here; the rest
 * (nothing to take back, or a contribution the state budget moved to disk) go through admitLate.
 * Returns false when refused.
 */
export function admitLateChange(old: OldEventTime, newUs: number | null, watermarkUs: number, ctx: OperatorContext, row: Row, source: Change): boolean {
  if (source.op === "read") return true; // a snapshot row again (a resumed snapshot): history, as in admitLate
  const wm = formatTimestamp(watermarkUs, true);
  let reason: string | null = null;
  if (newUs !== null && newUs < watermarkUs) reason = `late row: event time ${formatTimestamp(newUs, true)} is behind the watermark ${wm}; the old row stays counted`;
  else if ("atUs" in old && old.atUs < watermarkUs) reason = `late ${source.op}: the old row's event time ${formatTimestamp(old.atUs, true)} is behind the watermark ${wm}; its windows stay as they were`;
  else if ("paneEndUs" in old && old.paneEndUs <= watermarkUs) reason = `late ${source.op}: the old row's event time is before ${formatTimestamp(old.paneEndUs, true)}, behind the watermark ${wm}; its windows stay as they were`;
  if (reason === null) return true;
  ctx.count("late_rows");
  ctx.reject({ row, reason, source });
  return false;
}

/** A change's new event time for admitLateChange: null without a new row or where it cannot be read (add() says why). */
export function newEventTime(plan: WindowPlan, c: RowChange): number | null {
  if (!c.after) return null;
  try {
    const tv = plan.time ? plan.time.fn(c.after) : c.commitUs;
    return typeof tv === "number" && Number.isFinite(tv) ? tv : null;
  } catch (e) {
    if (e instanceof EvalError) return null;
    throw e;
  }
}
