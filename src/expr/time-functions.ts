/** EXTRACT/DATE_PART and the field functions (YEAR(), HOUR(), …), and DATE_DIFF's units. */
import { Dec } from "./decimal.ts";
import { type Compiled, CompileError } from "./compile.ts";
import { type Fn, arity, constText, strict, time } from "./function-args.ts";
import { T } from "./types.ts";
import { finiteTime } from "./values.ts";
import { field, MICROS_PER_DAY } from "./time.ts";

/**
 * A field of ±infinity: Postgres answers ±Infinity for the unbounded ones (year, epoch, …), which
 * an exact integer cannot hold (a row error), and NULL for the others (month, dow, hour, …).
 */
function infiniteField(v: number, f: string): null {
  if (f === "year" || f === "decade" || f === "century" || f === "millennium" || f === "epoch") finiteTime(v);
  return null;
}

export function timeField(f: string): Fn {
  return (args) => {
    arity(f.toUpperCase(), args, 1);
    return strict(T.int, [time(args[0], f)], (v) => (Number.isFinite(v) ? field(v, f) : infiniteField(v, f)));
  };
}

export function extract(unitArg: Compiled, src: Compiled, name: string): Compiled {
  const unit = constText(unitArg, name).replace(/s$/, (m) => (unitArg.literal!.value === "seconds" || unitArg.literal!.value === "years" ? "" : m));
  const t = time(src, name);
  switch (unit) {
    case "epoch":
      // a date's epoch has no fraction in Postgres; a timestamp's has six digits
      return strict(T.numeric, [t], (v: number) => (t.type.kind === "date" ? new Dec(BigInt(finiteTime(v) / 1_000_000), 0) : new Dec(BigInt(finiteTime(v)), 6)));
    case "second":
      return strict(T.numeric, [t], (v: number) => (Number.isFinite(v) ? new Dec(BigInt(((v % 60_000_000) + 60_000_000) % 60_000_000), 6) : null));
    case "millisecond": case "milliseconds":
      return strict(T.numeric, [t], (v: number) => (Number.isFinite(v) ? new Dec(BigInt(((v % 60_000_000) + 60_000_000) % 60_000_000), 3) : null));
    case "microsecond": case "microseconds":
      return strict(T.numeric, [t], (v: number) => (Number.isFinite(v) ? new Dec(BigInt(((v % 60_000_000) + 60_000_000) % 60_000_000), 0) : null));
  }
  try {
    field(0, unit);
  } catch {
    throw new CompileError(`${name}(): unknown field '${unit}'`);
  }
  return strict(T.numeric, [t], (v: number) => (Number.isFinite(v) ? new Dec(BigInt(field(v, unit)), 0) : infiniteField(v, unit)));
}

export const DIFF_UNITS: Record<string, number> = { day: MICROS_PER_DAY, days: MICROS_PER_DAY, hour: 3_600_000_000, hours: 3_600_000_000, minute: 60_000_000, minutes: 60_000_000, second: 1_000_000, seconds: 1_000_000, week: 7 * MICROS_PER_DAY, weeks: 7 * MICROS_PER_DAY };
