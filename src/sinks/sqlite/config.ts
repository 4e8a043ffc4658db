import { z } from "zod";
import { duration } from "../../config/fields.ts";

export const sqliteSinkConfig = z.strictObject({
  /** Path of the warehouse file; relative paths are taken from the working directory. */
  path: z.string().min(1),
  batch_size: z.number().int().min(1).default(5000),
  batch_delay: duration.default(100),
});
export type SqliteSinkConfig = z.infer<typeof sqliteSinkConfig>;
