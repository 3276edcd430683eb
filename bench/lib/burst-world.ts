import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReconcileSettings } from '../../shared/app/reconcile.js';
import type { AwsModel, RateLimit, WorldTimings } from '../../test/support/aws-model.js';
import { apiCaller } from './api.js';
import type { BenchTables } from './dynamodb.js';

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

/** How often the model's clock is moved on: task state changes are sent at most this late. */
const TICK_MS = 10;

/**
 * The AWS model moves its tasks only when it is called; ECS moves them on its own and sends each
 * state change as it happens. Without this, once every tenant of a burst waits on a task event
 * nothing calls the model, so a task's RUNNING event would only be sent at the next call: the
 * reconciler's safety-net look, a minute later (`eventTrustMs`). Returns the function that stops it.
 */
export function movingOnItsOwn(aws: Pick<AwsModel, 'settle'>): () => void {
  const timer = setInterval(() => aws.settle(), TICK_MS);
  return () => clearInterval(timer);
}

/** Signups through the API handler at once, as a few clients would send them. */
const SIGNUP_CONCURRENCY = 4;

/**
 * Records `count` signups (slugs from `slugOf`) through the API handler; a refused one is retried
 * up to five times, as a client would, and the refusals are counted by status and code.
 */
export async function signUpAll(tables: BenchTables, count: number, slugOf: (index: number) => string) {
  const api = apiCaller({
    dynamoClient: tables.client,
    tenantTable: tables.tenantTable,
    idempotencyTable: tables.idempotencyTable,
    maxTenants: count,
  });
  const started = performance.now();
  const accepted: string[] = [];
  const refused: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: SIGNUP_CONCURRENCY }, async () => {
      while (next < count) {
        const slug = slugOf(next++);
        for (let attempt = 1; attempt <= 5; attempt++) {
          const answer = await api('POST', '/tenants', { body: { slug, email: `${slug}@example.test` } });
          if (answer.status === 202) {
            accepted.push(slug);
            break;
          }
          const code = `${answer.status} ${(answer.body.error as { code?: string } | undefined)?.code ?? ''}`.trim();
          refused[code] = (refused[code] ?? 0) + 1;
          await sleep(100 * attempt);
        }
      }
    }),
  );
  return { accepted, refused, ms: performance.now() - started };
}
