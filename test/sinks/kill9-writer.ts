/**
 * Child process for the kill -9 tests: opens one sink, writes the workload batch by batch and
 * prints "wrote <lsn>" after each durable write, until the parent kills it.
 * argv: JSON {type, config, targets, stateDir, batches, name}
 */
import { sinkFactory } from "../../src/sinks/index.ts";
import { context } from "./helpers.ts";
import { workload } from "./kill9-workload.ts";

const spec = JSON.parse(process.argv[2]) as { type: string; config: Record<string, unknown>; targets: { pipeline: string; options: Record<string, unknown> }[]; stateDir: string; batches: number; name: string };
const factory = sinkFactory(spec.type)!;
const sink = factory.create(factory.configSchema.parse(spec.config));
await sink.open(context(spec.name, spec.targets, spec.stateDir));
for (const b of workload(spec.batches)) {
  await sink.write(b);
  process.stdout.write(`wrote ${b.lsn}\n`);
}
process.stdout.write("done\n");
await Bun.sleep(60_000); // wait to be killed
