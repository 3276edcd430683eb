import { describe, expect, it } from 'vitest';
import { builtInPlans } from '../../shared/domain/plans.js';
import { costPrices, PRICES } from '../../shared/domain/prices.js';
import type { ObservedTask } from '../../shared/domain/task.js';
import { newTenant, type Phase, type TaskStatus, type Tenant } from '../../shared/domain/tenant.js';
import {
  closePeriod,
  costOf,
  hasUnreportedUsage,
  measuredStorage,
  meter,
  meterKey,
  meterStoppedOutgoing,
  totalsAt,
  usageBetween,
  usageToDate,
} from '../../shared/domain/usage.js';

const PLANS = builtInPlans({ cpu: 512, memory: 1024, idleMs: 900_000, trialDays: 14 });
const T0 = Date.parse('2026-12-06T08:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();
const ARN_A = 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/aaaa';
const ARN_B = 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/bbbb';
const SPOT = meterKey('FARGATE_SPOT', { cpu: 512, memory: 1024 });

function tenant(): Tenant {
  return newTenant({ slug: 'acme', email: 'ann@acme.test', plan: 'trial', tokenHash: '0'.repeat(64), now: at(0), trialDays: 14 });
}

/**
 * The record written with this phase and task, metered at `seconds`, by a writer that observed
 * these tasks (by default none: a task the record let go of is gone).
 */
function write(
  record: Tenant,
  seconds: number,
  phase: Phase,
  task?: Partial<TaskStatus> & { arn: string },
  observed: ObservedTask[] = [],
): Tenant {
  const status = { ...record.status, phase, task: task ? { capacityProvider: 'FARGATE_SPOT' as const, ...task } : undefined };
  return meter({ ...record, status }, at(seconds), PLANS, observed);
}

/** A task as the platform reports it. */
function observedTask(
  arn: string,
  lastStatus: ObservedTask['lastStatus'],
  times: { startedAt?: string; stoppedAt?: string },
): ObservedTask {
  return { arn, tenantId: 'acme', lastStatus, desiredStatus: 'STOPPED', capacityProvider: 'FARGATE_SPOT', ...times };
}

describe('meter', () => {
  it('counts a task from its startedAt to its stoppedAt, under the meter of its capacity and its plan size', () => {
    let record = write(tenant(), 10, 'Provisioning', { arn: ARN_A, lastStatus: 'PENDING' });
    record = write(record, 45, 'Provisioning', { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(30) });
    record = write(record, 60, 'Running', { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(30) });
    record = write(record, 700, 'Passivating', { arn: ARN_A, lastStatus: 'STOPPED', startedAt: iso(30), stoppedAt: iso(630) });

    expect(record.usage!.runningSeconds).toEqual({ [SPOT]: 600 });
    expect(SPOT).toBe('spot:512:1024');
  });

  it('meters a task at the size the platform reports it runs at, which its plan may have changed from since', () => {
    const running = { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(0), size: { cpu: 256, memory: 512 } };
    let record = write(tenant(), 10, 'Running', running);
    record = write(record, 310, 'Passivating', { ...running, lastStatus: 'STOPPED', stoppedAt: iso(300) });

    expect(record.usage!.runningSeconds).toEqual({ 'spot:256:512': 300 });
  });

  it('closes at the observation time when the task is no longer the recorded one and no stop time is known', () => {
    let record = write(tenant(), 0, 'Running', { arn: ARN_A, lastStatus: 'RUNNING' });
    record = write(record, 90, 'Running', { arn: ARN_B, lastStatus: 'PENDING' });
    record = write(record, 100, 'Running', { arn: ARN_B, lastStatus: 'RUNNING', capacityProvider: 'FARGATE' });
    record = write(record, 160, 'Passivated');

    expect(record.usage!.runningSeconds).toEqual({ [SPOT]: 90, 'on-demand:512:1024': 60 });
  });

  it('meters a task replaced with no gap until it is observed STOPPED, at its stoppedAt, and counts it once', () => {
    // Prepare: A runs; B replaces it at 100 while A still runs (stopping) until 160.
    let record = write(tenant(), 0, 'Running', { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(0) });
    record = write(record, 100, 'Running', { arn: ARN_B, lastStatus: 'RUNNING', startedAt: iso(90) }, [
      observedTask(ARN_A, 'STOPPING', { startedAt: iso(0) }),
    ]);
    expect(totalsAt(record.usage, at(130)).runningSeconds).toEqual({ [SPOT]: 170 });
    expect(hasUnreportedUsage(record)).toBe(true);

    // Act: a write that did not look leaves A metering; the next observation sees it STOPPED, then again.
    record = meter(record, at(150), PLANS);
    const stoppedA = observedTask(ARN_A, 'STOPPED', { startedAt: iso(0), stoppedAt: iso(160) });
    record = write(record, 170, 'Running', { arn: ARN_B, lastStatus: 'RUNNING', startedAt: iso(90) }, [stoppedA]);
    record = write(record, 180, 'Running', { arn: ARN_B, lastStatus: 'RUNNING', startedAt: iso(90) }, [stoppedA]);
    record = write(record, 300, 'Passivated', { arn: ARN_B, lastStatus: 'STOPPED', startedAt: iso(90), stoppedAt: iso(290) });

    // Assess: A 0–160, B 90–290.
    expect(record.usage!.runningSeconds).toEqual({ [SPOT]: 360 });
    expect(record.usage!.meter!.outgoing).toBeUndefined();
  });

  it('closes an outgoing task from its STOPPED task event, once', () => {
    let record = write(tenant(), 0, 'Running', { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(0) });
    record = write(record, 100, 'Running', { arn: ARN_B, lastStatus: 'RUNNING', startedAt: iso(90) }, [
      observedTask(ARN_A, 'RUNNING', { startedAt: iso(0) }),
    ]);

    const stoppedA = observedTask(ARN_A, 'STOPPED', { startedAt: iso(0), stoppedAt: iso(140) });
    expect(meterStoppedOutgoing(record, observedTask(ARN_A, 'STOPPING', {}), at(130))).toBeUndefined();
    record = meterStoppedOutgoing(record, stoppedA, at(150))!;

    expect(record.usage!.runningSeconds).toEqual({ [SPOT]: 140 });
    expect(meterStoppedOutgoing(record, stoppedA, at(160))).toBeUndefined();
  });

  it('changes nothing when the same record is written again', () => {
    const once = write(tenant(), 0, 'Running', { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(0) });
    const again = meter(once, at(500), PLANS);

    expect(again).toBe(once);
  });

  it('counts a task once: a late word that it runs, after it was counted, opens nothing', () => {
    let record = write(tenant(), 0, 'Running', { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(0) });
    record = write(record, 100, 'Running', { arn: ARN_A, lastStatus: 'STOPPED', stoppedAt: iso(100) });
    record = write(record, 200, 'Running', { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(0) });
    record = write(record, 300, 'Passivated');

    expect(record.usage!.runningSeconds).toEqual({ [SPOT]: 100 });
  });

  it('counts a task first seen stopped from the times it reports (its RUNNING event came late)', () => {
    const record = write(tenant(), 400, 'Running', { arn: ARN_A, lastStatus: 'STOPPED', startedAt: iso(100), stoppedAt: iso(350) });

    expect(record.usage!.runningSeconds).toEqual({ [SPOT]: 250 });
    expect(write(record, 500, 'Running', { arn: ARN_A, lastStatus: 'STOPPED', startedAt: iso(100), stoppedAt: iso(350) }).usage).toBe(
      record.usage,
    );
  });

  it('counts a wake on entering Waking and a passivation on reaching Passivated, once each', () => {
    let record = write(tenant(), 0, 'Passivated');
    record = write(record, 10, 'Waking');
    record = write(record, 20, 'Waking');
    record = write(record, 30, 'Running');
    record = write(record, 40, 'Passivating');
    record = write(record, 50, 'Passivated');
    record = write(record, 60, 'Passivated');

    expect(record.usage).toMatchObject({ wakes: 1, passivations: 2 });
  });
});

describe('storage', () => {
  it('counts the data at the size measured, from one measurement to the next and up to now', () => {
    const gib = 1024 ** 3;
    let record = measuredStorage(tenant(), { bytes: 2 * gib }, at(0));
    record = measuredStorage(record, { bytes: gib }, at(3600));

    expect(record.usage!.storageGibHours).toBe(2);
    expect(totalsAt(record.usage, at(3 * 3600)).storageGibHours).toBe(4);
  });

  it('says the data is counted as a lower bound while its last measurement stopped at its bound', () => {
    const partly = measuredStorage(tenant(), { bytes: 1_000, lowerBound: true }, at(0));
    const fully = measuredStorage(partly, { bytes: 2_000 }, at(3600));

    expect(usageToDate(partly, at(60), PRICES)).toMatchObject({ storageLowerBound: true });
    expect(usageToDate(fully, at(3660), PRICES)).not.toHaveProperty('storageLowerBound');
  });
});

describe('usage periods', () => {
  it('closes the last hour with everything metered up to its end, including a task still running, once', () => {
    // Prepare: ran from 08:10, still running at 09:05.
    const running = write(tenant(), 600, 'Running', { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(600) });

    // Act
    const closed = closePeriod(running, at(3900))!;

    // Assess
    expect(closed.usage!.reported).toEqual({
      period: '2026-12-06T08:00:00.000Z',
      until: '2026-12-06T09:00:00.000Z',
      totals: { runningSeconds: { [SPOT]: 3000 }, wakes: 0, passivations: 0, storageGibHours: 0 },
    });
    expect(closePeriod(closed, at(7100))).toBeUndefined();
    const next = closePeriod(closed, at(7300))!;
    expect(usageBetween(closed.usage!.reported!.totals, next.usage!.reported!.totals).runningSeconds).toEqual({ [SPOT]: 3600 });
  });

  it('reports a tenant that ran and went to sleep within the hour, and keeps it in the sweep index until then', () => {
    let record = write(tenant(), 600, 'Running', { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(600) });
    record = write(record, 1200, 'Passivated');
    expect(hasUnreportedUsage(record)).toBe(true);

    const closed = closePeriod(record, at(3700))!;

    expect(closed.usage!.reported!.totals).toMatchObject({ runningSeconds: { [SPOT]: 600 }, passivations: 1 });
    expect(hasUnreportedUsage(closed)).toBe(false);
  });

  it('closes the last hour with what was used before it ended, not what later writes counted', () => {
    // Prepare: idle through 08:00–09:00, then woken and put to sleep again after 09:00.
    let record = write(tenant(), 0, 'Passivated');
    record = write(record, 3700, 'Waking');
    record = write(record, 3710, 'Running', { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(3705) });
    record = write(record, 3800, 'Passivated');

    // Act
    const closed = closePeriod(record, at(3900));

    // Assess: 08:00–09:00 saw a passivation only (at 08:00); the wake and the run belong to 09:00.
    expect(closed!.usage!.reported!.totals).toEqual({ wakes: 0, passivations: 1, storageGibHours: 0 });
    const next = closePeriod(closed!, at(7300))!;
    expect(usageBetween(closed!.usage!.reported!.totals, next.usage!.reported!.totals)).toEqual({
      runningSeconds: { [SPOT]: 95 },
      wakes: 1,
      passivations: 1,
      storageGibHours: 0,
    });
  });

  it('takes nothing back when a task reported running to the end of the hour had stopped just before, and lets the tenant leave the index', () => {
    // Prepare: ran from 08:10; the hour is closed at 09:00:30 before the stop at 08:59:58 is known.
    let record = write(tenant(), 600, 'Running', { arn: ARN_A, lastStatus: 'RUNNING', startedAt: iso(600) });
    record = closePeriod(record, at(3630))!;
    record = write(record, 3640, 'Passivated', { arn: ARN_A, lastStatus: 'STOPPED', startedAt: iso(600), stoppedAt: iso(3598) });

    // Assess: counted 2 998 s, reported 3 000 s; the next hour reports only the passivation.
    expect(record.usage!.runningSeconds).toEqual({ [SPOT]: 2998 });
    expect(hasUnreportedUsage(record)).toBe(true);
    const next = closePeriod(record, at(7300))!;
    expect(usageBetween(record.usage!.reported!.totals, next.usage!.reported!.totals)).toEqual({
      wakes: 0,
      passivations: 1,
      storageGibHours: 0,
    });
    expect(hasUnreportedUsage(next)).toBe(false);
  });

  it('does not report a tenant that used nothing since its last report', () => {
    expect(closePeriod(write(tenant(), 0, 'Pending'), at(7200))).toBeUndefined();
  });
});

describe('costOf', () => {
  it('prices running seconds by capacity and size, and data per GB-month, with the prices and their date', () => {
    const cost = costOf(
      { runningSeconds: { 'spot:1024:2048': 3600, 'on-demand:1024:2048': 1800 }, wakes: 0, passivations: 0, storageGibHours: 730 },
      PRICES,
    );

    const spot = PRICES.fargate.spot.perVcpuHour + 2 * PRICES.fargate.spot.perGbHour;
    const onDemand = (PRICES.fargate.onDemand.perVcpuHour + 2 * PRICES.fargate.onDemand.perGbHour) / 2;
    expect(cost.amount).toBeCloseTo(spot + onDemand + PRICES.efs.standardPerGbMonth, 6);
    expect(cost).toMatchObject({ currency: 'USD', pricesAsOf: { fargate: '2025-06', efs: '2026-12' }, region: PRICES.region });
  });

  describe('at the rates of the tasks’ architecture', () => {
    // An hour of 1 vCPU / 2 GB on Spot, half an hour on-demand, and a GiB kept for a month.
    const totals = {
      runningSeconds: { 'spot:1024:2048': 3600, 'on-demand:1024:2048': 1800 },
      wakes: 0,
      passivations: 0,
      storageGibHours: 730,
    };

    it('prices x86_64 tasks at Linux/x86 rates', () => {
      // Spot 0.0121 + 2 × 0.00133, on-demand (0.04048 + 2 × 0.004445) / 2, EFS 0.30.
      expect(costOf(totals, costPrices('x86_64'))).toEqual({
        amount: 0.339445,
        currency: 'USD',
        pricesAsOf: { fargate: '2025-06', efs: '2026-12' },
        region: 'us-east-1',
      });
    });

    it('prices arm64 tasks at Linux/ARM rates, Spot and on-demand, and says when those were written down; the data costs the same', () => {
      // Spot 0.0097 + 2 × 0.00107, on-demand (0.03238 + 2 × 0.00356) / 2, EFS 0.30.
      expect(costOf(totals, costPrices('arm64'))).toEqual({
        amount: 0.33159,
        currency: 'USD',
        pricesAsOf: { fargate: '2026-12', efs: '2026-12' },
        region: 'us-east-1',
      });
    });
  });
});
