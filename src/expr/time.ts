/**
 * Postgres date/time text ⇄ epoch microseconds (a JS number). 2^53 µs is only ±285 years around
 * 1970: beyond 1685..2255 a double holds every whole second (to year ~20,000) but not every
 * microsecond, so there the fraction is floored to the nearest double below (at most 64 µs
 * off), never rounded up: '9999-12-31 23:59:59.999999' stays in 9999 (it used to become
 * 10000-01-01), and its second, day and year are exact. `infinity`/`-infinity` are ±Infinity.
 * The fraction is read as digits, never through a Date. Zone-less values (timestamp, date) are
 * taken as UTC; timestamptz results are written in UTC (+00), the engine's session time zone.
 */
const TS_RE =
  /^\s*(\d{4,})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?\s*(Z|[+-]\d{1,2}(?::?\d{2})?(?::?\d{2})?)?\s*(BC)?\s*$/i;

export const MICROS_PER_DAY = 86_400_000_000;
/** The largest |epoch µs| a JS Date can format (±8.64e15 ms, year 275760). */
export const MAX_MICROS = 8.64e18;

/**
 * Whether the fields name a real date and time, as Postgres checks them: '2024-02-30' or
 * '2024-13-01' is an error there, not a day in the next month. 24:00:00 and a leap second
 * (…:60) are accepted as Postgres accepts them.
 */
function validFields(y: number, mo: number, d: number, h: number, mi: number, se: number): boolean {
  if (mo < 1 || mo > 12 || d < 1 || h > 24 || mi > 59 || se > 60 || (h === 24 && (mi > 0 || se > 0))) return false;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const days = mo === 2 ? (leap ? 29 : 28) : mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
  return d <= days;
}

const F64 = new Float64Array(1);
const I64 = new BigInt64Array(F64.buffer);

/** µs = seconds * 10^6 + fraction; where a double cannot hold it, the nearest double below. */
function exactMicros(seconds: number, frac: number): number {
  const us = seconds * 1_000_000 + frac;
  if (Number.isSafeInteger(us) || frac === 0) return us;
  const exact = BigInt(seconds) * 1_000_000n + BigInt(frac);
  if (BigInt(us) <= exact) return us;
  F64[0] = us;
  I64[0] += us > 0 ? -1n : 1n; // the next double toward -Infinity
  return F64[0];
}

function digitsAt(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(i + k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Fast path for what Postgres sends: "YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]"; anything else
 * (BC, T separator, odd offsets) goes through the regex.
 */
function parseFast(s: string): number | null {
  const len = s.length;
  if (len < 19 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 32 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return null;
  const y = digitsAt(s, 0, 4), mo = digitsAt(s, 5, 2), d = digitsAt(s, 8, 2), h = digitsAt(s, 11, 2), mi = digitsAt(s, 14, 2), se = digitsAt(s, 17, 2);
  if (y < 0 || h < 0 || mi < 0 || se < 0 || !validFields(y, mo, d, h, mi, se)) return null;
  let i = 19;
  let frac = 0;
  if (s.charCodeAt(i) === 46) {
    i++;
    let scale = 100000;
    while (i < len) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      if (scale >= 1) frac += c * scale;
      scale /= 10;
      i++;
    }
  }
  let off = 0;
  if (i < len) {
    const sign = s.charCodeAt(i);
    if (sign !== 43 && sign !== 45) return null;
    const oh = digitsAt(s, i + 1, 2);
    if (oh < 0) return null;
    let om = 0;
    let j = i + 3;
    if (j < len) {
      if (s.charCodeAt(j) === 58) j++;
      om = digitsAt(s, j, 2);
      if (om < 0 || j + 2 !== len) return null;
    }
    off = (sign === 45 ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const days = daysFromCivil(y, mo, d);
  return exactMicros(((days * 24 + h) * 60 + mi) * 60 + se - off, frac);
}

/** Epoch µs of a Postgres date/timestamp text, ±Infinity for ±infinity, null when it is not one. */
export function parseTimestamp(text: string): number | null {
  const fast = parseFast(text);
  if (fast !== null) return fast;
  const m = TS_RE.exec(text);
  if (!m) {
    const t = text.trim().toLowerCase();
    if (t === "infinity" || t === "+infinity") return Infinity;
    if (t === "-infinity") return -Infinity;
    return null;
  }
  let year = Number(m[1]);
  if (m[9]) year = 1 - year;
  if (!validFields(year, Number(m[2]), Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0))) return null;
  const days = daysFromCivil(year, Number(m[2]), Number(m[3]));
  let seconds = ((days * 24 + Number(m[4] ?? 0)) * 60 + Number(m[5] ?? 0)) * 60 + Number(m[6] ?? 0);
  if (m[8] && m[8].toUpperCase() !== "Z") seconds -= offsetSeconds(m[8]);
  if (Math.abs(seconds) * 1_000_000 > MAX_MICROS) return null; // a JS Date could not format it
  return exactMicros(seconds, m[7] ? Number(m[7].padEnd(6, "0")) : 0);
}

function offsetSeconds(tz: string): number {
  const sign = tz[0] === "-" ? -1 : 1;
  const body = tz.slice(1).replace(/:/g, "");
  const h = Number(body.length <= 2 ? body : body.slice(0, 2));
  const mi = body.length >= 4 ? Number(body.slice(2, 4)) : 0;
  const s = body.length >= 6 ? Number(body.slice(4, 6)) : 0;
  return sign * (h * 3600 + mi * 60 + s);
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

function parts(micros: number): { d: Date; frac: number } {
  if (!Number.isSafeInteger(micros)) {
    // beyond 2^53 µs the division below would round: split the integer exactly
    const b = BigInt(micros);
    const frac = ((b % 1000n) + 1000n) % 1000n;
    return { d: new Date(Number((b - frac) / 1000n)), frac: Number(frac) };
  }
  const ms = Math.floor(micros / 1000);
  const frac = micros - ms * 1000; // 0..999 µs beyond the millisecond
  return { d: new Date(ms), frac };
}

/** Postgres output style: fraction only when non-zero, trailing zeros trimmed. */
export function formatTimestamp(micros: number, withZone: boolean): string {
  if (!Number.isFinite(micros)) return micros > 0 ? "infinity" : "-infinity";
  const { d, frac } = parts(micros);
  const year = d.getUTCFullYear();
  let out = `${year <= 0 ? pad(1 - year, 4) : pad(year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const us = d.getUTCMilliseconds() * 1000 + frac;
  if (us !== 0) out += "." + pad(us, 6).replace(/0+$/, "");
  if (withZone) out += "+00";
  if (year <= 0) out += " BC";
  return out;
}

export function formatDate(micros: number): string {
  if (!Number.isFinite(micros)) return micros > 0 ? "infinity" : "-infinity";
  const { d } = parts(micros);
  const year = d.getUTCFullYear();
  return `${year <= 0 ? pad(1 - year, 4) : pad(year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}${year <= 0 ? " BC" : ""}`;
}

export type TimeField = "year" | "quarter" | "month" | "week" | "day" | "hour" | "minute" | "second" | "millisecond" | "microsecond" | "dow" | "doy" | "epoch" | "decade" | "century" | "millennium" | "isodow";

/** Integer calendar fields of a timestamp (UTC). */
export function field(micros: number, f: string): number {
  const { d } = parts(micros);
  switch (f) {
    // Postgres has no year 0: the year before 1 AD is -1 (44 BC is -44, not the astronomical -43),
    // and decade/century/millennium of BC years count back from there (C division truncates)
    case "year": {
      const y = d.getUTCFullYear();
      return y > 0 ? y : y - 1;
    }
    case "quarter":
      return Math.floor(d.getUTCMonth() / 3) + 1;
    case "month":
      return d.getUTCMonth() + 1;
    case "day":
      return d.getUTCDate();
    case "hour":
      return d.getUTCHours();
    case "minute":
      return d.getUTCMinutes();
    case "dow":
      return d.getUTCDay();
    case "isodow":
      return d.getUTCDay() === 0 ? 7 : d.getUTCDay();
    case "doy":
      return daysFromCivil(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()) - daysFromCivil(d.getUTCFullYear(), 1, 1) + 1;
    case "decade": {
      const y = d.getUTCFullYear();
      return y >= 0 ? Math.trunc(y / 10) : -Math.trunc((8 - (y - 1)) / 10);
    }
    case "century": {
      const y = d.getUTCFullYear();
      return y > 0 ? Math.trunc((y + 99) / 100) : -Math.trunc((99 - (y - 1)) / 100);
    }
    case "millennium": {
      const y = d.getUTCFullYear();
      return y > 0 ? Math.trunc((y + 999) / 1000) : -Math.trunc((999 - (y - 1)) / 1000);
    }
    case "week": {
      // ISO week: the week (Monday first) whose Thursday lies in the year
      const day = d.getUTCDay() || 7;
      const thursday = new Date((daysFromCivil(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()) + 4 - day) * 86_400_000);
      const y0 = daysFromCivil(thursday.getUTCFullYear(), 1, 1) * 86_400_000;
      return Math.ceil(((thursday.getTime() - y0) / 86_400_000 + 1) / 7);
    }
  }
  throw new RangeError(`unknown time field '${f}'`);
}

export const TRUNC_UNITS = ["microseconds", "milliseconds", "second", "minute", "hour", "day", "week", "month", "quarter", "year", "decade", "century", "millennium"];

export function truncate(micros: number, unit: string): number {
  if (!Number.isFinite(micros)) return micros; // date_trunc of ±infinity is ±infinity
  const floorTo = (step: number) => Math.floor(micros / step) * step;
  switch (unit) {
    case "microseconds":
      return micros;
    case "milliseconds":
      return floorTo(1000);
    case "second":
      return floorTo(1_000_000);
    case "minute":
      return floorTo(60_000_000);
    case "hour":
      return floorTo(3_600_000_000);
    case "day":
      return floorTo(MICROS_PER_DAY);
  }
  const { d } = parts(micros);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  // days_from_civil, not Date.UTC: Date.UTC maps years 0..99 to 1900..1999
  const first = (year: number, month0: number) => daysFromCivil(year, month0 + 1, 1) * MICROS_PER_DAY;
  switch (unit) {
    case "week": {
      const day = floorTo(MICROS_PER_DAY);
      const dow = (d.getUTCDay() + 6) % 7; // Monday = 0
      return day - dow * MICROS_PER_DAY;
    }
    case "month":
      return first(y, m);
    case "quarter":
      return first(y, m - (m % 3));
    case "year":
      return first(y, 0);
    case "decade":
      return first(y - (((y % 10) + 10) % 10), 0);
    case "century":
      return first(Math.floor((y - 1) / 100) * 100 + 1, 0);
    case "millennium":
      return first(Math.floor((y - 1) / 1000) * 1000 + 1, 0);
  }
  throw new RangeError(`unknown date_trunc unit '${unit}'`);
}
