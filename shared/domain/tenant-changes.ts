import { equalAsStored } from './equality.js';
import { ConflictError, ValidationError } from './errors.js';
import {
  environmentBytes,
  planNamed,
  planRevision,
  TASK_ENVIRONMENT_LIMIT_BYTES,
  type KeepWarm,
  type PlanCatalog,
  type PlanDefinition,
} from './plans.js';
import { withNewHours } from './keep-warm.js';
import type { Tenant } from './tenant.js';

/** What an operator may change on a tenant; fields left out stay as they are. */
export interface TenantChanges {
  /** Any plan of the installation, public or not. */
  plan?: string;
  /** ISO time: a new end for the trial, earlier or later. */
  trialEndsAt?: string;
  /** Replaces the tenant's own environment; `{}` clears it. */
  environment?: Record<string, string>;
  /** The tenant's own keep-warm hours; `null` clears them, and its plan's apply again. */
  keepWarm?: KeepWarm | null;
}

/** The plan of that name, or a ValidationError naming the plans there are. */
export function configuredPlan(plans: PlanCatalog, name: string): PlanDefinition {
  const plan = planNamed(plans, name);
  if (plan) return plan;
  const names = plans.plans.map((candidate) => candidate.name).join(', ');
  throw new ValidationError(`There is no plan "${name}"; the plans are: ${names}.`, { plan: `must be one of: ${names}` });
}

/**
 * The tenant with `changes` applied, or the very same object when they change nothing (so the
 * caller writes nothing). A new plan or environment is a new generation: the reconciler starts
 * the tenant's task anew. A plan with no trial length has no end date: moving to one converts
 * the tenant, which then never expires; moving from no end date to a plan with a trial length
 * starts a trial of that length now.
 */
export function withChanges(tenant: Tenant, changes: TenantChanges, plans: PlanCatalog, now: Date): Tenant {
  let next: Tenant = tenant;
  let newGeneration = false;

  if (changes.plan !== undefined && changes.plan !== tenant.spec.plan) {
    const plan = configuredPlan(plans, changes.plan);
    next = { ...next, spec: { ...next.spec, plan: plan.name } };
    if (plan.trialDays === undefined) {
      // Converted: no end date, and no notice about the end there was.
      const { trialEndsAt: _end, expiringNoticeAt: _notice, ...rest } = next;
      next = rest;
    } else if (next.trialEndsAt === undefined) {
      // A trial that already runs keeps its end; a tenant with none starts a trial now.
      next = { ...next, trialEndsAt: new Date(now.getTime() + plan.trialDays * 86_400_000).toISOString() };
    }
    newGeneration = true;
  }

  if (changes.trialEndsAt !== undefined) {
    const plan = planNamed(plans, next.spec.plan);
    if (plan?.trialDays === undefined) {
      throw new ConflictError(
        `Plan "${next.spec.plan}" has no trial length: its tenants never expire, so tenant "${tenant.id}" has no trial end to set. Move it to a plan with a trial length first.`,
        'no_trial_length',
        { trialEndsAt: `cannot be set on plan "${next.spec.plan}", which has no trial length` },
      );
    }
    const trialEndsAt = new Date(changes.trialEndsAt);
    if (trialEndsAt.getTime() <= now.getTime()) {
      throw new ValidationError('Invalid change: trialEndsAt must be in the future; to end a trial now, delete the tenant.', {
        trialEndsAt: 'must be in the future',
      });
    }
    if (trialEndsAt.toISOString() !== next.trialEndsAt) {
      // The expiring notice was about the old end: the new one gets its own.
      const { expiringNoticeAt: _notice, ...rest } = next;
      next = { ...rest, trialEndsAt: trialEndsAt.toISOString() };
    }
  }

  let newEnvironment = false;
  if (changes.environment !== undefined && !equalAsStored(changes.environment, next.spec.environment ?? {})) {
    const { environment: _old, ...spec } = next.spec;
    next = { ...next, spec: Object.keys(changes.environment).length > 0 ? { ...spec, environment: changes.environment } : spec };
    newGeneration = true;
    newEnvironment = true;
  }
  // A new generation starts a task: refused here, with a reason, rather than by ECS at its start.
  if (newGeneration) checkTaskEnvironment(next, plans, newEnvironment ? 'environment' : 'plan');

  if (changes.keepWarm !== undefined && !equalAsStored(changes.keepWarm ?? undefined, next.spec.keepWarm)) {
    // Hours are the sweep's business, not the task's: no new generation.
    const { keepWarm: _old, ...spec } = next.spec;
    next = { ...next, spec: changes.keepWarm ? { ...spec, keepWarm: changes.keepWarm } : spec };
  }

  if (next === tenant) return tenant;
  next = withNewHours(tenant, next, plans, now);
  return newGeneration ? { ...next, spec: { ...next.spec, generation: tenant.spec.generation + 1 } } : next;
}

/** The plan's environment and the tenant's own must fit RunTask's overrides together. */
function checkTaskEnvironment(tenant: Tenant, plans: PlanCatalog, field: 'plan' | 'environment'): void {
  const plan = planNamed(plans, tenant.spec.plan);
  if (!plan) return;
  const total = environmentBytes({ ...plan.environment, ...tenant.spec.environment });
  if (total <= TASK_ENVIRONMENT_LIMIT_BYTES) return;
  const planShare = environmentBytes(plan.environment);
  throw new ValidationError(
    `Invalid change: tenant "${tenant.id}" would start with ${total} bytes of environment, over the limit of ${TASK_ENVIRONMENT_LIMIT_BYTES} bytes for its plan's and its own together (as RunTask's overrides carry them). Plan "${plan.name}" takes ${planShare} bytes of it.`,
    {
      [field]: `plan and tenant environment together must be at most ${TASK_ENVIRONMENT_LIMIT_BYTES} bytes; plan "${plan.name}" takes ${planShare}`,
    },
  );
}

/**
 * Whether the tenant's task runs an older definition of the tenant's plan than the one now
 * configured (the plan was changed since it started; it applies at the next start). Undefined
 * when there is no task that says what it was started as, or it was started on another plan
 * (then the tenant is a generation behind, which the view shows already).
 */
export function runsOlderPlan(tenant: Tenant, plans: PlanCatalog): boolean | undefined {
  const launchedAs = tenant.status.task?.launchedAs;
  if (!launchedAs || launchedAs.plan !== tenant.spec.plan) return undefined;
  const plan = planNamed(plans, tenant.spec.plan);
  return plan === undefined || launchedAs.revision !== planRevision(plan);
}
