import { describe, expect, it } from 'vitest';
import {
  domainEventsFor,
  TENANT_CHANGED,
  TENANT_DELETED,
  TENANT_EXPIRING,
  TENANT_FAILED,
  TENANT_PASSIVATED,
  TENANT_PLAN_CHANGED,
  TENANT_READY,
  TENANT_REQUESTED,
  TENANT_USAGE,
  TENANT_WOKEN,
  type TenantChange,
} from '../../shared/domain/domain-events.js';
import { builtInPlans } from '../../shared/domain/plans.js';
import { costPrices } from '../../shared/domain/prices.js';
import { withChanges } from '../../shared/domain/tenant-changes.js';
import { newTenant, type Phase, type Tenant, type TenantStatus } from '../../shared/domain/tenant.js';

const at = '2026-11-21T10:05:00.000Z';
const tokenHash = 'f'.repeat(64);
const pending = {
  ...newTenant({
    slug: 'acme',
    email: 'ann@acme.test',
    plan: 'trial',
    tokenHash,
    now: new Date('2026-11-21T10:00:00.000Z'),
    trialDays: 14,
  }),
  version: 1,
};
const task = { arn: 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/1', capacityProvider: 'FARGATE_SPOT' as const };

/** The next write of `tenant`: the status patched, the version bumped as the store does. */
function next(tenant: Tenant, status: Partial<TenantStatus>): Tenant {
  return { ...tenant, status: { ...tenant.status, ...status }, version: tenant.version + 1 };
}
const inPhase = (phase: Phase, status: Partial<TenantStatus> = {}) => next(pending, { phase, ...status });

const running = inPhase('Running', { observedGeneration: 1, task });
const waking = { ...inPhase('Waking'), spec: { ...pending.spec, generation: 3 } };

const detailTypes = (change: TenantChange) => domainEventsFor(change).map((event) => event.detailType);

describe('domainEventsFor', () => {
  // Phase changes below are the reconciler's writes: news for integrators, not for the reconciler.
  const cases: Array<[name: string, change: TenantChange, expected: string[]]> = [
    ['an insert', { after: pending, at }, [TENANT_REQUESTED, TENANT_CHANGED]],
    ['Pending → Running', { before: pending, after: running, at }, [TENANT_READY]],
    ['Provisioning → Running', { before: inPhase('Provisioning'), after: running, at }, [TENANT_READY]],
    ['Waking → Running', { before: waking, after: next(waking, { phase: 'Running', task }), at }, [TENANT_WOKEN]],
    ['Passivating → Passivated', { before: inPhase('Passivating'), after: inPhase('Passivated'), at }, [TENANT_PASSIVATED]],
    [
      'Provisioning → Failed',
      { before: inPhase('Provisioning'), after: inPhase('Failed', { lastError: 'No capacity.' }), at },
      [TENANT_FAILED],
    ],
    ['Deleting → Deleted', { before: inPhase('Deleting'), after: inPhase('Deleted'), at }, [TENANT_DELETED]],
    ['Running → Passivating (no integrator event)', { before: running, after: next(running, { phase: 'Passivating' }), at }, []],
    [
      'a spec change without a phase change',
      { before: running, after: { ...running, spec: { ...running.spec, desired: 'passivated', generation: 2 }, version: 3 }, at },
      [TENANT_CHANGED],
    ],
    [
      'a task event applied for the first time',
      { before: running, after: next(running, { task: { ...task, ip: '10.0.0.7', eventVersion: 2 } }), at },
      [TENANT_CHANGED],
    ],
    [
      'a newer task event applied',
      {
        before: next(running, { task: { ...task, eventVersion: 2 } }),
        after: next(running, { task: { ...task, lastStatus: 'STOPPED', eventVersion: 3 } }),
        at,
      },
      [TENANT_CHANGED],
    ],
    ['the reconciler recording what it observed', { before: running, after: next(running, { task: { ...task, ip: '10.0.0.7' } }), at }, []],
    [
      'the reconciler recording a new task',
      {
        before: next(running, { task: { ...task, eventVersion: 4 } }),
        after: next(running, { task: { ...task, arn: `${task.arn}0` } }),
        at,
      },
      [],
    ],
    [
      'only lastActiveAt changed (the idle sweep)',
      { before: running, after: { ...running, lastActiveAt: '2026-11-21T11:00:00.000Z', version: 3 }, at },
      [],
    ],
    ['only the version changed', { before: running, after: { ...running, version: 3 }, at }, []],
    ['a removal (TTL deleting a tombstone)', { before: inPhase('Deleted'), at }, []],
  ];

  it.each(cases.map(([name, change, expected]) => ({ name, change, expected, events: expected.join(', ') || 'nothing' })))(
    '$name → $events',
    ({ change, expected }) => {
      expect(detailTypes(change)).toEqual(expected);
    },
  );

  it('puts the email in Tenant Requested only', () => {
    const [requested, changed] = domainEventsFor({ after: pending, at });

    expect(requested).toEqual({
      detailType: TENANT_REQUESTED,
      tenantId: 'acme',
      detail: {
        tenantId: 'acme',
        phase: 'Pending',
        desired: 'running',
        generation: 1,
        observedGeneration: 0,
        trialEndsAt: '2026-12-05T10:00:00.000Z',
        email: 'ann@acme.test',
      },
      time: at,
    });
    expect(changed?.detail).not.toHaveProperty('email');
  });

  it('says which capacity the task runs on once there is one', () => {
    const [ready] = domainEventsFor({ before: pending, after: running, at });

    expect(ready?.detail).toEqual({
      tenantId: 'acme',
      phase: 'Running',
      desired: 'running',
      generation: 1,
      observedGeneration: 1,
      trialEndsAt: '2026-12-05T10:00:00.000Z',
      capacityProvider: 'FARGATE_SPOT',
    });
  });

  it('gives the reason a person can act on when a tenant fails', () => {
    const reason = 'Fargate Spot had no capacity in eu-west-1; retrying on demand.';
    const events = domainEventsFor({ before: inPhase('Provisioning'), after: inPhase('Failed', { lastError: reason }), at });

    expect(events.map((event) => event.detail.reason)).toEqual([reason]);
  });

  it('gives the reason without secrets or AWS identifiers, and its category, since integrators may pass it on', () => {
    const lastError = 'The application exited (postgres://app:S3cretPassw0rd@db/app, arn:aws:iam::123456789012:role/dormouse).';
    const events = domainEventsFor({
      before: inPhase('Provisioning'),
      after: inPhase('Failed', { lastError, lastErrorCategory: 'stopped' }),
      at,
    });

    expect(events.map((event) => [event.detail.reason, event.detail.reasonCategory])).toEqual([
      ['The application exited (postgres://***@db/app, arn:***).', 'stopped'],
    ]);
  });

  it('dates every event with the change, not with the moment it is published', () => {
    const events = domainEventsFor({ after: pending, at });

    expect(events.map((event) => event.time)).toEqual([at, at]);
  });

  it('ignores key order and undefined attributes, as stream images come without either', () => {
    const reversed = <T extends object>(value: T) => Object.fromEntries(Object.entries(value).reverse()) as T;
    const reordered = { ...reversed(running), status: { ...reversed(running.status), lastError: undefined }, version: 4 };

    expect(domainEventsFor({ before: running, after: reordered, at })).toEqual([]);
  });

  it('never leaks the token hash', () => {
    const changes: TenantChange[] = [
      { after: pending, at },
      { before: pending, after: running, at },
      { before: inPhase('Provisioning'), after: inPhase('Failed', { lastError: 'x' }), at },
      { before: inPhase('Deleting'), after: inPhase('Deleted'), at },
    ];

    const serialized = JSON.stringify(changes.flatMap((change) => domainEventsFor(change)));

    expect(serialized).not.toContain(tokenHash);
    expect(serialized).not.toContain('tokenHash');
  });
});

describe('domainEventsFor and the reconciler lease', () => {
  const base = { ...pending, status: { ...pending.status, phase: 'Provisioning' as const } };
  const lease = { owner: 'r1', until: '2026-11-21T10:05:00.000Z' };
  const leased = { ...base, lease, version: base.version + 1 };
  const letGo = (status: Partial<TenantStatus> = {}): TenantChange => ({
    before: leased,
    after: { ...base, status: { ...base.status, ...status }, version: leased.version + 1 },
    at,
  });

  it('publishes nothing when a reconciler takes the lease, or writes while holding it', () => {
    expect(detailTypes({ before: base, after: leased, at })).toEqual([]);
    expect(
      detailTypes({ before: leased, after: { ...leased, status: { ...base.status, slot: true }, version: leased.version + 1 }, at }),
    ).toEqual([]);
  });

  it('publishes Tenant Changed when a reconciler lets go of a tenant that still needs work, so another takes it up', () => {
    expect(detailTypes(letGo())).toEqual([TENANT_CHANGED]);
    // A retry due now (a change landed while the lease was held) is work to do at once.
    expect(detailTypes(letGo({ retryAt: at }))).toEqual([TENANT_CHANGED]);
  });

  it('publishes nothing when the reconciler lets go of a settled tenant or one with a retry scheduled (the sweep takes that up)', () => {
    expect(detailTypes(letGo({ phase: 'Running', observedGeneration: 1 }))).toEqual([TENANT_READY]);
    expect(detailTypes(letGo({ retryAt: '2026-11-21T10:06:00.000Z' }))).toEqual([]);
    expect(detailTypes(letGo({ phase: 'Failed', failedGeneration: 1, lastError: 'Gave up.' }))).toEqual([TENANT_FAILED]);
  });
});

describe('domainEventsFor and the expiring notice', () => {
  const base = {
    ...newTenant({
      slug: 'acme',
      email: 'ann@acme.test',
      plan: 'trial',
      tokenHash: 'f'.repeat(64),
      now: new Date('2026-11-21T10:00:00Z'),
      trialDays: 14,
    }),
    version: 4,
  };
  const noticedAt = '2026-12-04T10:00:30.000Z';
  const noticed = { ...base, expiringNoticeAt: noticedAt, version: 5 };

  it('publishes Tenant Expiring, and nothing for the reconciler, when the sweep records the notice', () => {
    const events = domainEventsFor({ before: base, after: noticed, at: noticedAt });

    expect(events).toEqual([
      {
        detailType: TENANT_EXPIRING,
        tenantId: 'acme',
        detail: {
          tenantId: 'acme',
          phase: 'Pending',
          desired: 'running',
          generation: 1,
          observedGeneration: 0,
          trialEndsAt: '2026-12-05T10:00:00.000Z',
          expiringNoticeAt: noticedAt,
        },
        time: noticedAt,
      },
    ]);
  });

  it('publishes it once: later writes that keep the notice do not repeat it', () => {
    const later = { ...noticed, lastActiveAt: '2026-12-04T11:00:00.000Z', version: 6 };
    const passivated = { ...later, spec: { ...later.spec, desired: 'passivated' as const, generation: 2 }, version: 7 };

    expect(domainEventsFor({ before: noticed, after: later, at: noticedAt })).toEqual([]);
    expect(domainEventsFor({ before: later, after: passivated, at: noticedAt }).map((event) => event.detailType)).toEqual([TENANT_CHANGED]);
  });
});

describe('domain events of an unconfirmed signup', () => {
  const unconfirmed = {
    ...newTenant({
      slug: 'acme',
      email: 'ann@acme.test',
      plan: 'trial',
      tokenHash,
      now: new Date(at),
      trialDays: 14,
      verificationCodeHash: 'c'.repeat(64),
    }),
    version: 1,
  };

  it('publishes nothing while it waits for its email link: no reconcile, no welcome mail', () => {
    expect(detailTypes({ after: unconfirmed, at })).toEqual([]);
    const changedWhilePending = { ...unconfirmed, verification: { codeHash: 'd'.repeat(64) }, version: 2 };
    expect(detailTypes({ before: unconfirmed, after: changedWhilePending, at })).toEqual([]);
  });

  it('publishes Tenant Requested and Tenant Changed when the link is opened', () => {
    const confirmed = { ...unconfirmed, status: { ...unconfirmed.status, phase: 'Pending' as const }, version: 2 };

    expect(detailTypes({ before: unconfirmed, after: confirmed, at })).toEqual([TENANT_REQUESTED, TENANT_CHANGED]);
  });
});

describe('Tenant Usage', () => {
  const totals = (seconds: number, wakes: number) => ({
    runningSeconds: { 'spot:256:512': seconds },
    wakes,
    passivations: wakes,
    storageGibHours: 0,
  });
  const reported = (tenant: Tenant, period: string, seconds: number, wakes: number): Tenant => ({
    ...tenant,
    usage: {
      runningSeconds: { 'spot:256:512': seconds },
      wakes,
      passivations: wakes,
      reported: { period, until: new Date(Date.parse(period) + 3_600_000).toISOString(), totals: totals(seconds, wakes) },
    },
    version: tenant.version + 1,
  });
  const first = reported(running, '2026-11-21T10:00:00.000Z', 1200, 1);
  const second = reported(first, '2026-11-21T11:00:00.000Z', 4800, 2);

  it('is derived from the write that closes an hour: what it adds to the previous report, with an id of tenant and hour', () => {
    const events = domainEventsFor({ before: first, after: second, at });

    expect(events.map((event) => event.detailType)).toEqual([TENANT_USAGE]);
    expect(events[0]!.detail).toMatchObject({
      id: 'acme/2026-11-21T11:00:00.000Z',
      tenantId: 'acme',
      plan: 'trial',
      period: { start: '2026-11-21T11:00:00.000Z', end: '2026-11-21T12:00:00.000Z' },
      runningSeconds: { 'spot:256:512': 3600 },
      wakes: 1,
      passivations: 1,
      storageGibHours: 0,
      cost: { currency: 'USD' },
    });
  });

  it('covers everything since the previous report: a tenant that slept for hours reports them with its next run', () => {
    const later = reported(second, '2026-11-21T15:00:00.000Z', 5400, 3);

    const [usage] = domainEventsFor({ before: second, after: later, at });

    expect(usage!.detail).toMatchObject({
      id: 'acme/2026-11-21T15:00:00.000Z',
      period: { start: '2026-11-21T12:00:00.000Z', end: '2026-11-21T16:00:00.000Z' },
      runningSeconds: { 'spot:256:512': 600 },
    });
  });

  it('prices the hour at the rates of the tasks’ architecture: an hour of 0.25 vCPU / 0.5 GB on Spot', () => {
    const [x86] = domainEventsFor({ before: first, after: second, at }, costPrices('x86_64'));
    const [arm] = domainEventsFor({ before: first, after: second, at }, costPrices('arm64'));

    // 0.25 × 0.0121 + 0.5 × 0.00133 on Linux/x86; 0.25 × 0.0097 + 0.5 × 0.00107 on Linux/ARM.
    expect(x86!.detail.cost).toEqual({
      amount: 0.00369,
      currency: 'USD',
      pricesAsOf: { fargate: '2025-06', efs: '2026-12' },
      region: 'us-east-1',
    });
    expect(arm!.detail.cost).toEqual({
      amount: 0.00296,
      currency: 'USD',
      pricesAsOf: { fargate: '2026-12', efs: '2026-12' },
      region: 'us-east-1',
    });
  });

  it('is not published again by a write that closes no new hour', () => {
    expect(detailTypes({ before: second, after: { ...second, lastActiveAt: at, version: second.version + 1 }, at })).toEqual([]);
  });
});

describe('Tenant Plan Changed', () => {
  const plans = {
    plans: [
      ...builtInPlans({ cpu: 256, memory: 512, idleMs: 900_000, trialDays: 14 }).plans,
      { name: 'pilot', cpu: 256, memory: 512, capacity: 'spot' as const, trialDays: 60, public: false, environment: {} },
    ],
  };
  const changed = (before: Tenant, plan: string) => ({
    before,
    after: { ...withChanges(before, { plan }, plans, new Date(at)), version: before.version + 1 },
    at,
  });

  it('announces a conversion: the old and new plan, and that the trial end is gone', () => {
    const events = domainEventsFor(changed(running, 'pro'));

    expect(events.map((event) => event.detailType)).toEqual([TENANT_PLAN_CHANGED, TENANT_CHANGED]);
    expect(events[0]).toEqual({
      detailType: TENANT_PLAN_CHANGED,
      tenantId: 'acme',
      detail: {
        tenantId: 'acme',
        phase: 'Running',
        desired: 'running',
        generation: 2,
        observedGeneration: 1,
        trialEndsAt: undefined,
        capacityProvider: 'FARGATE_SPOT',
        previousPlan: 'trial',
        plan: 'pro',
        converted: true,
      },
      time: at,
    });
  });

  it('is no conversion when the tenant keeps a trial end, or had none', () => {
    const onPilot = domainEventsFor(changed(running, 'pilot'))[0];
    const pro = { ...withChanges(running, { plan: 'pro' }, plans, new Date(at)), version: 3 };
    const backToTrial = domainEventsFor(changed(pro, 'trial'))[0];

    expect(onPilot?.detail).toMatchObject({ previousPlan: 'trial', plan: 'pilot', converted: false });
    expect(backToTrial?.detail).toMatchObject({
      previousPlan: 'pro',
      plan: 'trial',
      converted: false,
      trialEndsAt: '2026-12-05T10:05:00.000Z',
    });
  });

  it('is not published for a change that keeps the plan, nor for a new tenant', () => {
    const environment = {
      before: running,
      after: { ...withChanges(running, { environment: { A: '1' } }, plans, new Date(at)), version: 3 },
      at,
    };

    expect(detailTypes(environment)).toEqual([TENANT_CHANGED]);
    expect(detailTypes({ after: { ...pending, spec: { ...pending.spec, plan: 'pro' } }, at })).toEqual([TENANT_REQUESTED, TENANT_CHANGED]);
  });
});
