/**
 * Array lower bounds other than 1, and an element delimiter other than ','. PostgreSQL prints such an array with a dimension prefix
 * (`'[0:2]={1,2,3}'`); the engine's value is a plain JS array, so the prefix rides along as a
 * non-enumerable symbol property: JSON sinks, expressions and comparisons see the elements as
 * before, and the postgres sink prints the prefix again, so a mirror keeps `a[0]` where it was.
 */
const BOUNDS = Symbol.for("cdc-engine.array-bounds");

type Bounded = unknown[] & { [BOUNDS]?: string };

/** Keep the `[lo:hi]...` prefix on the array (only when some lower bound is not 1). */
export function withBounds(arr: unknown[], prefix: string): unknown[] {
  if (!/^(\[1:-?\d+\])+$/.test(prefix)) Object.defineProperty(arr, BOUNDS, { value: prefix, enumerable: false });
  return arr;
}

/** The dimension prefix to print before the array's `{...}`, "" for the default bounds. */
export function boundsPrefix(arr: unknown[]): string {
  const p = (arr as Bounded)[BOUNDS];
  return p ? `${p}=` : "";
}

/** The prefix for binary arrays: dimension lengths and lower bounds as array_send gives them. */
export function boundsFromDims(dims: number[], lowers: number[]): string {
  let p = "";
  for (let d = 0; d < dims.length; d++) p += `[${lowers[d]}:${lowers[d] + dims[d] - 1}]`;
  return p;
}

const DELIMITER = Symbol.for("cdc-engine.array-delim");

/**
 * Keep the element delimiter the array was parsed with when it is not ',' (box[] is the one
 * built-in: `{(1,1),(0,0);(2,2),(1,1)}`, its elements hold commas): printed with ',' the server
 * refused it as a malformed literal. Rides along as the bounds do.
 */
export function withDelimiter(arr: unknown[], delim: string): unknown[] {
  if (delim !== ",") Object.defineProperty(arr, DELIMITER, { value: delim, enumerable: false });
  return arr;
}

/** The delimiter to print the array's elements with. */
export function arrayDelimiter(arr: unknown[]): string {
  return (arr as unknown[] & { [DELIMITER]?: string })[DELIMITER] ?? ",";
}
