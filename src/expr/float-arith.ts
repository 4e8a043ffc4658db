import { EvalError } from "./eval-error.ts";
import { realOf } from "./real.ts";

/**
 * Double and real arithmetic with Postgres' checks (float.h, float8_pl … float4_div): a result
 * that is infinite from finite operands is "value out of range: overflow", a product or quotient
 * that is zero from non-zero operands "underflow" (1e-300 * 1e-300), x / 0 "division by zero"
 * unless x is NaN (NaN / 0 is NaN). `real`: both operands are reals and so is the result, rounded
 * to float4 (float4pl: 3e38::real + 3e38::real overflows; 0.1::real * 3::real is 0.3).
 * `widen`: an operand is a real in double arithmetic, widened to its float4 value first
 * (0.1::real + 0::float8 is 0.10000000149011612).
 */
export function floatOp(op: string, real: boolean, toFloat: (v: unknown) => number, widen: [boolean, boolean] = [false, false]): (x: unknown, y: unknown) => unknown {
  const ga = real || widen[0] ? (v: unknown) => Math.fround(toFloat(v)) : toFloat;
  const gb = real || widen[1] ? (v: unknown) => Math.fround(toFloat(v)) : toFloat;
  const out = real
    ? (r: number, overflowOk: boolean, underflowOk: boolean) => realOf(r, overflowOk, underflowOk)
    : (r: number, overflowOk: boolean, underflowOk: boolean) => {
        if (!overflowOk && (r === Infinity || r === -Infinity)) throw new EvalError("value out of range: overflow");
        if (!underflowOk && r === 0) throw new EvalError("value out of range: underflow");
        return r;
      };
  const inf = (a: number) => a === Infinity || a === -Infinity;
  switch (op) {
    case "+": return (x, y) => { const a = ga(x), b = gb(y); return out(a + b, inf(a) || inf(b), true); };
    case "-": return (x, y) => { const a = ga(x), b = gb(y); return out(a - b, inf(a) || inf(b), true); };
    case "*": return (x, y) => { const a = ga(x), b = gb(y); return out(a * b, inf(a) || inf(b), a === 0 || b === 0); };
    default: return (x, y) => {
      const a = ga(x), b = gb(y);
      if (b === 0 && !Number.isNaN(a)) throw new EvalError("division by zero");
      return out(a / b, inf(a), a === 0 || inf(b));
    };
  }
}
