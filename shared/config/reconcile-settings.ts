import type { ReconcileSettings } from '../app/reconcile.js';
import { tenantHost, type ReconcilePolicy } from '../config.js';

/** The reconciler's timings: how often it looks, how long it waits and holds a tenant. */
export type ReconcileTimings = Pick<
  ReconcileSettings,
  | 'queueRetryMs'
  | 'leaseMs'
  | 'maxSteps'
  | 'backoffBaseMs'
  | 'backoffMaxMs'
  | 'pollMs'
  | 'unhealthyTimeoutMs'
  | 'listingLagMs'
  | 'eventTrustMs'
  | 'healthWaitMs'
>;

/** Timings suited to ECS and the load balancer; embedded mode and tests pass their own. */
export const RECONCILE_DEFAULTS: ReconcileTimings = {
  queueRetryMs: 30_000,
  leaseMs: 5 * 60_000,
  maxSteps: 25,
  backoffBaseMs: 5_000,
  backoffMaxMs: 5 * 60_000,
  pollMs: 5_000,
  unhealthyTimeoutMs: 5 * 60_000,
  listingLagMs: 30_000,
  // ECS announces every task state change: a minute without one, and the reconciler asks ECS itself.
  eventTrustMs: 60_000,
  // The target group's health check as created (ElbRouting): 2 healthy checks 10 s apart.
  healthWaitMs: 20_000,
};

/**
 * The reconciler's settings from loaded configuration: the one place they are put together, for
 * the reconcile and sweep functions, embedded mode and the bench alike.
 */
export function reconcileSettings(policy: ReconcilePolicy, timings: Partial<ReconcileTimings> = {}): ReconcileSettings {
  return {
    ...RECONCILE_DEFAULTS,
    ...timings,
    hostFor: (tenantId) => tenantHost(policy.baseUrl, tenantId),
    maxActiveTenants: policy.maxActiveTenants,
    shards: policy.shards,
    spotAttemptsBeforeFallback: policy.spotAttemptsBeforeFallback,
    fallbackToOnDemand: policy.fallbackToOnDemand,
    maxRestarts: policy.maxRestarts,
    tombstoneSeconds: policy.tombstoneSeconds,
    persistentData: policy.persistentData,
    handover: policy.handover,
    plans: policy.plans,
  };
}
