/**
 * Records a sink sent to the dead-letter queue, by sink, pipeline and operation, until the writer
 * of that pipeline and sink takes them: its rows-written counts leave them out. They counted as
 * written before (QA: 10 written, 3 refused, 7 rows in the sink).
 */
const tally = new Map<string, Record<string, number>>();

const at = (sink: string, pipeline: string) => `${sink}\u0000${pipeline}`;

export function noteDeadLetter(sink: string, pipeline: string, op: string): void {
  const k = at(sink, pipeline);
  const t = tally.get(k) ?? {};
  t[op] = (t[op] ?? 0) + 1;
  tally.set(k, t);
}

/** The records dead-lettered since the last call, by operation. */
export function takeDeadLetters(sink: string, pipeline: string): Record<string, number> {
  const k = at(sink, pipeline);
  const t = tally.get(k);
  if (!t) return {};
  tally.delete(k);
  return t;
}
