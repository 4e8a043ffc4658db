import type { Rng } from "../random.ts";

/**
 * Keys of rows the generator knows are committed, for updates and deletes to pick from.
 * Bounded (oldest dropped first) so a long run does not grow memory; O(1) add, pick and remove.
 */
export class KeyPool<K, V = undefined> {
  private keys: K[] = [];
  private index = new Map<K, number>();
  private values = new Map<K, V>();

  constructor(private readonly max = 100_000) {}

  get size(): number {
    return this.keys.length;
  }

  add(key: K, value?: V): void {
    if (this.index.has(key)) {
      this.values.set(key, value as V);
      return;
    }
    if (this.keys.length >= this.max) this.remove(this.keys[0]);
    this.index.set(key, this.keys.length);
    this.keys.push(key);
    this.values.set(key, value as V);
  }

  get(key: K): V | undefined {
    return this.values.get(key);
  }

  has(key: K): boolean {
    return this.index.has(key);
  }

  remove(key: K): void {
    const i = this.index.get(key);
    if (i === undefined) return;
    const last = this.keys.pop()!;
    if (i < this.keys.length) {
      this.keys[i] = last;
      this.index.set(last, i);
    }
    this.index.delete(key);
    this.values.delete(key);
  }

  pick(rng: Rng): K | undefined {
    return this.keys.length ? this.keys[Math.floor(rng.float() * this.keys.length)] : undefined;
  }

  /** Pick and remove (a row about to be deleted, or one being changed right now). */
  take(rng: Rng): K | undefined {
    const k = this.pick(rng);
    if (k !== undefined) this.remove(k);
    return k;
  }
}
