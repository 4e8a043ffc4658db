import { z } from "zod";
import type { Sink, SinkFactory, OutputBatch, Health } from "../sink.ts";
import { toJsonText } from "../json.ts";

const configSchema = z.strictObject({
  /** "json": one JSON line per record with op/table/row; "row": only the row. */
  format: z.enum(["json", "row"]).default("json"),
});
type StdoutConfig = z.infer<typeof configSchema>;

/** JSON lines on stdout, for piping and debugging. Not durable: it keeps no position. */
class StdoutSink implements Sink {
  constructor(private readonly config: StdoutConfig, private readonly out: (s: string) => void = (s) => process.stdout.write(s)) {}
  async open(): Promise<void> {}
  position(): null {
    return null;
  }
  async write(batch: OutputBatch): Promise<void> {
    let text = "";
    for (const r of batch.records) {
      const line =
        this.config.format === "row"
          ? r.row
          : { pipeline: batch.pipeline, op: r.op, table: r.table.name, lsn: r.lsn, row: r.row };
      text += toJsonText(line) + "\n";
    }
    this.out(text);
  }
  async health(): Promise<Health> {
    return { status: "up" };
  }
  async close(): Promise<void> {}
}

export const stdoutSink: SinkFactory<typeof configSchema> = {
  type: "stdout",
  configSchema,
  create: (config) => new StdoutSink(config),
  check: async () => "writes JSON lines to standard output",
};
export { StdoutSink };
