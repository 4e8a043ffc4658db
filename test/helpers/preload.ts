import { afterAll, setDefaultTimeout } from "bun:test";
import { stopSharedServers } from "./services.ts";

// bunfig's [test] timeout is not applied by this Bun; integration tests start databases and need room.
setDefaultTimeout(120_000);

// One cleanup for the whole run: shared Postgres servers are stopped and their files removed.
afterAll(async () => {
  await stopSharedServers();
});
