import { z } from "zod";
import { duration, pgUrl, sslmode, tls } from "../../config/fields.ts";

export const postgresSinkConfig = z.strictObject({
  url: pgUrl,
  sslmode: sslmode.optional(),
  tls,
  /** Connections in the pool. */
  pool: z.number().int().min(1).max(64).default(4),
  /** Schema for pipeline outputs that name a bare table. */
  schema: z.string().default("public"),
  batch_size: z.number().int().min(1).default(5000),
  batch_delay: duration.default(100),
});
export type PostgresSinkConfig = z.infer<typeof postgresSinkConfig>;
