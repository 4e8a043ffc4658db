import type { Change, Row } from "../../../types.ts";
import type { OperatorContext } from "../operator.ts";
import { formatTimestamp } from "../../../expr/time.ts";
import type { WindowSettings } from "./types.ts";

/**
 * The late-row rule every window shares: a row whose event time `t` is behind the watermark is
 * counted (cdc_engine_late_rows_total); with `late: dlq` it goes to the DLQ and is not applied
 * (returns false), with `late: update` it is applied and its windows are emitted again.
 */
export function admitLate(t: number, watermarkUs: number, s: WindowSettings, ctx: OperatorContext, row: Row, source: Change): boolean {
  if (!(t < watermarkUs)) return true;
  ctx.count("late_rows");
  if (s.late !== "dlq") return true;
  ctx.reject({ row, reason: `late row: event time ${formatTimestamp(t, true)} is behind the watermark ${formatTimestamp(watermarkUs, true)}`, source });
  return false;
}
