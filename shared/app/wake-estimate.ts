import type { Phase, Tenant } from '../domain/tenant.js';
import type { TenantReader, TenantWriter } from '../ports/tenant-store.js';
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

type Store = TenantReader & Pick<TenantWriter, 'save'>;

/**
 * The store as the reconciler uses it, feeding the estimate with every wake it ends: when it
 * writes a record Running that it read (or last wrote) in another phase, the wake lasted from
 * the request that woke the tenant (`wokenAt`) to that write's `transitionAt`. Every wake is
 * recorded so, whether anyone watched it end or not; a record that fails is logged, never
 * thrown, as the tenant runs all the same. A wake seen twice (a held request, a retried look)
 * is kept once: the store keeps each `wokenAt` once.
 */
export function recordingWakes<S extends Store>(store: S, estimate: WakeEstimate, logger?: Pick<Console, 'warn'>): S {
  const phases = new Map<string, Phase>();
  const seen = <T extends Tenant | undefined>(tenant: T): T => {
    if (tenant) phases.set(tenant.id, tenant.status.phase);
    return tenant;
  };
  const recording: Store = {
    get: async (id, options) => seen(await store.get(id, options)),
    save: async (tenant, options) => {
      const before = phases.get(tenant.id);
      const saved = seen(await store.save(tenant, options));
      const { phase, transitionAt } = saved.status;
      if (phase === 'Running' && before !== undefined && before !== 'Running' && saved.wokenAt) {
        try {
          await estimate.record({ wokenAt: saved.wokenAt, ms: Date.parse(transitionAt) - Date.parse(saved.wokenAt) });
        } catch (error) {
          logger?.warn('Could not record a wake time', { tenantId: saved.id, error });
        }
      }
      return saved;
    },
  };
  return Object.assign(Object.create(store) as S, recording);
}
