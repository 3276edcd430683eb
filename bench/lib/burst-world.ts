import type { ReconcileSettings } from '../../shared/app/reconcile.js';
import type { RateLimit, WorldTimings } from '../../test/support/aws-model.js';

/**
 * What the burst and shards sections share: ECS's published rates, the AWS model's timings (seconds,
 * not minutes: a Fargate task takes ~40 s to run, here 1.5 s) and the reconciler's settings for it.
 */

/** ECS's rate for RunTask: 20 a second sustained; 100 is ECS's token bucket size. */
export const ECS_RUN_TASK: RateLimit = {
  name: 'RunTask',
  operations: ['RunTask'],
  capacity: 100,
  refillPerSecond: 20,
  source: 'ECS API request throttling: RunTask, burst 100, sustained 20/s',
};

/** Fargate's task launch rate, the same bucket as RunTask's. */
export const FARGATE_LAUNCHES = {
  name: 'Fargate task launches',
  capacity: 100,
  refillPerSecond: 20,
  source: 'ECS on Fargate: task launch rate, burst 100, sustained 20/s',
};

export const BURST_TIMINGS: WorldTimings = { provisioningMs: 500, pendingMs: 500, healthyAfterMs: 500, stoppingMs: 500, drainingMs: 300 };

export const BURST_SETTINGS: Partial<ReconcileSettings> = {
  pollMs: 250,
  backoffBaseMs: 250,
  backoffMaxMs: 4_000,
  queueRetryMs: 5_000,
  leaseMs: 60_000,
  unhealthyTimeoutMs: 60_000,
  // As deployed: task state changes arrive as events; a shorter window would only add full looks,
  // each paging through a listener's rules under ELB's Describe* limit.
  eventTrustMs: 60_000,
  healthWaitMs: BURST_TIMINGS.healthyAfterMs,
};
