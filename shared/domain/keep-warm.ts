import { createHash } from 'node:crypto';
import { equalAsStored } from './equality.js';
import { WEEKDAYS, type KeepWarm, type PlanCatalog, planNamed, type Weekday } from './plans.js';
import type { Tenant } from './tenant.js';

/**
 * Keep-warm hours: a weekly schedule in a time zone during which a tenant is not passivated, and
 * shortly before which it is woken. Times are read with the runtime's time zone data (`Intl`),
 * so daylight saving time follows the zone's rules.
 *
 * A window begins on each of the schedule's days at `from`, local time, and ends at `to`, the
 * same day, or the next day when `to` is not after `from` (overnight; equal times mean 24 hours).
 * Local times that do not exist or exist twice on the day the clocks change are read as most
 * calendars and libraries do (Temporal's `compatible`): a time skipped when the clocks go forward
 * means the same instant as if they had not moved yet (02:30 becomes 03:30), and a time that
 * happens twice when they go back means the first one.
 */

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** The schedule that applies to a tenant: its own, else its plan's. */
export function effectiveKeepWarm(tenant: Tenant, plans: PlanCatalog): KeepWarm | undefined {
  return tenant.spec.keepWarm ?? planNamed(plans, tenant.spec.plan)?.keepWarm;
}

/** Passivated, and meant to be: the only tenants `warmAt` is kept for. */
function asleepAsAsked(tenant: Tenant): boolean {
  return tenant.status.phase === 'Passivated' && tenant.spec.desired === 'passivated';
}

/** When the tenant's hours (its own, else its plan's) next begin after `now`, as `warmAt` holds it; undefined without hours. */
function nextWarmAt(tenant: Tenant, plans: PlanCatalog, now: Date): string | undefined {
  const schedule = effectiveKeepWarm(tenant, plans);
  return schedule ? nextWarmStart(schedule, now)?.toISOString() : undefined;
}

/** The tenant with `warmAt` set to the next start of its hours, or without one when it has none. */
export function rescheduled(tenant: Tenant, plans: PlanCatalog, now: Date): Tenant {
  const { warmAt: _old, ...rest } = tenant;
  const next = nextWarmAt(tenant, plans, now);
  return next ? { ...rest, warmAt: next } : rest;
}

/**
 * The tenant with `warmAt` as the reconciler records it: set to the start of the next window when
 * it is recorded asleep as asked (so an operator who puts it to sleep during its hours is obeyed
 * until the next ones), kept while it stays asleep, and cleared once it is asked to run or is on
 * its way anywhere else. A schedule changed while it sleeps is applied by `withNewHours`; the
 * sweep checks it again before waking anyway.
 */
export function withWarmAt(tenant: Tenant, plans: PlanCatalog, now: Date): Tenant {
  if (!asleepAsAsked(tenant)) {
    if (tenant.warmAt === undefined) return tenant;
    const { warmAt: _cleared, ...awake } = tenant;
    return awake;
  }
  if (tenant.warmAt !== undefined) return tenant;
  const next = nextWarmAt(tenant, plans, now);
  return next ? { ...tenant, warmAt: next } : tenant;
}

/**
 * `after`, a change of `before` by an operator, with `warmAt` following a change of its hours (its
 * own, or its plan's): a tenant asleep as asked waits for the next start of its new hours, or for
 * nothing when it has none left. It is not woken at once, even when the new hours are open now:
 * it was put to sleep, and that choice stands until they next begin.
 */
export function withNewHours(before: Tenant, after: Tenant, plans: PlanCatalog, now: Date): Tenant {
  if (!asleepAsAsked(after) || equalAsStored(effectiveKeepWarm(before, plans), effectiveKeepWarm(after, plans))) return after;
  return rescheduled(after, plans, now);
}

/**
 * A short digest of every plan's keep-warm hours: when the configuration's differs from the one
 * the sleeping tenants were last brought up to date with, their `warmAt` is computed again.
 */
export function plansHoursDigest(plans: PlanCatalog): string {
  const hours = plans.plans
    .map(({ name, keepWarm }) => [name, keepWarm ? [keepWarm.timeZone, [...keepWarm.days], keepWarm.from, keepWarm.to] : null])
    .sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1));
  return createHash('sha256').update(JSON.stringify(hours)).digest('hex').slice(0, 12);
}

/**
 * The tenant asleep as asked with `warmAt` at the next start of its plan's hours as they are
 * configured now (added, moved or removed since it went to sleep), or undefined when nothing
 * changes. A tenant with hours of its own, or one already due to be woken, is left as it is.
 */
export function withPlanHoursNow(tenant: Tenant, plans: PlanCatalog, now: Date, dueBefore: Date): Tenant | undefined {
  if (!asleepAsAsked(tenant) || tenant.spec.keepWarm !== undefined) return undefined;
  if (tenant.warmAt !== undefined && Date.parse(tenant.warmAt) <= dueBefore.getTime()) return undefined;
  const next = rescheduled(tenant, plans, now);
  return next.warmAt === tenant.warmAt ? undefined : next;
}

/** Whether `now` lies inside one of the schedule's windows. */
export function isKeptWarm(schedule: KeepWarm, now: Date): boolean {
  const at = now.getTime();
  const today = localDate(schedule.timeZone, at);
  // A window that began yesterday may run past midnight into today.
  for (const day of [addDays(today, -1), today]) {
    const window = windowOn(schedule, day);
    if (window && window.start <= at && at < window.end) return true;
  }
  return false;
}

/** The start of the first window that begins strictly after `after`; undefined for a schedule with no days. */
export function nextWarmStart(schedule: KeepWarm, after: Date): Date | undefined {
  const at = after.getTime();
  const today = localDate(schedule.timeZone, at);
  // A week and a day reach the next start of any weekly schedule, whatever the time of day.
  for (let offset = 0; offset <= 8; offset++) {
    const window = windowOn(schedule, addDays(today, offset));
    if (window && window.start > at) return new Date(window.start);
  }
  return undefined;
}

/** A calendar date, as local to some zone. */
interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/** The window beginning on `date`, as instants, or undefined when the schedule skips that weekday. */
function windowOn(schedule: KeepWarm, date: LocalDate): { start: number; end: number } | undefined {
  if (!schedule.days.includes(weekday(date))) return undefined;
  const from = minutesOf(schedule.from);
  const to = minutesOf(schedule.to);
  const start = instantOf(schedule.timeZone, date, from);
  const end = instantOf(schedule.timeZone, to > from ? date : addDays(date, 1), to);
  return { start, end };
}

function minutesOf(clock: string): number {
  const [hours, minutes] = clock.split(':').map(Number);
  return hours! * 60 + minutes!;
}

function weekday({ year, month, day }: LocalDate): Weekday {
  // getUTCDay counts from Sunday; WEEKDAYS from Monday.
  return WEEKDAYS[(new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 6) % 7]!;
}

function addDays({ year, month, day }: LocalDate, days: number): LocalDate {
  const date = new Date(Date.UTC(year, month - 1, day + days));
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
}

/**
 * The instant at which clocks in `timeZone` show `minutes` past midnight on `date`. The wall
 * time read as if it were UTC is off by the zone's offset, which is the offset either before or
 * after any change of the clocks near that day (changes are months apart).
 */
function instantOf(timeZone: string, date: LocalDate, minutes: number): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day) + minutes * MINUTE_MS;
  const before = offsetAt(timeZone, wall - DAY_MS);
  const after = offsetAt(timeZone, wall + DAY_MS);
  const matches = [wall - before, wall - after].filter((instant) => instant + offsetAt(timeZone, instant) === wall);
  // Twice (clocks went back): the first. Never (clocks went forward): as if they had not moved.
  return matches.length > 0 ? Math.min(...matches) : wall - before;
}

function localDate(timeZone: string, at: number): LocalDate {
  const wall = new Date(at + offsetAt(timeZone, at));
  return { year: wall.getUTCFullYear(), month: wall.getUTCMonth() + 1, day: wall.getUTCDate() };
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** How far the zone's clocks are ahead of UTC at `at`, in milliseconds. */
function offsetAt(timeZone: string, at: number): number {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, format);
  }
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(at)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  // Seconds below the minute cancel out: offsets are whole minutes in every zone in use.
  return wall - (at - (at % 1000));
}
