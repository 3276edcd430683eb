import type { DomainEvent } from '../ports/events.js';
import type { Phase, Tenant } from './tenant.js';

/**
 * Domain events derived from one change of a tenant record, as the table's stream reports it.
 * Handlers only write the table; these events are computed afterwards from the old and new
 * images, so an event is never published for a write that did not happen.
 */

export const EVENT_SOURCE = 'dormouse';

export const TENANT_REQUESTED = 'Tenant Requested';
export const TENANT_READY = 'Tenant Ready';
export const TENANT_WOKEN = 'Tenant Woken';
export const TENANT_PASSIVATED = 'Tenant Passivated';
export const TENANT_FAILED = 'Tenant Failed';
export const TENANT_DELETED = 'Tenant Deleted';
/** The trial ends soon (the sweep's notice time before `trialEndsAt`); published once per tenant. */
export const TENANT_EXPIRING = 'Tenant Expiring';
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
 * Attributes whose change alone is not news: the idle sweep's activity updates touch
 * `lastActiveAt`, and every write bumps `version`. Reconciling on them would be wasted work.
 * `expiringNoticeAt` is news for integrators (`Tenant Expiring`), not for the reconciler.
 */
const UNEVENTFUL: ReadonlySet<string> = new Set(['version', 'lastActiveAt', 'expiringNoticeAt']);

export function domainEventsFor({ before, after, at }: TenantChange): DomainEvent[] {
  // A removal is TTL clearing a tombstone; `Tenant Deleted` was published when it became one.
  if (!after) return [];
  const event = (detailType: string, extra: Record<string, unknown> = {}): DomainEvent => ({
    detailType,
    tenantId: after.id,
    detail: { ...detailOf(after), ...extra },
    time: at,
  });

  const events: DomainEvent[] = [];
  if (!before) {
    // The only event that carries the email: integrators need it for the welcome mail.
    events.push(event(TENANT_REQUESTED, { email: after.email }));
  } else if (before.status.phase !== after.status.phase) {
    const transition = transitionEvent(before.status.phase, after.status.phase);
    if (transition) events.push(event(transition));
  }
  if (after.expiringNoticeAt !== undefined && before?.expiringNoticeAt === undefined) {
    events.push(event(TENANT_EXPIRING, { expiringNoticeAt: after.expiringNoticeAt }));
  }
  if (!before || !(sameIgnoring(before, after, UNEVENTFUL) || leaseTaken(before, after))) events.push(event(TENANT_CHANGED));
  return events;
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
    ...(status.lastError ? { reason: status.lastError } : {}),
    ...(status.task ? { capacityProvider: status.task.capacityProvider } : {}),
  };
}

/**
 * A reconciler taking a tenant's lease is not news: it is already at work on it. Giving the
 * lease back is, because a change that arrived meanwhile may still need a look.
 */
function leaseTaken(before: Tenant, after: Tenant): boolean {
  return after.lease !== undefined && sameIgnoring(before, after, WITH_LEASE);
}

const WITH_LEASE: ReadonlySet<string> = new Set([...UNEVENTFUL, 'lease']);

function sameIgnoring(a: Tenant, b: Tenant, ignored: ReadonlySet<string>): boolean {
  const strip = (tenant: Tenant) =>
    Object.fromEntries(Object.entries(tenant).filter(([name]) => !ignored.has(name)));
  return deepEqual(strip(a), strip(b));
}

/**
 * Structural equality of unmarshalled items. Key order is not significant (DynamoDB does not
 * keep it), and an attribute set to `undefined` counts as absent, as it does once stored.
 */
function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((value, index) => deepEqual(value, b[index]));
  }
  const defined = (value: object) => Object.entries(value).filter(([, entry]) => entry !== undefined);
  const left = defined(a);
  const right = new Map(defined(b));
  return left.length === right.size && left.every(([name, value]) => right.has(name) && deepEqual(value, right.get(name)));
}
