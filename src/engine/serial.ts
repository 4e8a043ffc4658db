/** Runs async jobs one at a time, in submission order (transactions, ticks, checkpoints). */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  private running = 0;

  run<T>(job: () => Promise<T>): Promise<T> {
    this.running++;
    const p = this.tail.then(job);
    this.tail = p.catch(() => {}).finally(() => this.running--);
    return p;
  }

  idle(): boolean {
    return this.running === 0;
  }
}
