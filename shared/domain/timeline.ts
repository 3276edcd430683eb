import type { TenantChange } from './domain-events.js';
import { redactDetail } from './redaction.js';
import { isSpot, type Audience, type Desired, type Phase, type Tenant } from './tenant.js';

/**
 * A tenant's timeline: one entry per transition, derived from the record's changes (old and new
 * images) as the domain events are, so it shows only writes that happened.
 */

/** How many entries a tenant keeps: the newest are kept, older ones are overwritten. */
export const TIMELINE_LENGTH = 50;

export type Capacity = 'spot' | 'on-demand';

/** One transition, as stored. */
export interface TimelineEntry {
  /** ISO time of the change. */
  at: string;
  phase: Phase;
  desired: Desired;
  plan: string;
  shard?: number;
  capacity?: Capacity;
  /**
   * The task's id (the last part of its ARN), kept so its output can be found later: the task's
   * log stream is named after it. Never shown to the token holder.
   */
  task?: string;
  /** The error as recorded, without secrets (operators read it; the token holder reads it redacted further). */
  reason?: string;
  /** The record's version: orders entries, and tells a redelivered change from a new one. */
  version: number;
  /**
   * When the tenant was created: a slug taken again after its tenant was deleted starts a new
   * timeline (its record versions start again too).
   */
  createdAt: string;
}

/** An entry as the API serves it. */
export interface TimelineView {
  at: string;
  phase: Phase;
  desired: Desired;
  reason?: string;
  capacity?: Capacity;
  shard?: number;
  plan?: string;
}

/**
 * The timeline entry a change adds, or undefined when it changes nothing the timeline shows:
 * activity, leases and counters are not transitions. Unconfirmed signups are not recorded: they
 * are nobody's business until confirmed.
 */
export function timelineEntryFor({ before, after, at }: TenantChange): TimelineEntry | undefined {
  // A deleted tenant's timeline is removed, not added to.
  if (!after || after.status.phase === 'PendingVerification' || after.status.phase === 'Deleted') return undefined;
  const entry = entryOf(after, changeTime(before, after, at));
  if (before && before.status.phase !== 'PendingVerification' && before.createdAt === after.createdAt) {
    const previous = entryOf(before, entry.at);
    if (sameTransition(previous, entry)) return undefined;
  }
  return entry;
}

/**
 * When the change happened. A new phase carries its own time, to the millisecond, written by
 * whoever made the change; the stream's time is approximate (to the second on AWS, coarser in
 * DynamoDB Local). For other changes the stream's time is all there is, but never earlier than
 * the phase they happened in.
 */
function changeTime(before: Tenant | undefined, after: Tenant, streamTime: string): string {
  const { phase, transitionAt } = after.status;
  if (before?.status.phase !== phase) return transitionAt;
  return streamTime > transitionAt ? streamTime : transitionAt;
}

/** Whether the tenant is gone: its timeline goes with it. */
export function endsTimeline({ before, after }: TenantChange): boolean {
  if (!after) return true;
  return after.status.phase === 'Deleted' && before?.status.phase !== 'Deleted';
}

function entryOf(tenant: Tenant, at: string): TimelineEntry {
  const { status, spec } = tenant;
  const task = status.task;
  const reason = status.lastError ? redactDetail(status.lastError, 'admin') : undefined;
  return {
    at,
    phase: status.phase,
    desired: spec.desired,
    plan: spec.plan,
    ...(status.shard !== undefined ? { shard: status.shard } : {}),
    ...(task ? { capacity: isSpot(task.capacityProvider) ? 'spot' : 'on-demand', task: taskId(task.arn) } : {}),
    ...(reason ? { reason } : {}),
    version: tenant.version,
    createdAt: tenant.createdAt,
  };
}

function sameTransition(a: TimelineEntry, b: TimelineEntry): boolean {
  return (
    a.phase === b.phase &&
    a.desired === b.desired &&
    a.plan === b.plan &&
    a.shard === b.shard &&
    a.capacity === b.capacity &&
    a.task === b.task &&
    a.reason === b.reason
  );
}

/** `arn:aws:ecs:…:task/<cluster>/<id>` → `<id>`; a local task's ARN ends the same way. */
export function taskId(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

/** The entry as `audience` may read it: the token holder gets no task id and a redacted reason. */
export function timelineView(entry: TimelineEntry, audience: Exclude<Audience, 'anonymous'>): TimelineView {
  const reason = entry.reason ? redactDetail(entry.reason, audience) : undefined;
  return {
    at: entry.at,
    phase: entry.phase,
    desired: entry.desired,
    ...(reason ? { reason } : {}),
    ...(entry.capacity ? { capacity: entry.capacity } : {}),
    ...(entry.shard !== undefined ? { shard: entry.shard } : {}),
    plan: entry.plan,
  };
}

/** Whether `entry` comes after `last` (a later record version of the same tenant, or a newer tenant). */
export function isNewer(entry: Pick<TimelineEntry, 'version' | 'createdAt'>, last: Pick<TimelineEntry, 'version' | 'createdAt'>): boolean {
  if (entry.createdAt !== last.createdAt) return entry.createdAt > last.createdAt;
  return entry.version > last.version;
}

/** The task ids a timeline names, newest first, each once. */
export function tasksOf(entries: readonly TimelineEntry[]): string[] {
  const ids = entries
    .slice()
    .sort((a, b) => b.version - a.version)
    .flatMap((entry) => (entry.task ? [entry.task] : []));
  return [...new Set(ids)];
}
