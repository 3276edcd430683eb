import { describe, expect, it } from 'vitest';
import { reconcile } from '../../shared/app/reconcile.js';
import type { FakeCloudOptions } from '../support/fake-cloud.js';
import { createWorld } from '../support/reconciler-world.js';
import { TRIAL_LAUNCH } from '../support/launch.js';

/** A world whose tasks mount the tenant's persistent data, replaced stop-first unless told otherwise. */
function worldWithData(options: { cloud?: FakeCloudOptions; handover?: 'stop-first' | 'overlap' } = {}) {
  return createWorld({ settings: { persistentData: true, handover: options.handover ?? 'stop-first' }, cloud: options.cloud });
}

describe('reconcile, with persistent data', () => {
  it('passivates a tenant whose data measurement never answers, or fails, and keeps the data metered at its last size', async () => {
    // Prepare: measured at 3 000 bytes at its first sleep.
    const world = await worldWithData();
    await world.signUp('acme');
    await world.converge(['acme']);
    world.cloud.storage.sizes.set('acme', 3_000);
    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);
    world.deps.dataSizeTimeoutMs = 50;

    // Act: the next sleeps are measured by a function that never answers, then one that fails.
    const measurements: Array<() => Promise<never>> = [() => new Promise<never>(() => {}), () => Promise.reject(new Error('EIO'))];
    for (const measure of measurements) {
      world.cloud.storage.dataBytes = measure;
      await world.setDesired('acme', 'running');
      await world.converge(['acme']);
      await world.setDesired('acme', 'passivated');
      await world.converge(['acme']);

      // Assess
      const tenant = (await world.store.get('acme'))!;
      expect(tenant.status.phase).toBe('Passivated');
      expect(tenant.usage?.meter?.storage?.bytes).toBe(3_000);
    }
  });

  it('records a measurement that stopped at its bound as a lower bound', async () => {
    const world = await worldWithData();
    await world.signUp('acme');
    await world.converge(['acme']);
    world.cloud.storage.dataBytes = () => Promise.resolve({ bytes: 7_000, lowerBound: true });

    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);

    expect((await world.store.get('acme'))!.usage?.meter?.storage).toMatchObject({ bytes: 7_000, lowerBound: true });
  });

  it('starts every task with the tenant’s data, made before the first start', async () => {
    // Prepare
    const world = await worldWithData();
    await world.signUp('acme');

    // Act
    await world.converge(['acme']);

    // Assess
    expect([...world.cloud.storage.tenants]).toEqual(['acme']);
    expect(world.cloud.mountedTasksOf('acme')).toEqual([expect.objectContaining({ volume: 'data/tenants/acme', lastStatus: 'RUNNING' })]);
    expect(world.cloud.calls.indexOf('EnsureStorage')).toBeLessThan(world.cloud.calls.indexOf('RunTask'));
  });

  it('keeps the data when the tenant is passivated and mounts the same data again at the wake', async () => {
    // Prepare
    const world = await worldWithData();
    await world.signUp('acme');
    await world.converge(['acme']);

    // Act
    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);
    const asleep = { tenants: [...world.cloud.storage.tenants], mounted: world.cloud.mountedTasksOf('acme').length };
    await world.setDesired('acme', 'running');
    await world.converge(['acme']);

    // Assess
    expect(asleep).toEqual({ tenants: ['acme'], mounted: 0 });
    expect(world.cloud.countCalls('RemoveStorage')).toBe(0);
    expect(world.cloud.mountedTasksOf('acme')).toEqual([expect.objectContaining({ volume: 'data/tenants/acme' })]);
  });

  it('removes the data of a deleted tenant exactly once, and only once its task has STOPPED', async () => {
    // Prepare
    const world = await worldWithData();
    await world.signUp('acme');
    await world.converge(['acme']);
    const [task] = world.cloud.mountedTasksOf('acme');

    // Act
    await world.setDesired('acme', 'deleted');
    await world.converge(['acme'], 40, () => {
      // Assess (every round): the data is there for as long as the task may write it.
      if (task!.lastStatus !== 'STOPPED') expect(world.cloud.storage.tenants.has('acme')).toBe(true);
    });

    // Assess
    expect((await world.store.get('acme'))!.status).toMatchObject({ phase: 'Deleted', dataRemoved: true });
    expect(world.cloud.storage.tenants.size).toBe(0);
    expect(world.cloud.countCalls('RemoveStorage')).toBe(1);
    expect(world.cloud.storage.removedWhileMounted).toEqual([]);
    const calls = world.cloud.calls;
    expect(calls.lastIndexOf('StopTask')).toBeLessThan(calls.indexOf('RemoveStorage'));
  });

  it('keeps the data while a task whose start was never recorded may still appear in the listing, then stops it first', async () => {
    // Prepare: RunTask starts a task and the reconciler dies before recording it; ECS lists it late.
    let crashed = false;
    const world = await worldWithData({
      cloud: {
        listingLagTicks: 2,
        fault: (operation) => (operation === 'RunTask' && !crashed ? ((crashed = true), 'crash') : undefined),
      },
    });
    await world.signUp('acme');
    await world.reconcile('acme').catch(() => {});
    expect(world.cloud.mountedTasksOf('acme')).toHaveLength(1);

    // Act
    await world.setDesired('acme', 'deleted');
    await world.converge(['acme']);

    // Assess
    expect(world.cloud.storage.removedWhileMounted).toEqual([]);
    expect(world.cloud.mountedTasksOf('acme')).toEqual([]);
    expect(world.cloud.storage.tenants.size).toBe(0);
    expect((await world.store.get('acme'))!.status.phase).toBe('Deleted');
  });

  it('keeps the data while a task whose start was never recorded may have been interrupted before ECS ever listed it', async () => {
    // Prepare: RunTask starts a task, the reconciler dies before recording it, and Spot takes the
    // task back before ListTasks shows it: from then on ECS lists it no more, yet it runs out its notice.
    let crashed = false;
    const world = await worldWithData({
      cloud: {
        listingLagTicks: 2,
        fault: (operation) => (operation === 'RunTask' && !crashed ? ((crashed = true), 'crash') : undefined),
      },
    });
    await world.signUp('acme');
    await world.reconcile('acme').catch(() => {});
    const [unseen] = world.cloud.mountedTasksOf('acme');
    world.cloud.interrupt(unseen!);
    unseen!.ticks = 20;

    // Act
    await world.setDesired('acme', 'deleted');
    await world.converge(['acme'], 60);

    // Assess
    expect(world.cloud.storage.removedWhileMounted).toEqual([]);
    expect(unseen!.lastStatus).toBe('STOPPED');
    expect(world.cloud.storage.tenants.size).toBe(0);
    expect((await world.store.get('acme'))!.status.phase).toBe('Deleted');
  });

  it('removes the data again, harmlessly, after a crash between the removal and the record write', async () => {
    // Prepare
    const world = await worldWithData();
    await world.signUp('acme');
    await world.converge(['acme']);
    await world.setDesired('acme', 'deleted');
    // Up to the moment the task has STOPPED, when the next look removes the data.
    while (world.cloud.mountedTasksOf('acme').length > 0) {
      await world.reconcile('acme');
      world.cloud.tick();
      world.clock.advance(5_000);
    }
    expect(world.cloud.storage.tenants.has('acme')).toBe(true);

    // Act: a reconciler removes the data and dies before it writes anything more (its promise
    // never settles, as a killed process never answers); once its lease has run out the next
    // one takes the tenant over.
    let removed!: () => void;
    const removal = new Promise<void>((resolve) => (removed = resolve));
    const dying = {
      ...world.deps,
      storage: {
        ensure: (id: string) => world.cloud.storage.ensure(id),
        remove: async (id: string) => {
          await world.cloud.storage.remove(id);
          removed();
          return new Promise<void>(() => {});
        },
      },
    };
    void reconcile(dying, 'acme');
    await removal;
    const afterCrash = (await world.store.get('acme'))!.status;
    world.clock.advance(world.settings.leaseMs + 1);
    await world.converge(['acme']);

    // Assess
    expect(afterCrash.dataRemoved).toBeUndefined();
    expect(world.cloud.countCalls('RemoveStorage')).toBe(2);
    expect(world.cloud.storage.tenants.size).toBe(0);
    expect((await world.store.get('acme'))!.status).toMatchObject({ phase: 'Deleted', dataRemoved: true });
  });

  it('never has two tasks with the data mounted through a Spot interruption (stop-first)', async () => {
    // Prepare
    const world = await worldWithData();
    await world.signUp('acme');
    await world.converge(['acme']);
    const [old] = world.cloud.mountedTasksOf('acme');

    // Act
    world.cloud.interrupt(old!);
    const mounted: number[] = [];
    await world.converge(['acme'], 60, () => {
      mounted.push(world.cloud.mountedTasksOf('acme').length);
    });

    // Assess
    expect(Math.max(...mounted)).toBe(1);
    const [replacement] = world.cloud.mountedTasksOf('acme');
    expect(replacement!.arn).not.toBe(old!.arn);
    expect(old!.lastStatus).toBe('STOPPED');
    expect((await world.store.get('acme'))!.status).toMatchObject({ phase: 'Running', task: { arn: replacement!.arn } });
    expect(world.cloud.storage.tenants.has('acme')).toBe(true);
  });

  it('follows a task it stopped that the record does not name until it has STOPPED, and mounts the data only then', async () => {
    // Prepare: a second task with the data, left by a start that was never recorded, slow to stop.
    const world = await worldWithData();
    await world.signUp('acme');
    await world.converge(['acme']);
    const [recorded] = world.cloud.mountedTasksOf('acme');
    await world.cloud.runTask({
      tenantId: 'acme',
      host: 'acme.trials.example.com',
      clientToken: 'unrecorded',
      capacityProvider: 'FARGATE_SPOT',
      ...TRIAL_LAUNCH,
      volume: 'data/tenants/acme',
    });
    const stray = world.cloud.mountedTasksOf('acme').find((task) => task !== recorded)!;
    await world.reconcile('acme');
    expect(stray.desiredStatus).toBe('STOPPED');
    stray.ticks = 8;

    // Act: the recorded task is interrupted while the stray one is still stopping.
    world.cloud.interrupt(recorded!);
    const startedBeside: string[] = [];
    await world.converge(['acme'], 60, () => {
      const replacement = world.cloud.mountedTasksOf('acme').find((task) => task !== recorded && task !== stray);
      if (replacement && stray.lastStatus !== 'STOPPED') startedBeside.push(replacement.arn);
    });

    // Assess
    expect(startedBeside).toEqual([]);
    expect(stray.lastStatus).toBe('STOPPED');
    expect((await world.store.get('acme'))!.status.stopping).toBeUndefined();
  });

  it('lets the replacement start before the interrupted task stops when the app is declared safe for overlap', async () => {
    // Prepare
    const world = await worldWithData({ handover: 'overlap' });
    await world.signUp('acme');
    await world.converge(['acme']);
    const [old] = world.cloud.mountedTasksOf('acme');

    // Act
    world.cloud.interrupt(old!);
    const mounted: number[] = [];
    await world.converge(['acme'], 60, () => {
      mounted.push(world.cloud.mountedTasksOf('acme').length);
    });

    // Assess: no gap, so for a while both tasks have the data.
    expect(Math.max(...mounted)).toBe(2);
    expect(mounted).not.toContain(0);
  });

  it('backs off when the storage cannot be made ready, starting no task without it', async () => {
    // Prepare
    let throttled = 0;
    const world = await worldWithData({
      cloud: { fault: (operation) => (operation === 'EnsureStorage' && throttled++ < 2 ? 'throttle' : undefined) },
    });
    await world.signUp('acme');

    // Act
    let result = await world.reconcile('acme');
    while (!(await world.store.get('acme'))!.status.retryAt) result = await world.reconcile('acme');
    const backingOff = (await world.store.get('acme'))!.status;
    const runTasksWhileFailing = world.cloud.countCalls('RunTask');
    world.clock.advance(result.requeueAfterMs ?? 0);
    await world.converge(['acme']);

    // Assess
    expect(result.requeueAfterMs).toBeGreaterThan(0);
    expect(backingOff).toMatchObject({ transientFailures: 1, retryAt: expect.any(String) });
    expect(backingOff.lastError).toBeUndefined();
    expect(runTasksWhileFailing).toBe(0);
    expect(world.cloud.countCalls('EnsureStorage')).toBeGreaterThanOrEqual(3);
    expect((await world.store.get('acme'))!.status.phase).toBe('Running');
    expect(world.cloud.mountedTasksOf('acme')).toHaveLength(1);
  });
});

describe('reconcile, metering the tenant’s data', () => {
  it('measures the data once each time the tenant goes to sleep, counts it over time, and counts none once deleted', async () => {
    // Prepare
    const world = await worldWithData();
    const gib = 1024 ** 3;
    await world.signUp('acme');
    await world.converge(['acme']);
    world.cloud.storage.sizes.set('acme', 2 * gib);

    // Act: asleep for ten hours at 2 GiB, then awake, asleep at 1 GiB for five hours, then deleted.
    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);
    const firstSleep = (await world.store.get('acme'))!.usage!;
    world.clock.advance(10 * 3_600_000);
    await world.setDesired('acme', 'running');
    await world.converge(['acme']);
    world.cloud.storage.sizes.set('acme', gib);
    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);
    world.clock.advance(5 * 3_600_000);
    await world.setDesired('acme', 'deleted');
    await world.converge(['acme']);
    await world.reconcile('acme');

    // Assess
    expect(firstSleep.meter?.storage).toEqual({ bytes: 2 * gib, since: expect.any(String) });
    expect(world.cloud.countCalls('MeasureStorage')).toBe(2);
    const usage = (await world.store.get('acme'))!.usage!;
    expect(usage.meter?.storage?.bytes).toBe(0);
    // 2 GiB from the first sleep to the second (ten hours and the minutes of the wake), then 1 GiB for five hours.
    expect(usage.storageGibHours).toBeGreaterThan(2 * 10 + 5);
    expect(usage.storageGibHours).toBeLessThan(2 * 10.1 + 5.1);
  });
});
