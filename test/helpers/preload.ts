import { afterAll } from "bun:test";
import { stopSharedServers } from "./services.ts";

// One cleanup for the whole run: shared Postgres servers are stopped and their files removed.
afterAll(async () => {
  await stopSharedServers();
});
