/** ROUND/FLOOR/CEIL as Postgres has them: for numeric, for double precision, and the digits argument. */
import { Dec } from "./decimal.ts";
import { type Compiled, CompileError, castCompiled, lit } from "./compile.ts";
import { type Fn, arity, num, pgTypeName, strict } from "./function-args.ts";
import { T } from "./types.ts";
import { toDec } from "./values.ts";

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Postgres has round(numeric, integer) and round(double precision), no round(double precision,
 * integer): ROUND(f, 2) rounded the double's binary value (1.005 gave 1 where the numeric gives
 * 1.01). The digits are an integer (smallint or int; a quoted literal): round(numeric, bigint) and
 * round(numeric, numeric) do not exist either.
 */
function roundArgs(x: Compiled, digits: Compiled): void {
  const xt = pgTypeName(x), dt = pgTypeName(digits);
  if (x.type.kind === "float") throw new CompileError(`function round(${xt}, ${dt}) does not exist (cast to numeric to round to digits: ROUND(x::numeric, 2))`);
  if (digits.type.kind !== "int" && digits.type.kind !== "unknown") throw new CompileError(`function round(${xt}, ${dt}) does not exist (the number of digits is an integer)`);
}

export function roundLike(name: string, g: (d: Dec, digits: number) => Dec, floatG: (x: number) => number): Fn {
  return (args) => {
    arity(name, args, 1, name === "ROUND" ? 2 : 1);
    const x = num(args[0], name, args.slice(1));
    if (args[1]) roundArgs(x, args[1]);
    const digits = args[1] ? castCompiled(args[1], T.int) : lit(T.int, 0);
    if (x.type.kind === "float") return strict(T.float, [x], (v) => floatG(v));
    if (x.type.kind === "int" || x.type.kind === "int8") return name === "ROUND" && args[1] ? strict(T.numeric, [x, digits], (v, d) => g(toDec(v), d)) : x;
    return strict(T.numeric, [x, digits], (v, d) => g(toDec(v), d));
  };
}
