import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { tenantItem } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { sweep, type SweepDeps, type SweepSettings } from '../../shared/app/sweep.js';
import type { KeepWarm, PlanCatalog, PlanDefinition } from '../../shared/domain/plans.js';
import { newTenant, withDesired, type Tenant } from '../../shared/domain/tenant.js';
import { FakeActivity } from '../support/fake-activity.js';
import { createWorld } from '../support/reconciler-world.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const plan = (name: string, idleMs: number | undefined, more: Partial<PlanDefinition> = {}): PlanDefinition => ({
  name,
  cpu: 256,
  memory: 512,
  capacity: idleMs === undefined ? 'on-demand' : 'spot',
  ...(idleMs === undefined ? {} : { idleMs }),
  public: true,
  environment: {},
  ...more,
});

/** trial sleeps after 15 minutes, slow after an hour, pro never. */
const PLANS: PlanCatalog = { plans: [plan('trial', 15 * MINUTE, { trialDays: 14 }), plan('slow', HOUR), plan('pro', undefined)] };

/**
 * The clock starts on Saturday 21 November 2026 at 10:00 UTC. These hours open at noon that day
 * and every Saturday, UTC, for two hours.
 */
const SATURDAY_NOON: KeepWarm = { timeZone: 'UTC', days: ['sat'], from: '12:00', to: '14:00' };

/** The reconciler world (DynamoDB Local, a fake cloud, a manual clock) with plans, and a sweep over it. */
async function createKeepWarmWorld(plans: PlanCatalog = PLANS) {
  const world = await createWorld({ settings: { plans } });
  const activity = new FakeActivity();
  const warnings: string[] = [];
  const deps: SweepDeps = {
    store: world.store,
    activity,
    clock: world.clock,
    reconcile: (tenantId) => world.reconcile(tenantId),
    logger: { info: () => {}, warn: (message: string) => warnings.push(message) },
  };

  /** Written as the API would: a plan and hours of its own, before it is first started. */
  async function running(id: string, spec: { plan?: string; keepWarm?: KeepWarm } = {}): Promise<void> {
    const created = await world.signUp(id);
    await world.store.save({ ...created, spec: { ...created.spec, ...spec } });
    await world.converge([id]);
    expect((await world.store.get(id))!.status.phase).toBe('Running');
  }

  /** Moves the clock to an ISO time (forward only). */
  function at(iso: string): void {
    const ms = Date.parse(iso) - world.clock.now().getTime();
    if (ms < 0) throw new Error(`The clock is already past ${iso}`);
    world.clock.advance(ms);
  }

  const get = async (id: string) => (await world.store.get(id))!;

  return {
    ...world,
    activity,
    warnings,
    deps,
    running,
    at,
    get,
    sweep: (settings: Partial<SweepSettings> = {}, overrides: Partial<SweepDeps> = {}) =>
      sweep({ ...deps, ...overrides }, { plans, ...settings }),
  };
}

/**
 * 120 `trial` tenants asleep as asked, written straight to the table as the store lays them out
 * (a batch write, quicker than 120 starts): `more` adds to each one's spec and record.
 */
async function putSleepers(
  world: Awaited<ReturnType<typeof createKeepWarmWorld>>,
  prefix: string,
  more: { spec?: Partial<Tenant['spec']>; warmAt?: string } = {},
) {
  const sleepers = Array.from({ length: 120 }, (_, index) => {
    const tenant = newTenant({
      slug: `${prefix}-${index}`,
      email: `${prefix}-${index}@example.test`,
      plan: 'trial',
      tokenHash: '0'.repeat(64),
      now: world.clock.now(),
      trialDays: 14,
    });
    return tenantItem({
      ...tenant,
      spec: { ...tenant.spec, desired: 'passivated', generation: 2, ...more.spec },
      status: { ...tenant.status, phase: 'Passivated', observedGeneration: 2 },
      ...(more.warmAt ? { warmAt: more.warmAt } : {}),
      version: 1,
    });
  });
  for (let start = 0; start < sleepers.length; start += 25) {
    await world.tables.documentClient.send(
      new BatchWriteCommand({
        RequestItems: { [world.tables.tenantTable]: sleepers.slice(start, start + 25).map((Item) => ({ PutRequest: { Item } })) },
      }),
    );
  }
  return sleepers;
}

describe('sweep: sleep policy per plan', () => {
  it("passivates each tenant after its own plan's idle timeout, and never one on a plan that never sleeps", async () => {
    // Prepare
    const world = await createKeepWarmWorld();
    await world.running('quick');
    await world.running('patient', { plan: 'slow' });
    await world.running('paying', { plan: 'pro' });

    // Act
    world.clock.advance(20 * MINUTE);
    const early = await world.sweep();
    world.clock.advance(45 * MINUTE);
    const later = await world.sweep();
    world.clock.advance(24 * HOUR);
    const muchLater = await world.sweep();

    // Assess
    expect([early.passivated, later.passivated, muchLater.passivated]).toEqual([1, 1, 0]);
    expect((await world.get('quick')).spec.desired).toBe('passivated');
    expect((await world.get('patient')).spec.desired).toBe('passivated');
    expect((await world.get('paying')).spec).toMatchObject({ desired: 'running', generation: 1 });
  });

  it('keeps up a tenant whose plan the configuration no longer has, and says so', async () => {
    // Prepare
    const world = await createKeepWarmWorld();
    await world.running('orphan', { plan: 'slow' });

    // Act: the sweep's configuration no longer has the plan
    world.clock.advance(3 * HOUR);
    const report = await world.sweep({ plans: { plans: PLANS.plans.filter((plan) => plan.name !== 'slow') } });

    // Assess
    expect(report.passivated).toBe(0);
    expect((await world.get('orphan')).spec.desired).toBe('running');
    expect(world.warnings).toEqual([expect.stringMatching(/names a plan the configuration does not have/)]);
  });

  it('looks for activity as far back as the longest idle timeout of any plan', async () => {
    // Prepare
    const world = await createKeepWarmWorld();
    await world.running('patient', { plan: 'slow' });
    world.activity.levels.set('patient', { requests: 1, connections: 0 });
    await world.sweep();

    // Act: the next run after two hours without runs
    world.clock.advance(2 * HOUR);
    await world.sweep();

    // Assess
    const window = world.activity.calls.at(-1)!.window;
    expect(window.end.getTime() - window.start.getTime()).toBe(HOUR);
  });
});

describe('sweep: keep-warm hours', () => {
  it('does not passivate a tenant during its hours nor in the lead time before them, and does after', async () => {
    // Prepare: both idle since 10:00; the plan's hours open at noon
    const plans: PlanCatalog = { plans: [plan('trial', 15 * MINUTE, { keepWarm: SATURDAY_NOON })] };
    const world = await createKeepWarmWorld(plans);
    await world.running('office');
    await world.running('own-hours', { keepWarm: { ...SATURDAY_NOON, from: '10:00', to: '11:00' } });

    // Act and assess: office has visitors until 10:30, own-hours has its own hours until 11:00
    world.activity.levels.set('office', { requests: 3, connections: 0 });
    world.at('2026-11-21T10:30:00.000Z');
    expect((await world.sweep()).passivated).toBe(0);
    world.activity.levels.delete('office');
    world.at('2026-11-21T11:56:00.000Z');
    // Own hours over: passivated. The plan's open in four minutes, within the lead time: kept.
    expect((await world.sweep()).passivated).toBe(1);
    expect((await world.get('own-hours')).spec.desired).toBe('passivated');
    world.at('2026-11-21T13:59:00.000Z');
    expect((await world.sweep()).passivated).toBe(0);
    world.at('2026-11-21T14:00:00.000Z');
    expect((await world.sweep()).passivated).toBe(1);
    expect((await world.get('office')).spec.desired).toBe('passivated');
  });

  it('records when its hours begin as it goes to sleep, wakes it the lead time before, and forgets it once awake', async () => {
    // Prepare: passivated when idle at 10:20
    const world = await createKeepWarmWorld();
    await world.running('office', { keepWarm: SATURDAY_NOON });
    world.at('2026-11-21T10:20:00.000Z');
    await world.sweep();
    await world.converge(['office']);
    const asleep = await world.get('office');

    // Act
    world.at('2026-11-21T11:54:00.000Z');
    const tooEarly = await world.sweep();
    world.at('2026-11-21T11:55:00.000Z');
    const due = await world.sweep();
    await world.converge(['office']);

    // Assess
    expect(asleep.status.phase).toBe('Passivated');
    expect(asleep.warmAt).toBe('2026-11-21T12:00:00.000Z');
    expect(tooEarly.warmed).toBe(0);
    expect(due.warmed).toBe(1);
    const awake = await world.get('office');
    expect(awake.status.phase).toBe('Running');
    expect(awake.warmAt).toBeUndefined();
    expect(world.clock.now().getTime()).toBeLessThan(Date.parse('2026-11-21T12:00:00.000Z'));
  });

  it('obeys an operator who puts it to sleep during its hours: it is woken for the next ones', async () => {
    // Prepare
    const world = await createKeepWarmWorld();
    await world.running('office', { keepWarm: SATURDAY_NOON });
    world.at('2026-11-21T12:30:00.000Z');

    // Act
    await world.setDesired('office', 'passivated');
    await world.converge(['office']);
    world.at('2026-11-21T13:00:00.000Z');
    const during = await world.sweep();
    world.at('2026-11-28T11:55:00.000Z');
    const nextWeek = await world.sweep();

    // Assess
    expect(during.warmed).toBe(0);
    expect(nextWeek.warmed).toBe(1);
    expect((await world.get('office')).spec.desired).toBe('running');
  });

  it('checks the schedule again when the tenant comes due: a changed one moves the wake, a removed one cancels it', async () => {
    // Prepare: both asleep, waiting for noon; then an operator changes their hours
    const world = await createKeepWarmWorld();
    await world.running('moved', { keepWarm: SATURDAY_NOON });
    await world.running('dropped', { keepWarm: SATURDAY_NOON });
    for (const id of ['moved', 'dropped']) await world.setDesired(id, 'passivated');
    await world.converge(['moved', 'dropped']);
    const moved = await world.get('moved');
    await world.store.save({ ...moved, spec: { ...moved.spec, keepWarm: { ...SATURDAY_NOON, from: '16:00', to: '18:00' } } });
    const { keepWarm: _removed, ...dropped } = (await world.get('dropped')).spec;
    await world.store.save({ ...(await world.get('dropped')), spec: dropped });

    // Act
    world.at('2026-11-21T11:55:00.000Z');
    const atNoon = await world.sweep();
    world.at('2026-11-21T15:55:00.000Z');
    const atFour = await world.sweep();

    // Assess
    expect(atNoon.warmed).toBe(0);
    expect((await world.get('dropped')).warmAt).toBeUndefined();
    expect((await world.get('dropped')).spec.desired).toBe('passivated');
    expect(atFour.warmed).toBe(1);
    expect((await world.get('moved')).spec.desired).toBe('running');
  });

  it('lets a change that lands between its read and its write win, and decides again on the fresh record', async () => {
    // Prepare: asleep for noon; a visitor wakes it just as the sweep is about to
    const world = await createKeepWarmWorld();
    await world.running('office', { keepWarm: SATURDAY_NOON });
    await world.setDesired('office', 'passivated');
    await world.converge(['office']);
    const generation = (await world.get('office')).spec.generation;
    let raced = false;
    const store: SweepDeps['store'] = Object.assign(Object.create(world.store) as SweepDeps['store'], {
      save: async (tenant: Tenant) => {
        if (!raced && tenant.spec.desired === 'running') {
          raced = true;
          await world.store.save(withDesired((await world.get(tenant.id))!, 'running'));
        }
        return world.store.save(tenant);
      },
    });
    world.at('2026-11-21T11:55:00.000Z');

    // Act
    const report = await world.sweep({}, { store });

    // Assess: one wake, the visitor's; the sweep did not write over it
    expect(raced).toBe(true);
    expect(report).toMatchObject({ warmed: 0, errors: 0 });
    expect((await world.get('office')).spec).toMatchObject({ desired: 'running', generation: generation + 1 });
  });

  it('wakes many due tenants a page at a time within its budget, the rest at the next runs', async () => {
    // Prepare: 120 sleepers due at noon, written as the store lays them out
    const world = await createKeepWarmWorld();
    const sleepers = await putSleepers(world, 'sleeper', { spec: { keepWarm: SATURDAY_NOON }, warmAt: '2026-11-21T12:00:00.000Z' });
    let pages = 0;
    const store: SweepDeps['store'] = Object.assign(Object.create(world.store) as SweepDeps['store'], {
      listWarmDue: (time: string, query: { limit: number; cursor?: string }) => {
        pages += 1;
        return world.store.listWarmDue(time, query);
      },
    });
    world.at('2026-11-21T11:56:00.000Z');

    // Act: no budget, so each run does its first page only
    const runs = [];
    for (let run = 0; run < 4; run++) {
      pages = 0;
      runs.push({ warmed: (await world.sweep({ budgetMs: 0, pageSize: 50 }, { store })).warmed, pages });
    }

    // Assess
    expect(runs).toEqual([
      { warmed: 50, pages: 1 },
      { warmed: 50, pages: 1 },
      { warmed: 20, pages: 1 },
      { warmed: 0, pages: 1 },
    ]);
    const woken = await Promise.all(sleepers.map(async (item) => (await world.get(String(item.id))).spec.desired));
    expect(woken.every((desired) => desired === 'running')).toBe(true);
    // 120 tenants written and swept on DynamoDB Local: slow on a loaded machine.
  }, 90_000);

  it("brings sleeping tenants to their plan's hours when the configuration adds or moves them, a page per run, once per change", async () => {
    // Prepare: 120 trial tenants asleep as asked, put to sleep when their plan had no hours.
    const world = await createKeepWarmWorld();
    const sleepers = await putSleepers(world, 'asleep');
    const withTrialHours = (keepWarm: KeepWarm): PlanCatalog => ({
      plans: PLANS.plans.map((candidate) => (candidate.name === 'trial' ? { ...candidate, keepWarm } : candidate)),
    });
    /** Sweeps with no budget (the first page of each walk only) until the walk is done, and once more. */
    const runsWith = async (plans: PlanCatalog) => {
      const rescheduled = [];
      for (let run = 0; run < 4; run++) rescheduled.push((await world.sweep({ budgetMs: 0, pageSize: 50, plans })).rescheduled);
      return rescheduled;
    };
    const warmAts = async () => new Set(await Promise.all(sleepers.map(async (item) => (await world.get(String(item.id))).warmAt)));

    // Act and assess: the configuration as they went to sleep, with no hours: nothing walked.
    const list = vi.spyOn(world.store, 'list');
    expect((await world.sweep({ budgetMs: 0, pageSize: 50 })).rescheduled).toBe(0);
    expect(list.mock.calls.map(([query]) => query.phase)).not.toContain('Passivated');
    list.mockRestore();
    expect(await runsWith(PLANS)).toEqual([0, 0, 0, 0]);
    expect(await warmAts()).toEqual(new Set([undefined]));

    // Hours added to their plan: every sleeper is to be woken before noon.
    expect(await runsWith(withTrialHours(SATURDAY_NOON))).toEqual([50, 50, 20, 0]);
    expect(await warmAts()).toEqual(new Set(['2026-11-21T12:00:00.000Z']));

    // Moved earlier: to 10:30 the same day.
    expect(await runsWith(withTrialHours({ ...SATURDAY_NOON, from: '10:30' }))).toEqual([50, 50, 20, 0]);
    expect(await warmAts()).toEqual(new Set(['2026-11-21T10:30:00.000Z']));

    // Woken ahead of the new hours.
    world.at('2026-11-21T10:26:00.000Z');
    const woken = await world.sweep({ pageSize: 200, plans: withTrialHours({ ...SATURDAY_NOON, from: '10:30' }) });
    expect(woken.warmed).toBe(120);
    // 120 tenants written and swept on DynamoDB Local: slow on a loaded machine.
  }, 90_000);
});
