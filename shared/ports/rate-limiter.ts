export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * Counts attempts per key in fixed windows and refuses them past `limit`. Counting and checking
 * are one atomic step, so concurrent callers cannot together get past the limit.
 */
export interface RateLimiter {
  take(key: string, limit: number, now: Date): Promise<RateDecision>;
}
