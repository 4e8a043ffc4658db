/**
 * Child process of spill-crash.test.ts: runs the orders workload through a join + window pipeline
 * whose state is far over its budget, checkpointing every 40 transactions (with the sink's rows
 * in the same checkpoint, as a transactional sink would hold them) up to `stopAt`, then goes on
 * without checkpoints (spilling, reading back, purging), seals the spill file once more without
 * committing a checkpoint, prints "ready" and waits to be killed with SIGKILL.
 *   bun test/operators/spill-crash-child.ts DIR SEED N STOP_AT
 */
import { CheckpointStore } from "../../src/engine/checkpoint-store.ts";
import { crashSetup } from "./spill-crash-setup.ts";

const [dir, seedArg, nArg, stopArg] = process.argv.slice(2);
const { runner, txns, apply, sink, spill } = await crashSetup(dir!, Number(seedArg), Number(nArg));
const store = new CheckpointStore(dir!);
const stopAt = Number(stopArg);
let checkpointSpill = "";
for (let i = 0; i < txns.length; i++) {
  const t = txns[i]!;
  apply(await runner.process(t));
  if (i <= stopAt && i % 40 === 0) {
    store.save(t.lsn, { crash: { lsn: t.lsn.toString(), ops: runner.snapshot() }, sink: { lsn: t.lsn.toString(), ops: [[...sink]] } } as unknown as Record<string, unknown[]>);
    checkpointSpill = JSON.stringify(spill());
  }
  // a cut whose checkpoint never commits (the engine died between the two)
  if (i === Math.floor((stopAt + txns.length) / 2)) runner.snapshot();
}
console.log(`ready ${checkpointSpill} ${JSON.stringify(spill())}`);
setInterval(() => {}, 1000);
