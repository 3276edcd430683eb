/**
 * Remembers, for a short while, keys that were looked up and not found, so a flood of requests
 * for names that do not exist costs one read per name per TTL instead of one read per request.
 * Bounded: past `maxEntries` the least recently used key is forgotten, so random names cannot
 * grow it without limit. In memory and per process (one Lambda instance), which is the point:
 * it costs nothing to ask.
 */
export class MissCache {
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  /** Key → epoch ms it expires at. A Map iterates in insertion order: the first key is the oldest. */
  private readonly entries = new Map<string, number>();

  constructor({ ttlMs = 30_000, maxEntries = 10_000 }: { ttlMs?: number; maxEntries?: number } = {}) {
    this.ttlMs = ttlMs;
    this.maxEntries = maxEntries;
  }

  /** Whether `key` was recorded as missing less than the TTL ago. */
  has(key: string, now: number): boolean {
    const expiresAt = this.entries.get(key);
    if (expiresAt === undefined) return false;
    this.entries.delete(key);
    if (expiresAt <= now) return false;
    // Re-inserted to mark it recently used; the expiry stays that of the first miss, so a
    // name that starts to exist is seen at most one TTL late however often it is asked for.
    this.entries.set(key, expiresAt);
    return true;
  }

  add(key: string, now: number): void {
    this.entries.delete(key);
    this.entries.set(key, now + this.ttlMs);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
