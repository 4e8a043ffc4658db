import { createServer } from "node:net";

/** `preferred` when it is free on 127.0.0.1, else any free port. */
export async function freePortNear(preferred: number): Promise<number> {
  const tryPort = (p: number) =>
    new Promise<number | null>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(null));
      s.listen(p, "127.0.0.1", () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
  return (await tryPort(preferred)) ?? (await tryPort(0))!;
}
