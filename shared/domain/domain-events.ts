import { equalAsStored } from './equality.js';
import { letGoWithWorkLeft } from './lease.js';
import { redactDetail } from './redaction.js';
import { costPrices } from './prices.js';
import type { Phase, Tenant } from './tenant.js';
import { costOf, usageBetween, type CostPrices } from './usage.js';

/**
 * Domain events derived from one change of a tenant record, as the table's stream reports it.
 * Handlers only write the table; these events are computed afterwards from the old and new
 * images, so an event is never published for a write that did not happen.
 */

/** A domain event for integrators and for the reconciler, as put on the custom bus. */
export interface DomainEvent {
  /** e.g. `Tenant Ready` */
  detailType: string;
  tenantId: string;
  detail: Record<string, unknown>;
  /** ISO time of the change that produced the event. */
  time: string;
}

export const EVENT_SOURCE = 'dormouse';

export const TENANT_REQUESTED = 'Tenant Requested';
export const TENANT_READY = 'Tenant Ready';
export const TENANT_WOKEN = 'Tenant Woken';
export const TENANT_PASSIVATED = 'Tenant Passivated';
export const TENANT_FAILED = 'Tenant Failed';
export const TENANT_DELETED = 'Tenant Deleted';
/** The trial ends soon (the sweep's notice time before `trialEndsAt`); published once per tenant. */
export const TENANT_EXPIRING = 'Tenant Expiring';
/**
 * What a tenant used in an hour it ran, for billing integrators: once per tenant and hour (the
 * sweep closes the hour on the record; `detail.id` is `<tenant>/<hour>`, for consumers to drop a
 * redelivery).
 */
export const TENANT_USAGE = 'Tenant Usage';
/** An operator moved the tenant to another plan; `converted` when that took its trial end away. */
export const TENANT_PLAN_CHANGED = 'Tenant Plan Changed';
/** The one the reconcile rule listens to: something it may have to act on changed. */
export const TENANT_CHANGED = 'Tenant Changed';

/** One stream record: no `before` is an insert, no `after` a removal. */
export interface TenantChange {
  before?: Tenant;
  after?: Tenant;
  /** ISO time of the change (the stream record's ApproximateCreationDateTime). */
  at: string;
}

/**
 * `prices`: what `Tenant Usage` prices the running time at, those of the installation's task
 * architecture (`costPrices`); x86_64's unless said.
 */
export function domainEventsFor({ before, after, at }: TenantChange, prices: CostPrices = costPrices('x86_64')): DomainEvent[] {
  // A removal is TTL clearing a tombstone; `Tenant Deleted` was published when it became one.
  if (!after) return [];
  const event = (detailType: string, extra: Record<string, unknown> = {}): DomainEvent => ({
    detailType,
    tenantId: after.id,
    detail: { ...detailOf(after), ...extra },
    time: at,
  });

  // An unconfirmed signup is nobody's business yet: not the reconciler's, not integrators'.
  if (after.status.phase === 'PendingVerification') return [];
  // Confirming the email is when the tenant is requested; so is a new signup that took over the
  // slug of an expired, unconfirmed one.
  const requested = !before || before.status.phase === 'PendingVerification' || before.createdAt !== after.createdAt;

  const events: DomainEvent[] = [];
  if (requested) {
    // The only event that carries the email: integrators need it for the welcome mail.
    events.push(event(TENANT_REQUESTED, { email: after.email }));
  } else if (before && before.status.phase !== after.status.phase) {
    const transition = transitionEvent(before.status.phase, after.status.phase);
    if (transition) events.push(event(transition));
  }
  if (before && !requested && before.spec.plan !== after.spec.plan) {
    events.push(
      event(TENANT_PLAN_CHANGED, {
        previousPlan: before.spec.plan,
        plan: after.spec.plan,
        converted: before.trialEndsAt !== undefined && after.trialEndsAt === undefined,
      }),
    );
  }
  if (after.expiringNoticeAt !== undefined && before?.expiringNoticeAt === undefined) {
    events.push(event(TENANT_EXPIRING, { expiringNoticeAt: after.expiringNoticeAt }));
  }
  const usage = usageReport(before, after, prices);
  if (usage) events.push({ detailType: TENANT_USAGE, tenantId: after.id, detail: usage, time: at });
  if (requested || reconcilerNeeded(before, after, at)) events.push(event(TENANT_CHANGED));
  return events;
}

/**
 * The usage of the hour the write closed, as the difference from the previous report. The period
 * starts where the previous report ended: usually the hour itself, but a tenant that slept (its
 * data kept meanwhile) or an hour the sweep did not close adds more than one hour, and says so.
 */
function usageReport(before: Tenant | undefined, after: Tenant, prices: CostPrices): Record<string, unknown> | undefined {
  const report = after.usage?.reported;
  const previous = before?.usage?.reported;
  if (!report || report.period === previous?.period) return undefined;
  const used = usageBetween(previous?.totals, report.totals);
  return {
    id: `${after.id}/${report.period}`,
    tenantId: after.id,
    plan: after.spec.plan,
    period: { start: previous?.until ?? report.period, end: report.until },
    ...used,
    cost: costOf(used, prices),
  };
}

function transitionEvent(from: Phase, to: Phase): string | undefined {
  switch (to) {
    case 'Running':
      return from === 'Waking' ? TENANT_WOKEN : TENANT_READY;
    case 'Passivated':
      return TENANT_PASSIVATED;
    case 'Failed':
      return TENANT_FAILED;
    case 'Deleted':
      return TENANT_DELETED;
    default:
      return undefined;
  }
}

/** What every event says about the tenant. Never the token hash; the email only where added. */
function detailOf(tenant: Tenant): Record<string, unknown> {
  const { status, spec } = tenant;
  return {
    tenantId: tenant.id,
    phase: status.phase,
    desired: spec.desired,
    generation: spec.generation,
    observedGeneration: status.observedGeneration,
    trialEndsAt: tenant.trialEndsAt,
    // Integrators may pass it on to the tenant (a "your trial failed" mail): what the token holder may read.
    ...(status.lastError ? { reason: redactDetail(status.lastError, 'owner') } : {}),
    ...(status.lastErrorCategory ? { reasonCategory: status.lastErrorCategory } : {}),
    ...(status.task ? { capacityProvider: status.task.capacityProvider } : {}),
  };
}

/**
 * `Tenant Changed` starts a reconcile, so it is published only for what the reconciler must act
 * on and would not see otherwise: a new record; a new expected state (the API, the wake
 * function, the sweep); a task event applied to actual state; or a reconciler letting go of a
 * tenant that still needs work with no retry scheduled (its invocation ran out of time, or it
 * was the sweep's single look), so that another picks it up.
 * The reconciler's own writes are not news: while it holds the lease it looks again itself, and
 * the sweep takes up whatever is scheduled for later (`retryAt`). Activity (`lastActiveAt`) and
 * the expiring notice are not news either. Reconciling on each of these writes once cost a
 * fresh look at ECS and the load balancer every time, several of them at once.
 */
function reconcilerNeeded(before: Tenant | undefined, after: Tenant, at: string): boolean {
  if (!before) return true;
  if (!equalAsStored(before.spec, after.spec)) return true;
  if (taskEventApplied(before, after)) return true;
  return letGoWithWorkLeft(before, after, at);
}

/** Only the task-events handler moves the recorded task's ECS event version. */
function taskEventApplied(before: Tenant, after: Tenant): boolean {
  const version = after.status.task?.eventVersion;
  if (version === undefined) return false;
  return before.status.task?.arn !== after.status.task?.arn || before.status.task?.eventVersion !== version;
}
