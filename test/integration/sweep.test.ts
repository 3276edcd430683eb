import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { emailHash } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { TENANT_TABLE, keys } from '../../shared/adapters/aws/tenant-table.js';
import { SWEEP_MARKER, sweep, type SweepDeps, type SweepSettings } from '../../shared/app/sweep.js';
import { domainEventsFor, TENANT_EXPIRING } from '../../shared/domain/domain-events.js';
import { newTenant, withDesired, type Tenant } from '../../shared/domain/tenant.js';
import type { PageQuery } from '../../shared/ports/tenant-store.js';
import { FakeActivity } from '../support/fake-activity.js';
import { createWorld } from '../support/reconciler-world.js';
import { TRIAL_LAUNCH } from '../support/launch.js';

const MINUTE = 60_000;

/** The reconciler world (DynamoDB Local, a fake cloud, a manual clock) with a sweep over it. */
async function createSweepWorld(options: Parameters<typeof createWorld>[0] = {}) {
  const world = await createWorld(options);
  const activity = new FakeActivity();
  const reconciled: string[] = [];
  const deps: SweepDeps = {
    store: world.store,
    activity,
    clock: world.clock,
    reconcile: async (tenantId) => {
      reconciled.push(tenantId);
      return world.reconcile(tenantId);
    },
    drift: { compute: world.cloud, routing: world.cloud, storage: world.cloud.storage },
  };

  async function running(...ids: string[]): Promise<void> {
    for (const id of ids) await world.signUp(id);
    await world.converge(ids);
    for (const id of ids) expect((await world.store.get(id))!.status.phase).toBe('Running');
  }

  /** Writes the record directly, as another writer (or a lost event) would leave it. */
  async function patch(id: string, change: (tenant: Tenant) => Tenant): Promise<Tenant> {
    return world.store.save(change((await world.store.get(id))!));
  }

  return {
    ...world,
    activity,
    reconciled,
    deps,
    running,
    patch,
    sweep: (settings: Partial<SweepSettings> = {}, overrides: Partial<SweepDeps> = {}) => sweep({ ...deps, ...overrides }, settings),
  };
}

describe('sweep: idle tenants', () => {
  it('passivates a tenant idle past the timeout and keeps one with requests or an open connection up', async () => {
    // Prepare
    const world = await createSweepWorld();
    await world.running('idle', 'busy', 'socket');
    world.clock.advance(20 * MINUTE);
    world.activity.levels.set('busy', { requests: 12, connections: 0 });
    world.activity.levels.set('socket', { requests: 0, connections: 1 });

    // Act
    const report = await world.sweep();

    // Assess
    expect(report).toMatchObject({ passivated: 1, active: 2, done: true });
    expect((await world.store.get('idle'))!.spec).toMatchObject({ desired: 'passivated', generation: 2 });
    for (const id of ['busy', 'socket']) {
      const tenant = (await world.store.get(id))!;
      expect(tenant.spec).toMatchObject({ desired: 'running', generation: 1 });
      expect(tenant.lastActiveAt).toBe(world.clock.now().toISOString());
    }
    await world.converge(['idle']);
    expect((await world.store.get('idle'))!.status.phase).toBe('Passivated');
    expect([...world.cloud.rules.values()].map((rule) => rule.tenantId).sort()).toEqual(['busy', 'socket']);
  });

  it("keeps up a tenant whose task only had network traffic (a WebSocket's messages), and names its task when asking", async () => {
    // Prepare
    const world = await createSweepWorld();
    await world.running('quiet', 'streaming');
    world.clock.advance(20 * MINUTE);
    world.activity.levels.set('streaming', { requests: 0, connections: 0, busyMinutes: 2 });
    world.activity.levels.set('quiet', { requests: 0, connections: 0, busyMinutes: 0 });

    // Act
    const report = await world.sweep();

    // Assess
    expect(report).toMatchObject({ passivated: 1, active: 1 });
    expect((await world.store.get('streaming'))!.spec.desired).toBe('running');
    expect((await world.store.get('quiet'))!.spec.desired).toBe('passivated');
    const asked = world.activity.calls[0]!.targets.find((target) => target.tenantId === 'streaming');
    expect(asked?.taskArn).toBe((await world.store.get('streaming'))!.status.task?.arn);
    expect(asked?.taskArn).toBeTruthy();
  });

  it('looks for activity since the last pass, at least a few minutes back, never further than the idle timeout', async () => {
    // Prepare
    const world = await createSweepWorld();
    await world.running('acme');
    world.activity.levels.set('acme', { requests: 1, connections: 0 });
    await world.sweep();

    // Act: the next run a minute later, then one after an hour without runs
    world.clock.advance(MINUTE);
    await world.sweep();
    const soon = world.activity.calls.at(-1)!.window;
    world.clock.advance(60 * MINUTE);
    await world.sweep();
    const late = world.activity.calls.at(-1)!.window;

    // Assess
    const now = world.clock.now().getTime();
    expect(soon.end.getTime() - soon.start.getTime()).toBe(3 * MINUTE);
    expect(late.end.getTime()).toBe(now);
    expect(now - late.start.getTime()).toBe(15 * MINUTE);
  });

  it('does not passivate a tenant before it has run for the minimum run time after a wake', async () => {
    // Prepare: asleep for an hour, then woken; its last visit is long past
    const world = await createSweepWorld();
    await world.running('acme');
    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);
    world.clock.advance(60 * MINUTE);
    await world.setDesired('acme', 'running');
    await world.converge(['acme']);

    // Act
    world.clock.advance(2 * MINUTE);
    const early = await world.sweep();
    world.clock.advance(4 * MINUTE);
    const later = await world.sweep();

    // Assess
    expect(early.passivated).toBe(0);
    expect(later.passivated).toBe(1);
    expect((await world.store.get('acme'))!.spec.desired).toBe('passivated');
  });

  it.each([
    ['a visit is recorded', (tenant: Tenant, now: Date) => ({ ...tenant, lastActiveAt: now.toISOString() })],
    ['the tenant is put to sleep and woken again', (tenant: Tenant) => withDesired(withDesired(tenant, 'passivated'), 'running')],
  ])('lets a wake win that lands between its read and its write: %s', async (_name, wake) => {
    // Prepare
    const world = await createSweepWorld();
    await world.running('acme');
    world.clock.advance(20 * MINUTE);
    let raced = false;
    const store: SweepDeps['store'] = {
      get: (id) => world.store.get(id),
      listActive: (query) => world.store.listActive(query),
      listTrialsEndingBefore: (time, query) => world.store.listTrialsEndingBefore(time, query),
      listWarmDue: (time, query) => world.store.listWarmDue(time, query),
      list: (query) => world.store.list(query),
      getMarker: (name) => world.store.getMarker(name),
      setMarker: (name, value) => world.store.setMarker(name, value),
      save: async (tenant, options) => {
        if (!raced && tenant.spec.desired === 'passivated') {
          raced = true;
          await world.store.save(wake((await world.store.get(tenant.id))!, world.clock.now()));
        }
        return world.store.save(tenant, options);
      },
    };

    // Act
    const report = await world.sweep({}, { store });

    // Assess
    expect(raced).toBe(true);
    expect(report.passivated).toBe(0);
    expect((await world.store.get('acme'))!.spec.desired).toBe('running');
  });

  it('passivates nobody when activity cannot be read, and still does the rest', async () => {
    // Prepare
    const world = await createSweepWorld();
    await world.running('acme');
    world.clock.advance(20 * MINUTE);
    await world.signUp('pending');
    world.clock.advance(1_000);
    world.activity.failing = true;

    // Act
    const report = await world.sweep();

    // Assess
    expect(report).toMatchObject({ passivated: 0, errors: 1, done: true });
    expect((await world.store.get('acme'))!.spec.desired).toBe('running');
    expect(world.reconciled).toContain('pending');
  });
});

describe('sweep: trials', () => {
  it('asks for the deletion of ended trials, freeing their email, and leaves live ones alone', async () => {
    // Prepare
    const world = await createSweepWorld();
    await world.signUp('ended');
    await world.signUp('live');
    await world.patch('ended', (tenant) => ({ ...tenant, trialEndsAt: new Date(world.clock.now().getTime() - MINUTE).toISOString() }));
    const liveBefore = await world.store.countLiveTenants();

    // Act
    const report = await world.sweep();

    // Assess
    expect(report.expired).toBe(1);
    expect((await world.store.get('ended'))!.spec).toMatchObject({ desired: 'deleted', generation: 2 });
    expect((await world.store.get('live'))!.spec).toMatchObject({ desired: 'running', generation: 1 });
    expect(await world.store.countLiveTenants()).toBe(liveBefore - 1);
    const again = newTenant({
      slug: 'ended-again',
      email: 'ended@example.test',
      plan: 'trial',
      tokenHash: '0'.repeat(64),
      now: world.clock.now(),
      trialDays: 14,
    });
    await expect(world.store.create(again, { maxTenants: 1000 })).resolves.toMatchObject({ id: 'ended-again' });
    await world.converge(['ended']);
    expect((await world.store.get('ended'))!.status.phase).toBe('Deleted');
  });

  it('records the expiring notice once, for trials ending within the notice time only', async () => {
    // Prepare
    const world = await createSweepWorld();
    await world.signUp('soon');
    await world.signUp('later');
    const at = (ms: number) => new Date(world.clock.now().getTime() + ms).toISOString();
    const before = await world.patch('soon', (tenant) => ({ ...tenant, trialEndsAt: at(3 * 60 * MINUTE) }));
    await world.patch('later', (tenant) => ({ ...tenant, trialEndsAt: at(3 * 24 * 60 * MINUTE) }));

    // Only the notice matters here: these tenants are not reconciled, so any write is the sweep's.
    const noReconcile = { reconcile: async () => ({}) };

    // Act
    const sweptAt = world.clock.now().toISOString();
    const first = await world.sweep({}, noReconcile);
    const noticed = (await world.store.get('soon'))!;
    world.clock.advance(MINUTE);
    const second = await world.sweep({}, noReconcile);

    // Assess
    expect(first.expiring).toBe(1);
    expect(noticed.expiringNoticeAt).toBe(sweptAt);
    expect((await world.store.get('later'))!.expiringNoticeAt).toBeUndefined();
    expect(second.expiring).toBe(0);
    expect((await world.store.get('soon'))!).toEqual(noticed);
    // The stream publisher turns that write into the event, and the reconciler is not bothered.
    const events = domainEventsFor({ before, after: noticed, at: noticed.expiringNoticeAt! }).map((event) => event.detailType);
    expect(events).toEqual([TENANT_EXPIRING]);
  });

  it('reaches every trial ending soon, one page per run, even behind pages already noticed', async () => {
    // Prepare
    const world = await createSweepWorld();
    const ids = ['t1', 't2', 't3', 't4', 't5'];
    for (const [index, id] of ids.entries()) {
      await world.signUp(id);
      await world.patch(id, (tenant) => ({
        ...tenant,
        trialEndsAt: new Date(world.clock.now().getTime() + (index + 1) * 60 * MINUTE).toISOString(),
      }));
    }
    for (let run = 0; run < 3; run++) await world.sweep({ pageSize: 2 });
    await world.signUp('t6');
    await world.patch('t6', (tenant) => ({
      ...tenant,
      trialEndsAt: new Date(world.clock.now().getTime() + 10 * 60 * MINUTE).toISOString(),
    }));

    // Act
    let runs = 0;
    while (!(await world.store.get('t6'))!.expiringNoticeAt && runs < 6) {
      world.clock.advance(MINUTE);
      await world.sweep({ pageSize: 2 });
      runs += 1;
    }

    // Assess
    for (const id of [...ids, 't6']) expect((await world.store.get(id))!.expiringNoticeAt, id).toBeDefined();
    expect(runs).toBeLessThanOrEqual(4);
  });
});

describe('sweep: lost events and retries', () => {
  it('reconciles tenants whose retry time has come and tenants a lost event left unsettled, not those held or waiting', async () => {
    // Prepare
    const world = await createSweepWorld();
    await world.running('settled');
    await world.signUp('lost');
    await world.signUp('backoff');
    await world.signUp('held');
    // The sweep runs after the signups, not in the same millisecond.
    world.clock.advance(1_000);
    world.cloud.spotCapacity = false;
    await world.reconcile('backoff');
    const retryAt = Date.parse((await world.store.get('backoff'))!.status.retryAt!);
    await world.patch('held', (tenant) => ({
      ...tenant,
      lease: { owner: 'another', until: new Date(retryAt + 10 * MINUTE).toISOString() },
    }));
    const settings = { resyncMs: 1e12 };

    // Act
    const waiting = await world.sweep(settings);
    const reconciledWhileWaiting = [...world.reconciled];
    world.cloud.spotCapacity = true;
    world.clock.advance(retryAt - world.clock.now().getTime() + 1);
    world.reconciled.length = 0;
    const due = await world.sweep(settings);

    // Assess
    expect(reconciledWhileWaiting).toEqual(['lost']);
    expect(waiting.reconciled).toBe(1);
    expect((await world.store.get('lost'))!.status.phase).toBe('Provisioning');
    expect(world.reconciled).toContain('backoff');
    expect(world.reconciled).not.toContain('held');
    expect(world.reconciled).not.toContain('settled');
    expect(due.reconciled).toBe(world.reconciled.length);
    expect(world.cloud.liveTasksOf('backoff')).toHaveLength(1);
  });

  it('resyncs every settled active tenant once per resync interval, spread over the runs', async () => {
    // Prepare
    const world = await createSweepWorld();
    const ids = ['a1', 'b2', 'c3', 'd4', 'e5', 'f6'];
    await world.running(...ids);
    for (const id of ids) world.activity.levels.set(id, { requests: 1, connections: 0 });
    await world.sweep();

    // Act: ten runs, a minute apart, cover one ten-minute interval exactly
    const perRun: string[][] = [];
    for (let run = 0; run < 10; run++) {
      world.clock.advance(MINUTE);
      world.reconciled.length = 0;
      await world.sweep({ resyncMs: 10 * MINUTE });
      perRun.push([...world.reconciled]);
    }

    // Assess
    expect(perRun.flat().sort()).toEqual(ids);
    expect(Math.max(...perRun.map((run) => run.length))).toBeLessThan(ids.length);
  });
});

describe('sweep: stuck tenants', () => {
  it('reports tenants in a passing phase for longer than the threshold, with phase, minutes and the error without secrets', async () => {
    // Prepare: records as a reconciler that keeps retrying leaves them
    const world = await createSweepWorld();
    for (const id of ['provisioning', 'deleting', 'recent', 'queued', 'running']) await world.signUp(id);
    world.clock.advance(1_000);
    const ago = (minutes: number) => new Date(world.clock.now().getTime() - minutes * MINUTE).toISOString();
    const set = (id: string, status: Partial<Tenant['status']>) =>
      world.patch(id, (tenant) => ({ ...tenant, status: { ...tenant.status, ...status } }));
    // Leased, so that the sweep's reconcile leaves these records as they are.
    const lease = { owner: 'another', until: new Date(world.clock.now().getTime() + 10 * MINUTE).toISOString() };
    await set('provisioning', {
      phase: 'Provisioning',
      transitionAt: ago(20),
      lastError: 'The app exited: cannot reach postgres://app:S3cretPassw0rd@db:5432/app',
    });
    await set('deleting', { phase: 'Deleting', transitionAt: ago(16) });
    await set('recent', { phase: 'Provisioning', transitionAt: ago(10) });
    await set('queued', { phase: 'Queued', transitionAt: ago(60) });
    await set('running', { phase: 'Running', observedGeneration: 1, transitionAt: ago(60) });
    for (const id of ['provisioning', 'deleting', 'recent', 'queued', 'running']) await world.patch(id, (tenant) => ({ ...tenant, lease }));

    // Act
    const report = await world.sweep({ stuckMs: 15 * MINUTE });

    // Assess
    expect(report.stuck.sort((a, b) => a.tenantId.localeCompare(b.tenantId))).toEqual([
      { tenantId: 'deleting', phase: 'Deleting', minutes: 16 },
      {
        tenantId: 'provisioning',
        phase: 'Provisioning',
        minutes: 20,
        lastError: 'The app exited: cannot reach postgres://***@db:5432/app',
      },
    ]);
    expect((await world.sweep({ stuckMs: 30 * MINUTE })).stuck).toEqual([]);
  });

  it('reports a tenant whose passivation AWS keeps refusing, which retries for ever without failing', async () => {
    // Prepare
    let denied = false;
    const world = await createSweepWorld({ cloud: { fault: (operation) => (denied && operation === 'DeleteRule' ? 'deny' : undefined) } });
    await world.running('acme');
    denied = true;
    await world.setDesired('acme', 'passivated');

    // Act: the reconciler keeps trying, as the sweep and events would make it
    await world.rounds(['acme'], 20);
    const tenant = (await world.store.get('acme'))!;
    world.clock.advance(16 * MINUTE - (world.clock.now().getTime() - Date.parse(tenant.status.transitionAt)));
    const report = await world.sweep();

    // Assess
    expect(tenant.status.phase).toBe('Passivating');
    expect(report.stuck).toEqual([
      expect.objectContaining({
        tenantId: 'acme',
        phase: 'Passivating',
        minutes: 16,
        lastError: expect.stringMatching(/not allowed to call DeleteRule/),
      }),
    ]);
  });
});

describe('sweep: drift repair', () => {
  it('removes a task, rule and target group tagged for a tenant that does not exist, the rule before its group', async () => {
    // Prepare
    const world = await createSweepWorld();
    await world.running('acme');
    const ghostTask = await world.cloud.runTask({
      tenantId: 'ghost',
      host: 'ghost.trials.example.com',
      clientToken: 'ghost-1',
      capacityProvider: 'FARGATE_SPOT',
      ...TRIAL_LAUNCH,
    });
    const ghostGroup = await world.cloud.ensureTargetGroup('ghost');
    await world.cloud.createRule('ghost', 'ghost.trials.example.com', ghostGroup);
    const mark = world.cloud.calls.length;

    // Act
    const report = await world.sweep();

    // Assess
    expect(report.repaired).toEqual({ tasks: 1, rules: 1, targetGroups: 1, storage: 0, tenants: 0 });
    const deletes = world.cloud.calls.slice(mark).filter((call) => /^Delete/.test(call));
    expect(deletes).toEqual(['DeleteRule', 'DeleteTargetGroup']);
    expect([...world.cloud.rules.values()].map((rule) => rule.tenantId)).toEqual(['acme']);
    expect([...world.cloud.targetGroups.values()].map((group) => group.tenantId)).toEqual(['acme']);
    expect(ghostTask.started && world.cloud.tasks.get(ghostTask.task.arn)).toMatchObject({
      desiredStatus: 'STOPPED',
      stoppedReason: expect.stringMatching(/drift repair: no tenant has this name/),
    });
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(1);
  });

  it('removes what is left behind a deleted tenant, whose tombstone the reconciler no longer looks at', async () => {
    // Prepare
    const world = await createSweepWorld();
    await world.running('gone');
    await world.setDesired('gone', 'deleted');
    await world.converge(['gone']);
    const leftover = await world.cloud.ensureTargetGroup('gone');
    await world.cloud.createRule('gone', 'gone.trials.example.com', leftover);

    // Act
    const report = await world.sweep();

    // Assess
    expect(report.repaired).toEqual({ tasks: 0, rules: 1, targetGroups: 1, storage: 0, tenants: 0 });
    expect(world.cloud.rules.size + world.cloud.targetGroups.size).toBe(0);
  });

  it('reconciles a passivated tenant that AWS still serves, which removes its rule, task and target group', async () => {
    // Prepare: the record says asleep (it is not even in the active index), AWS still has it all
    const world = await createSweepWorld();
    await world.running('acme');
    await world.patch('acme', (tenant) => ({
      ...tenant,
      spec: { ...tenant.spec, desired: 'passivated', generation: 2 },
      status: {
        ...tenant.status,
        phase: 'Passivated',
        observedGeneration: 2,
        task: undefined,
        ruleArn: undefined,
        rulePriority: undefined,
        targetGroupArn: undefined,
      },
    }));

    // Act
    const report = await world.sweep();

    // Assess
    expect(report.repaired).toEqual({ tasks: 0, rules: 0, targetGroups: 0, storage: 0, tenants: 1 });
    expect(world.reconciled).toEqual(['acme']);
    expect(world.cloud.rules.size).toBe(0);
    expect(world.cloud.targetGroups.size).toBe(0);
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(0);
  });

  it('reconciles a running tenant whose task AWS no longer shows (its stop event was lost), which starts another', async () => {
    // Prepare
    const world = await createSweepWorld();
    await world.running('acme');
    world.activity.levels.set('acme', { requests: 1, connections: 0 });
    const lost = world.cloud.liveTasksOf('acme')[0]!;
    world.cloud.exit(lost, 'OutOfMemoryError: Container killed due to memory usage', 137);

    // Act
    const report = await world.sweep({ resyncMs: 1e12 });

    // Assess
    expect(report.repaired.tenants).toBe(1);
    expect(world.reconciled).toEqual(['acme']);
    await world.converge(['acme']);
    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status.phase).toBe('Running');
    expect(tenant.status.task!.arn).not.toBe(lost.arn);
  });

  it('removes the data of a tenant that has no record, and keeps that of tenants asleep or being deleted', async () => {
    // Prepare
    const world = await createSweepWorld({ settings: { persistentData: true } });
    await world.running('asleep', 'leaving');
    await world.setDesired('asleep', 'passivated');
    await world.converge(['asleep']);
    await world.setDesired('leaving', 'deleted');
    await world.cloud.storage.ensure('ghost');

    // Act
    const report = await world.sweep();

    // Assess
    expect(report.repaired).toEqual({ tasks: 0, rules: 0, targetGroups: 0, storage: 1, tenants: 0 });
    expect([...world.cloud.storage.tenants].sort()).toEqual(['asleep', 'leaving']);
  });

  it('stops the task of a tenant with no record first, and removes its data at a later run once no task is listed', async () => {
    // Prepare
    const world = await createSweepWorld({ settings: { persistentData: true } });
    const volume = await world.cloud.storage.ensure('ghost');
    await world.cloud.runTask({
      tenantId: 'ghost',
      host: 'ghost.trials.example.com',
      clientToken: 'g-1',
      capacityProvider: 'FARGATE_SPOT',
      ...TRIAL_LAUNCH,
      volume,
    });

    // Act
    const first = await world.sweep();
    const afterFirst = world.cloud.storage.tenants.has('ghost');
    world.cloud.tick();
    world.clock.advance(MINUTE);
    const second = await world.sweep();

    // Assess
    expect(first.repaired).toMatchObject({ tasks: 1, storage: 0 });
    expect(afterFirst).toBe(true);
    expect(second.repaired).toMatchObject({ tasks: 0, storage: 1 });
    expect(world.cloud.storage.tenants.size).toBe(0);
    expect(world.cloud.storage.removedWhileMounted).toEqual([]);
  });

  it('removes data left behind a tombstone whose data is marked removed, never that of a tombstone whose is not', async () => {
    // Prepare: both deleted; data came back for one (a stray write), the other was deleted while no data was kept.
    const world = await createSweepWorld({ settings: { persistentData: true } });
    await world.running('removed', 'kept');
    await world.setDesired('removed', 'deleted');
    await world.setDesired('kept', 'deleted');
    await world.converge(['removed', 'kept']);
    await world.patch('kept', (tenant) => ({ ...tenant, status: { ...tenant.status, dataRemoved: undefined } }));
    await world.cloud.storage.ensure('removed');
    await world.cloud.storage.ensure('kept');

    // Act
    const report = await world.sweep();

    // Assess
    expect(report.repaired.storage).toBe(1);
    expect([...world.cloud.storage.tenants]).toEqual(['kept']);
  });

  it('looks at a page of tenants that hold nothing but data per run, the next page at the next run', async () => {
    // Prepare
    const world = await createSweepWorld({ settings: { persistentData: true } });
    for (const id of ['ghost-a', 'ghost-b', 'ghost-c']) await world.cloud.storage.ensure(id);
    world.clock.advance(-(world.clock.now().getTime() % (3 * MINUTE)));

    // Act
    const removed: number[] = [];
    for (let run = 0; run < 3; run++) {
      removed.push((await world.sweep({ pageSize: 1 })).repaired.storage);
      world.clock.advance(MINUTE);
    }

    // Assess
    expect(removed).toEqual([1, 1, 1]);
    expect(world.cloud.storage.tenants.size).toBe(0);
  });

  it('repairs nothing in a world that matches its records', async () => {
    const world = await createSweepWorld();
    await world.running('acme', 'globex');
    world.activity.levels.set('acme', { requests: 1, connections: 0 });
    world.activity.levels.set('globex', { requests: 1, connections: 0 });

    const report = await world.sweep({ resyncMs: 1e12 });

    expect(report.repaired).toEqual({ tasks: 0, rules: 0, targetGroups: 0, storage: 0, tenants: 0 });
    expect(world.reconciled).toEqual([]);
  });
});

describe('sweep: a large table', () => {
  const ACTIVE = 20;
  const ASLEEP = 1980;

  /**
   * 2 000 tenants: 1 980 asleep (written in batches, laid out as the store lays them out) and 20
   * active. Built once for both tests, which is why each leaves the sweep's markers as it found
   * them (a finished pass) and neither depends on the other having run.
   */
  async function largeTable() {
    const world = await createSweepWorld();
    const asleep = Array.from({ length: ASLEEP }, (_, index) => {
      const tenant = newTenant({
        slug: `asleep-${index}`,
        email: `asleep-${index}@example.test`,
        plan: 'trial',
        tokenHash: '0'.repeat(64),
        now: world.clock.now(),
        trialDays: 14,
      });
      const stored: Tenant = {
        ...tenant,
        spec: { ...tenant.spec, desired: 'passivated', generation: 2 },
        status: { ...tenant.status, phase: 'Passivated', observedGeneration: 2 },
        version: 1,
      };
      // No activeKey: a tenant at rest is not in the sparse index.
      return {
        ...stored,
        pk: keys.tenant(stored.id),
        kind: 'tenant',
        [TENANT_TABLE.phaseIndex.partitionKey]: 'Passivated',
        [TENANT_TABLE.trialIndex.partitionKey]: 'trial',
        emailHash: emailHash(stored.email),
      };
    });
    const batches = Array.from({ length: Math.ceil(asleep.length / 25) }, (_, index) => asleep.slice(index * 25, index * 25 + 25));
    for (let start = 0; start < batches.length; start += 8) {
      await Promise.all(
        batches
          .slice(start, start + 8)
          .map((batch) =>
            world.tables.documentClient.send(
              new BatchWriteCommand({ RequestItems: { [world.tables.tenantTable]: batch.map((Item) => ({ PutRequest: { Item } })) } }),
            ),
          ),
      );
    }
    const active = Array.from({ length: ACTIVE }, (_, index) => `active-${String(index).padStart(2, '0')}`);
    for (const id of active) {
      world.clock.advance(1);
      await world.signUp(id);
      await world.patch(id, (tenant) => ({
        ...tenant,
        status: { ...tenant.status, targetGroupArn: `arn:aws:elasticloadbalancing:targetgroup/dm-${id}` },
      }));
    }
    return { world, active };
  }

  /** Counts what the sweep reads from the active index and which tenants it visits. */
  function instrumented(world: Awaited<ReturnType<typeof createSweepWorld>>) {
    const listed = { calls: 0, items: 0 };
    const reconciled: string[] = [];
    const deps: Partial<SweepDeps> = {
      store: {
        get: (id) => world.store.get(id),
        save: (tenant, options) => world.store.save(tenant, options),
        listTrialsEndingBefore: (time, query) => world.store.listTrialsEndingBefore(time, query),
        listWarmDue: (time, query) => world.store.listWarmDue(time, query),
        list: (query) => world.store.list(query),
        getMarker: (name) => world.store.getMarker(name),
        setMarker: (name, value) => world.store.setMarker(name, value),
        listActive: async (query: PageQuery) => {
          const page = await world.store.listActive(query);
          listed.calls += 1;
          listed.items += page.items.length;
          return page;
        },
      },
      // The 20 are Pending, so every visit reconciles them: the calls show which were visited.
      reconcile: async (tenantId) => {
        reconciled.push(tenantId);
        return {};
      },
      drift: undefined,
    };
    return { listed, reconciled, deps };
  }

  let table: Awaited<ReturnType<typeof largeTable>>;
  beforeAll(async () => {
    table = await largeTable();
  }, 120_000);

  beforeEach(() => {
    // The sweep runs after the signups and after the other test's runs, never in the same millisecond.
    table.world.clock.advance(MINUTE);
    table.world.activity.levels.clear();
  });

  it('reads only the 20 active tenants of 2 000, in one page', async () => {
    // Prepare
    const { world, active } = table;
    const { listed, reconciled, deps } = instrumented(world);

    // Act
    const report = await world.sweep({}, deps);

    // Assess
    expect(listed).toEqual({ calls: 1, items: ACTIVE });
    expect(report).toMatchObject({ scanned: ACTIVE, done: true });
    expect(reconciled.sort()).toEqual(active);
    expect(await world.store.getMarker(SWEEP_MARKER)).toBeUndefined();
  });

  it('with a small page and no budget left, stops after a page, saves its place, and the next runs continue until done', async () => {
    // Prepare: every tenant has traffic, so each one moves to the end of the index when visited
    const { world, active } = table;
    const { listed, reconciled, deps } = instrumented(world);
    for (const id of active) world.activity.levels.set(id, { requests: 1, connections: 0 });
    const firstRunAt = world.clock.now().getTime() + MINUTE;

    // Act
    const reports = [];
    const markers = [];
    do {
      world.clock.advance(MINUTE);
      const before = reconciled.length;
      reports.push({ ...(await world.sweep({ pageSize: 5, budgetMs: 0 }, deps)), visited: reconciled.length - before });
      markers.push(await world.store.getMarker(SWEEP_MARKER));
    } while (!reports.at(-1)!.done && reports.length < 10);

    // Assess
    expect(reports.map((report) => report.visited)).toEqual([5, 5, 5, 5, 0]);
    expect(reports.map((report) => report.done)).toEqual([false, false, false, false, true]);
    expect(markers.slice(0, 4).every((marker) => marker !== undefined)).toBe(true);
    expect(markers.at(-1)).toBeUndefined();
    expect(reconciled.sort()).toEqual(active);
    expect(listed.items).toBe(25);
    for (const id of active) expect(Date.parse((await world.store.get(id))!.lastActiveAt)).toBeGreaterThanOrEqual(firstRunAt);
  });
});
