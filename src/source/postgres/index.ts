/** The Postgres source (pgoutput logical replication). */
export { createPostgresSource, type SourceDeps } from "./postgres-source.ts";
export { checkSource, inspectSource } from "./check.ts";
