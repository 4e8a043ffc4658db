/**
 * A webhook receiver for the http sink's tests: it fails a share of requests (5xx, not
 * stored), "times out" on another share (stores the body, then answers after the client gave
 * up, so the client resends something already received), and keeps one copy per
 * Idempotency-Key, as a well-behaved receiver does. It can also hang (store, never answer) and
 * go down (connection refused) and come back on the same URL.
 */
export interface ReceivedRequest {
  key: string | null;
  method: string;
  headers: Headers;
  body: string;
  outcome: "stored" | "duplicate" | "failed" | "timeout" | "rejected" | "hung";
}

export interface ReceiverOptions {
  failRate?: number;
  timeoutRate?: number;
  /** How long a "timed out" request is held before the late answer. */
  holdMs?: number;
  seed?: number;
  /** Return a status (and headers) to answer with instead of the random behaviour, or undefined. */
  decide?: (req: { key: string | null; body: string; n: number }) => { status: number; headers?: Record<string, string> } | undefined;
  /**
   * Hang on this request: store it (processed, as far as the receiver's side goes) and never
   * answer, like an app stuck after its write. The worst case for a client that gives up: a
   * resend is a duplicate unless it carries the same Idempotency-Key.
   */
  hang?: (req: { key: string | null; body: string; n: number }) => boolean;
}

export class HttpReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Idempotency-Key → body, the first copy only. */
  readonly byKey = new Map<string, string>();
  private server: ReturnType<typeof Bun.serve> | null;
  private readonly port: number;
  private rng: () => number;

  constructor(private opts: ReceiverOptions = {}) {
    this.rng = mulberry32(opts.seed ?? 42);
    this.server = this.listen(0);
    this.port = this.server.port!;
  }

  private listen(port: number): ReturnType<typeof Bun.serve> {
    // idleTimeout 0: a hung request stays open until the client gives up (Bun's default would cut it at 10 s).
    return Bun.serve({ port, hostname: "127.0.0.1", idleTimeout: 0, fetch: (req) => this.handle(req) });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Stop listening: connections are refused (open ones are cut) until up(). */
  down(): void {
    this.server?.stop(true);
    this.server = null;
  }

  /** Listen again on the same port. */
  up(): void {
    this.server ??= this.listen(this.port);
  }

  set(opts: ReceiverOptions): void {
    this.opts = { ...this.opts, ...opts };
  }

  private async handle(req: Request): Promise<Response> {
    const key = req.headers.get("idempotency-key");
    const body = await req.text();
    const log = (outcome: ReceivedRequest["outcome"]) => this.requests.push({ key, method: req.method, headers: req.headers, body, outcome });
    if (this.opts.hang?.({ key, body, n: this.requests.length })) {
      if (key && !this.byKey.has(key)) this.byKey.set(key, body);
      log("hung");
      return new Promise<Response>(() => {});
    }
    const forced = this.opts.decide?.({ key, body, n: this.requests.length });
    if (forced) {
      log(forced.status < 300 ? "stored" : forced.status < 500 && forced.status !== 429 ? "rejected" : "failed");
      if (forced.status < 300 && key && !this.byKey.has(key)) this.byKey.set(key, body);
      return new Response(forced.status < 300 ? "ok" : "no", { status: forced.status, headers: forced.headers });
    }
    const roll = this.rng();
    if (roll < (this.opts.failRate ?? 0)) {
      log("failed");
      return new Response("try again", { status: roll < (this.opts.failRate ?? 0) / 5 ? 502 : 503 });
    }
    const store = () => {
      if (key && this.byKey.has(key)) return "duplicate" as const;
      if (key) this.byKey.set(key, body);
      return "stored" as const;
    };
    if (roll < (this.opts.failRate ?? 0) + (this.opts.timeoutRate ?? 0)) {
      store();
      log("timeout");
      await Bun.sleep(this.opts.holdMs ?? 1000);
      return new Response("late", { status: 200 });
    }
    log(store());
    return new Response("ok", { status: 200 });
  }

  stop(): void {
    this.down();
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
