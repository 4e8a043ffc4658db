/** A row-level evaluation failure (bad cast, division by zero, a value out of range): the row goes to the DLQ. */
export class EvalError extends Error {}
