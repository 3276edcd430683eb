import type { ErrorCategory } from '../../domain/error-categories.js';
import { backoffMs } from '../../domain/plan.js';
import type { Tenant, TenantStatus } from '../../domain/tenant.js';
import type { Clock } from '../../ports/clock.js';
import { isTerminal } from '../controller.js';
import type { ReconcileDeps } from '../reconcile.js';

/**
 * A step AWS refused (denied, invalid): the same request would be refused again, so it counts
 * like a failed start while the tenant may still fail, and past the limit the tenant is Failed
 * (the next steps give back its slot). Undefined for any other error, or a tenant on its way
 * down: the controller backs off from those.
 */
export function refused(deps: ReconcileDeps, tenant: Tenant, error: unknown): Tenant | undefined {
  if (!(isTerminal(error) && mayFail(tenant))) return undefined;
  deps.logger?.error?.('AWS refused a step; counted as a failed attempt', { tenantId: tenant.id, error });
  return failAttempt(deps, tenant, error.message, 'platform');
}

/** A tenant on its way up, not given up on yet: a refused step counts toward giving up. */
function mayFail(tenant: Tenant): boolean {
  return tenant.spec.desired === 'running' && tenant.status.failedGeneration !== tenant.spec.generation;
}

/** One more failed attempt: back off, or give up past the limit with the reason in words. */
export function failAttempt(deps: ReconcileDeps, tenant: Tenant, reason: string, category: ErrorCategory): Tenant {
  const { settings, clock } = deps;
  const attempts = tenant.status.attempts + 1;
  if (attempts > settings.maxRestarts) {
    return {
      ...tenant,
      status: {
        ...tenant.status,
        attempts,
        phase: 'Failed',
        failedGeneration: tenant.spec.generation,
        lastError: `${reason} Gave up after ${attempts} attempts; wake the tenant to try again.`,
        lastErrorCategory: category,
        retryAt: undefined,
      },
    };
  }
  const delay = backoffMs(attempts, settings, deps.random?.());
  return {
    ...tenant,
    status: {
      ...tenant.status,
      attempts,
      lastError: reason,
      lastErrorCategory: category,
      retryAt: new Date(clock.now().getTime() + delay).toISOString(),
    },
  };
}

/**
 * The task kept failing its health check from the start: the tenant is Failed at once, since a
 * new task would run the same application against the same check. Its task is stopped and its
 * slot freed by the plan's cleanup of a failed tenant.
 */
export function neverHealthy({ settings, clock, logger }: ReconcileDeps, tenant: Tenant, reason: string): Tenant {
  logger?.warn?.('The task never passed its health check; the tenant failed', { tenantId: tenant.id, reason });
  return failedAtOnce(clock, tenant, {
    attempts: tenant.status.attempts + 1,
    lastError: `${reason} Gave up after ${duration(settings.unhealthyTimeoutMs)} of failed health checks; fix the application, then wake the tenant to try again.`,
  });
}

/**
 * The tenant's plan is not in the installation's configuration: nothing says what to start, and
 * retrying would not change that. Failed at once; a plan change (a new generation) or a wake
 * after the plan is configured again tries anew.
 */
export function unconfigured({ clock, logger }: ReconcileDeps, tenant: Tenant, reason: string): Tenant {
  logger?.warn?.('The tenant names a plan that is not configured; the tenant failed', { tenantId: tenant.id, plan: tenant.spec.plan });
  return failedAtOnce(clock, tenant, { lastError: reason, lastErrorCategory: 'platform' });
}

/** Failed now, for the tenant's current generation, with nothing to retry: `status` says why. */
function failedAtOnce(clock: Clock, tenant: Tenant, status: Partial<TenantStatus>): Tenant {
  return {
    ...tenant,
    status: {
      ...tenant.status,
      phase: 'Failed',
      transitionAt: clock.now().toISOString(),
      failedGeneration: tenant.spec.generation,
      retryAt: undefined,
      ...status,
    },
  };
}

function duration(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)} minutes` : `${Math.round(ms / 1000)} seconds`;
}
