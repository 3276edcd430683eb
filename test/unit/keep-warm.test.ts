import { describe, expect, it } from 'vitest';
import { isKeptWarm, nextWarmStart, withWarmAt } from '../../shared/domain/keep-warm.js';
import { builtInPlans, type KeepWarm } from '../../shared/domain/plans.js';
import { withChanges } from '../../shared/domain/tenant-changes.js';
import { newTenant, withDesired, type Tenant } from '../../shared/domain/tenant.js';

const OFFICE_HOURS: KeepWarm = { timeZone: 'Europe/Paris', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00' };
const at = (iso: string) => new Date(iso);
const next = (schedule: KeepWarm, after: string) => nextWarmStart(schedule, at(after))?.toISOString();

describe('keep-warm hours', () => {
  it('keeps a tenant warm on the days and hours of its schedule, local time, and not outside them', () => {
    // Paris is UTC+1 in January: 08:00 there is 07:00 UTC. 2026-01-12 is a Monday.
    expect(isKeptWarm(OFFICE_HOURS, at('2026-01-12T06:59:59.999Z'))).toBe(false);
    expect(isKeptWarm(OFFICE_HOURS, at('2026-01-12T07:00:00.000Z'))).toBe(true);
    expect(isKeptWarm(OFFICE_HOURS, at('2026-01-12T16:59:59.999Z'))).toBe(true);
    expect(isKeptWarm(OFFICE_HOURS, at('2026-01-12T17:00:00.000Z'))).toBe(false);
    // Saturday
    expect(isKeptWarm(OFFICE_HOURS, at('2026-01-17T10:00:00.000Z'))).toBe(false);
  });

  it('gives the next start after a weekend, in the time zone of the schedule', () => {
    expect(next(OFFICE_HOURS, '2026-01-16T17:00:00.000Z')).toBe('2026-01-19T07:00:00.000Z');
    const newYork: KeepWarm = { ...OFFICE_HOURS, timeZone: 'America/New_York' };
    // 08:00 in New York in January is 13:00 UTC.
    expect(next(newYork, '2026-01-16T22:00:00.000Z')).toBe('2026-01-19T13:00:00.000Z');
  });

  it('follows the clocks going forward at the end of March (Europe/Paris)', () => {
    // Friday 27 March: UTC+1. Monday 30 March: UTC+2, so 08:00 is an hour earlier in UTC.
    expect(isKeptWarm(OFFICE_HOURS, at('2026-03-27T07:00:00.000Z'))).toBe(true);
    expect(next(OFFICE_HOURS, '2026-03-27T17:00:00.000Z')).toBe('2026-03-30T06:00:00.000Z');
    expect(isKeptWarm(OFFICE_HOURS, at('2026-03-30T06:00:00.000Z'))).toBe(true);
    expect(isKeptWarm(OFFICE_HOURS, at('2026-03-30T16:00:00.000Z'))).toBe(false);
  });

  it('follows the clocks going back at the end of October (Europe/Paris)', () => {
    // Friday 23 October: UTC+2. Monday 26 October: UTC+1.
    expect(next(OFFICE_HOURS, '2026-10-22T16:00:00.000Z')).toBe('2026-10-23T06:00:00.000Z');
    expect(next(OFFICE_HOURS, '2026-10-23T16:00:00.000Z')).toBe('2026-10-26T07:00:00.000Z');
    expect(isKeptWarm(OFFICE_HOURS, at('2026-10-26T06:30:00.000Z'))).toBe(false);
    expect(isKeptWarm(OFFICE_HOURS, at('2026-10-26T16:30:00.000Z'))).toBe(true);
  });

  it('runs an overnight window past midnight, through the night the clocks go forward', () => {
    // Saturday 22:00 (UTC+1) to Sunday 06:00 (UTC+2): seven hours that night.
    const nights: KeepWarm = { timeZone: 'Europe/Paris', days: ['sat'], from: '22:00', to: '06:00' };
    expect(isKeptWarm(nights, at('2026-03-28T20:59:00.000Z'))).toBe(false);
    expect(isKeptWarm(nights, at('2026-03-28T21:00:00.000Z'))).toBe(true);
    expect(isKeptWarm(nights, at('2026-03-29T03:59:00.000Z'))).toBe(true);
    expect(isKeptWarm(nights, at('2026-03-29T04:00:00.000Z'))).toBe(false);
    // Sunday evening is not a start day.
    expect(isKeptWarm(nights, at('2026-03-29T21:30:00.000Z'))).toBe(false);
    expect(next(nights, '2026-03-29T04:00:00.000Z')).toBe('2026-04-04T20:00:00.000Z');
  });

  it('reads a start time the clocks skip as if they had not moved, and one they repeat as the first', () => {
    // 02:30 does not exist in Paris on 29 March 2026: it is read as 02:30 UTC+1, i.e. 03:30 UTC+2.
    const skipped: KeepWarm = { timeZone: 'Europe/Paris', days: ['sun'], from: '02:30', to: '04:00' };
    expect(next(skipped, '2026-03-28T12:00:00.000Z')).toBe('2026-03-29T01:30:00.000Z');
    expect(isKeptWarm(skipped, at('2026-03-29T01:15:00.000Z'))).toBe(false);
    expect(isKeptWarm(skipped, at('2026-03-29T01:45:00.000Z'))).toBe(true);
    // 02:30 happens twice on 25 October 2026; the first is 00:30 UTC, and 04:00 UTC+1 is 03:00 UTC.
    expect(next(skipped, '2026-10-24T12:00:00.000Z')).toBe('2026-10-25T00:30:00.000Z');
    expect(isKeptWarm(skipped, at('2026-10-25T02:59:00.000Z'))).toBe(true);
    expect(isKeptWarm(skipped, at('2026-10-25T03:00:00.000Z'))).toBe(false);
  });

  it('keeps a tenant warm all week with equal times on every day, and names the next midnight as the next start', () => {
    const always: KeepWarm = { timeZone: 'UTC', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '00:00', to: '00:00' };
    for (const time of ['2026-01-12T00:00:00.000Z', '2026-03-29T01:30:00.000Z', '2026-10-25T23:59:59.999Z']) {
      expect(isKeptWarm(always, at(time))).toBe(true);
    }
    expect(next(always, '2026-01-12T09:00:00.000Z')).toBe('2026-01-13T00:00:00.000Z');
  });

  it('names the next window, not the one open now, as the next start', () => {
    const now = '2026-01-14T09:00:00.000Z';
    expect(isKeptWarm(OFFICE_HOURS, at(now))).toBe(true);
    expect(next(OFFICE_HOURS, now)).toBe('2026-01-15T07:00:00.000Z');
    // Exactly at a start, that start has begun; a millisecond before, it is next.
    expect(next(OFFICE_HOURS, '2026-01-15T07:00:00.000Z')).toBe('2026-01-16T07:00:00.000Z');
    expect(next(OFFICE_HOURS, '2026-01-15T06:59:59.999Z')).toBe('2026-01-15T07:00:00.000Z');
  });

  it('has no next start without days', () => {
    expect(nextWarmStart({ ...OFFICE_HOURS, days: [] }, at('2026-01-14T09:00:00.000Z'))).toBeUndefined();
  });
});

describe('warmAt: when a sleeping tenant is next woken for its hours', () => {
  const plans = builtInPlans({ cpu: 256, memory: 512, idleMs: 15 * 60_000, trialDays: 14 });
  // Wednesday 14 January 2026, 09:00 UTC: inside office hours (10:00 in Paris).
  const now = at('2026-01-14T09:00:00.000Z');
  const base = newTenant({ slug: 'acme', email: 'a@example.test', plan: 'trial', tokenHash: 'h', now, trialDays: 14 });
  const running: Tenant = { ...base, status: { ...base.status, phase: 'Running', observedGeneration: 1 } };
  const asleep = (tenant: Tenant): Tenant => {
    const passivated = withDesired(tenant, 'passivated');
    return { ...passivated, status: { ...passivated.status, phase: 'Passivated', observedGeneration: passivated.spec.generation } };
  };

  it('is set as the tenant is recorded asleep as asked, to the next start even during its hours, and cleared once it is asked to run', () => {
    const office = { ...running, spec: { ...running.spec, keepWarm: OFFICE_HOURS } };
    const recorded = withWarmAt(asleep(office), plans, now);
    expect(recorded.warmAt).toBe('2026-01-15T07:00:00.000Z');
    expect(withWarmAt(recorded, plans, at('2026-01-14T12:00:00.000Z')).warmAt).toBe('2026-01-15T07:00:00.000Z');
    expect(withWarmAt(withDesired(recorded, 'running'), plans, now)).not.toHaveProperty('warmAt');
    expect(withWarmAt(asleep(running), plans, now)).not.toHaveProperty('warmAt');
  });

  it('follows an operator who gives a sleeping tenant hours, moves them or takes them away; an awake one gets them when it sleeps', () => {
    const sleeping = asleep(running);
    const given = withChanges(sleeping, { keepWarm: OFFICE_HOURS }, plans, now);
    const moved = withChanges(given, { keepWarm: { ...OFFICE_HOURS, from: '12:00' } }, plans, now);
    const removed = withChanges(moved, { keepWarm: null }, plans, now);
    const awake = withChanges(running, { keepWarm: OFFICE_HOURS }, plans, now);

    expect(given.warmAt).toBe('2026-01-15T07:00:00.000Z');
    expect(given.spec.generation).toBe(sleeping.spec.generation);
    // Noon in Paris is 11:00 UTC, still ahead today.
    expect(moved.warmAt).toBe('2026-01-14T11:00:00.000Z');
    expect(removed).not.toHaveProperty('warmAt');
    expect(awake).not.toHaveProperty('warmAt');
  });
});
