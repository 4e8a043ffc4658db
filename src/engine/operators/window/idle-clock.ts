/**
 * The idle rule every window shares: once no event arrived for `idleTimeoutMs` of wall-clock
 * time, the watermark may move to (now − idle timeout) − lateness, so windows still close on a
 * quiet source. Not checkpointed: after a restart the idle period is measured anew.
 */
export class IdleClock {
  private sawEvents = false;
  private lastActiveWallMs: number | null = null;

  constructor(private readonly idleTimeoutMs: number, private readonly latenessUs: number) {}

  /** An event arrived (from process()). */
  event(): void {
    this.sawEvents = true;
  }

  /** The watermark the wall clock allows at `nowMs`, or null while the source is not idle. */
  watermark(nowMs: number): number | null {
    if (this.sawEvents || this.lastActiveWallMs === null) {
      this.sawEvents = false;
      this.lastActiveWallMs = nowMs;
      return null;
    }
    if (nowMs - this.lastActiveWallMs < this.idleTimeoutMs) return null;
    return (nowMs - this.idleTimeoutMs) * 1000 - this.latenessUs;
  }
}
