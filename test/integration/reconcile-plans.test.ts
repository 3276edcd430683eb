import { describe, expect, it } from 'vitest';
import { environmentDigest, planRevision, type PlanCatalog, type PlanDefinition } from '../../shared/domain/plans.js';
import type { Tenant, TenantSpec } from '../../shared/domain/tenant.js';
import { createWorld } from '../support/reconciler-world.js';

const trial: PlanDefinition = {
  name: 'trial',
  cpu: 256,
  memory: 512,
  capacity: 'spot',
  idleMs: 15 * 60_000,
  trialDays: 14,
  public: true,
  environment: { GREETING: 'hello', THEME: 'plain' },
};
const pro: PlanDefinition = { name: 'pro', cpu: 1024, memory: 2048, capacity: 'on-demand', public: false, environment: { THEME: 'gold' } };
const plans: PlanCatalog = { plans: [trial, pro] };

type World = Awaited<ReturnType<typeof createWorld>>;

/** A spec change as the API makes it: the new value and a new generation. */
async function changeSpec(world: World, id: string, change: Partial<TenantSpec>): Promise<Tenant> {
  const tenant = (await world.store.get(id))!;
  return world.store.save({ ...tenant, spec: { ...tenant.spec, ...change, generation: tenant.spec.generation + 1 } });
}

describe('reconcile with plans', () => {
  it("starts a tenant's task as its plan says: size, capacity, the plan's environment under the tenant's own, and what it was started as", async () => {
    // Prepare
    const world = await createWorld({ settings: { plans } });
    await world.signUp('acme');
    await changeSpec(world, 'acme', { environment: { THEME: 'dark' } });

    // Act
    await world.converge(['acme']);

    // Assess
    const launchedAs = { plan: 'trial', revision: planRevision(trial), environment: environmentDigest({ THEME: 'dark' }) };
    expect(world.cloud.runRequests).toEqual([
      expect.objectContaining({
        plan: 'trial',
        cpu: 256,
        memory: 512,
        capacityProvider: 'FARGATE_SPOT',
        environment: { GREETING: 'hello', THEME: 'dark' },
        launchedAs,
      }),
    ]);
    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status.task).toMatchObject({ launchedAs, startedAt: expect.any(String), lastStatus: 'RUNNING' });
  });

  it('replaces the task when the plan changes, starting the new one on its capacity before stopping the old one (no gap)', async () => {
    // Prepare
    const world = await createWorld({ settings: { plans } });
    await world.signUp('acme');
    await world.converge(['acme']);
    const old = world.cloud.liveTasksOf('acme')[0]!;
    await changeSpec(world, 'acme', { plan: 'pro' });

    // Act
    await world.roundsWithoutGap('acme', 12);

    // Assess
    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status).toMatchObject({ phase: 'Running', observedGeneration: 2, attempts: 0 });
    const [current] = world.cloud.liveTasksOf('acme');
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(1);
    expect(current).toMatchObject({ capacityProvider: 'FARGATE', launchedAs: { plan: 'pro', revision: planRevision(pro) } });
    expect(tenant.status.task).toMatchObject({ arn: current!.arn, launchedAs: { plan: 'pro' } });
    expect(world.cloud.runRequests.at(-1)).toMatchObject({ plan: 'pro', cpu: 1024, memory: 2048, environment: { THEME: 'gold' } });
    expect(world.cloud.tasks.get(old.arn)).toMatchObject({
      lastStatus: 'STOPPED',
      stoppedReason: 'Dormouse: replaced by a task on plan pro (was trial)',
    });
  });

  it("replaces the task when the tenant's own environment changes, with no gap", async () => {
    // Prepare
    const world = await createWorld({ settings: { plans } });
    await world.signUp('acme');
    await world.converge(['acme']);
    const old = world.cloud.liveTasksOf('acme')[0]!;
    await changeSpec(world, 'acme', { environment: { THEME: 'dark' } });

    // Act
    await world.roundsWithoutGap('acme', 12);

    // Assess
    expect(world.cloud.liveTasksOf('acme')).toEqual([
      expect.objectContaining({ launchedAs: expect.objectContaining({ environment: environmentDigest({ THEME: 'dark' }) }) }),
    ]);
    expect(world.cloud.tasks.get(old.arn)).toMatchObject({
      lastStatus: 'STOPPED',
      stoppedReason: "Dormouse: replaced by a task with the tenant's new environment",
    });
    expect((await world.store.get('acme'))!.status.phase).toBe('Running');
  });

  it('with persistent data, stops the old task before the new one mounts the data (stop-first), and counts no failure', async () => {
    // Prepare
    const world = await createWorld({ settings: { plans, persistentData: true, handover: 'stop-first' } });
    await world.signUp('acme');
    await world.converge(['acme']);
    const old = world.cloud.liveTasksOf('acme')[0]!;
    await changeSpec(world, 'acme', { plan: 'pro' });

    // Act: at no moment do two tasks have the data mounted.
    for (let round = 0; round < 20; round++) {
      await world.reconcile('acme');
      expect(world.cloud.mountedTasksOf('acme').length).toBeLessThanOrEqual(1);
      world.cloud.tick();
      world.clock.advance(5_000);
    }

    // Assess
    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status).toMatchObject({ phase: 'Running', observedGeneration: 2, attempts: 0 });
    expect(tenant.status.lastError).toBeUndefined();
    expect(world.cloud.liveTasksOf('acme')).toEqual([
      expect.objectContaining({ capacityProvider: 'FARGATE', launchedAs: expect.objectContaining({ plan: 'pro' }) }),
    ]);
    expect(world.cloud.tasks.get(old.arn)).toMatchObject({
      lastStatus: 'STOPPED',
      stoppedReason: 'Dormouse: stopped before its replacement mounts the tenant data',
    });
    expect(world.cloud.storage.plans.get('acme')).toBe('pro');
  });

  it("keeps the running task when only the plan's definition changed: the new definition applies at the next start", async () => {
    // Prepare
    const world = await createWorld({ settings: { plans } });
    await world.signUp('acme');
    await world.converge(['acme']);
    const running = world.cloud.liveTasksOf('acme')[0]!;
    const bigger = { ...trial, cpu: 512, memory: 1024 };
    world.deps.settings = { ...world.deps.settings, plans: { plans: [bigger, pro] } };

    // Act
    await world.reconcile('acme');
    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);
    await world.setDesired('acme', 'running');
    await world.converge(['acme']);

    // Assess
    expect(world.cloud.tasks.get(running.arn)!.stoppedReason).toBe('Dormouse: tenant passivated');
    expect(world.cloud.runRequests.map((request) => [request.cpu, request.launchedAs.revision])).toEqual([
      [256, planRevision(trial)],
      [512, planRevision(bigger)],
    ]);
  });

  it('fails a tenant whose plan is not configured, saying what to do, without starting anything', async () => {
    // Prepare
    const world = await createWorld({ settings: { plans } });
    await world.signUp('acme');
    await changeSpec(world, 'acme', { plan: 'gold' });

    // Act
    await world.converge(['acme']);

    // Assess
    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status).toMatchObject({ phase: 'Failed', failedGeneration: tenant.spec.generation, lastErrorCategory: 'platform' });
    expect(tenant.status.lastError).toMatch(/^Its plan gold is not configured; change its plan/);
    expect(world.cloud.calls).not.toContain('RunTask');
    expect(await world.store.countRoutingSlots()).toBe(0);
  });

  it('leaves a running task alone when its plan is removed from the configuration', async () => {
    // Prepare
    const world = await createWorld({ settings: { plans } });
    await world.signUp('acme');
    await world.converge(['acme']);
    const running = world.cloud.liveTasksOf('acme')[0]!;
    world.deps.settings = { ...world.deps.settings, plans: { plans: [{ ...pro, public: true }] } };

    // Act
    await world.rounds(['acme'], 5);

    // Assess
    expect(world.cloud.liveTasksOf('acme')).toEqual([expect.objectContaining({ arn: running.arn })]);
    expect((await world.store.get('acme'))!.status.phase).toBe('Running');
  });
});
