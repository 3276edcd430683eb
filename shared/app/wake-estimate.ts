import type { WakeTime, WakeTimes } from '../ports/wake-times.js';

/** A wake longer than this is not one a visitor sat through (a wake left unmeasured, a long outage): not kept. */
const LONGEST_KEPT_MS = 10 * 60_000;

/**
 * How long a wake usually takes: the median of the recent wakes by requests, in seconds. Read at
 * most once a `ttlMs` per process (one eventually consistent read a minute per function
 * instance), since every waking page and held request wants it.
 */
export class WakeEstimate {
  private cached: { until: number; seconds: number | undefined } | undefined;
  private readonly times: WakeTimes;
  private readonly ttlMs: number;

  constructor(times: WakeTimes, { ttlMs = 60_000 }: { ttlMs?: number } = {}) {
    this.times = times;
    this.ttlMs = ttlMs;
  }

  async seconds(now: number): Promise<number | undefined> {
    if (this.cached && this.cached.until > now) return this.cached.seconds;
    const seconds = medianSeconds(await this.times.recent());
    this.cached = { until: now + this.ttlMs, seconds };
    return seconds;
  }

  /** A wake seen through to the end; the next estimate reads it. */
  async record(wake: WakeTime): Promise<void> {
    if (!(wake.ms > 0 && wake.ms <= LONGEST_KEPT_MS)) return;
    await this.times.record(wake);
    this.cached = undefined;
  }
}

export function medianSeconds(wakes: readonly WakeTime[]): number | undefined {
  if (wakes.length === 0) return undefined;
  const sorted = wakes.map((wake) => wake.ms).sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const ms = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return Math.round(ms / 100) / 10;
}
