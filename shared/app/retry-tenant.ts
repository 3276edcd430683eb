import { ConflictError, noSuchTenant, RateLimitedError } from '../domain/errors.js';
import { withDesired, type Tenant } from '../domain/tenant.js';
import type { Clock } from '../ports/clock.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import { changeDesired } from './change-desired.js';
import type { UpdatableStore } from './update-tenant.js';
import { DEFAULT_ANONYMOUS_WAKES_PER_HOUR } from './wake.js';

export interface RetryTenantDeps {
  store: UpdatableStore;
  clock: Clock;
  limiter: RateLimiter;
}

/**
 * How often in an hour a tenant's owner may retry it: as often as visits may wake a sleeper, so
 * that a page left open (or a script) cannot keep a failing tenant's task starting and stopping.
 */
export const RETRIES_PER_HOUR = DEFAULT_ANONYMOUS_WAKES_PER_HOUR;

/** Given up on: failed at the generation it is asked to be at, so only a new generation moves it. */
export function isGivenUp(tenant: Tenant): boolean {
  return tenant.status.phase === 'Failed' && tenant.status.failedGeneration === tenant.spec.generation;
}

/**
 * A retry of a failed tenant: a new generation of `running`, which lifts the give-up, so the
 * reconciler starts it afresh. Only a tenant that was given up on can be retried (anything else
 * is on its way already, or asleep and woken by a wake); the caller is authorized before a try
 * is counted, so nobody else uses up the owner's tries.
 */
export async function retryTenant(deps: RetryTenantDeps, id: string, authorize: (tenant: Tenant) => void): Promise<Tenant> {
  const seen = await deps.store.get(id);
  if (!seen) throw noSuchTenant(id);
  authorize(seen);
  if (!isGivenUp(seen)) throw notFailed(id);
  const decision = await deps.limiter.take(`retry:${id}`, RETRIES_PER_HOUR, deps.clock.now());
  if (!decision.allowed) {
    const minutes = Math.ceil(decision.retryAfterSeconds / 60);
    throw new RateLimitedError(
      decision.retryAfterSeconds,
      `Tenant "${id}" was retried ${RETRIES_PER_HOUR} times this hour. Try again in ${minutes} minutes.`,
    );
  }
  return changeDesired(deps, id, 'running', (current) => {
    authorize(current);
    // Another writer may have retried it, or deleted it, since it was read.
    if (!isGivenUp(current) || withDesired(current, 'running') === current) throw notFailed(id);
  });
}

function notFailed(id: string): ConflictError {
  return new ConflictError(`Tenant "${id}" has not failed; there is nothing to retry. Wake it instead if it sleeps.`, 'not_failed');
}
