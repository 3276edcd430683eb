import { describe, expect, it } from 'vitest';
import { reconcile } from '../../shared/app/reconcile.js';
import { handleTaskEvent } from '../../shared/app/task-event.js';
import { createWorld } from '../support/reconciler-world.js';

const TRUST_MS = 60_000;
const watch = { owner: 'invocation-1', maxWaitMs: 20_000 };

/** A world whose task events reach the record, as the task-events function writes them. */
async function eventWorld(settings: { healthWaitMs?: number } = {}) {
  const world = await createWorld({ settings: { eventTrustMs: TRUST_MS, ...settings } });
  let delivered = 0;
  /** Hands every event the cloud has emitted since the last call to the task-event use case. */
  const deliver = async () => {
    for (; delivered < world.cloud.events.length; delivered++) {
      await handleTaskEvent({ store: world.store, clock: world.clock }, world.cloud.events[delivered]!);
    }
  };
  /** What reconciles asked of ECS (the fake counts a tenant's task lookup as DescribeTasks). */
  const ecsLookups = () => world.cloud.countCalls('DescribeTasks');
  return { ...world, deliver, ecsLookups };
}

describe('reconcile, waiting on task events', () => {
  it('lets go of a starting task and takes it up again at its events, asking ECS nothing after RunTask', async () => {
    // Prepare
    const world = await eventWorld();
    await world.signUp('acme');

    // Act: the first look starts the task; each event written to the record starts the next look.
    const first = await reconcile(world.deps, 'acme', watch);
    const lookupsAfterRunTask = world.ecsLookups();
    let phase = first.phase;
    for (let round = 0; round < 10 && phase !== 'Running'; round++) {
      world.cloud.tick();
      world.clock.advance(1_000);
      await world.deliver();
      phase = (await reconcile(world.deps, 'acme', watch)).phase ?? phase;
    }

    // Assess
    expect(first).toEqual({ phase: 'Provisioning', requeueAfterMs: TRUST_MS });
    expect((await world.store.get('acme'))!.status.phase).toBe('Running');
    expect(world.ecsLookups()).toBe(lookupsAfterRunTask);
    expect(world.cloud.countCalls('RunTask')).toBe(1);
  });

  it('asks ECS itself when no event has come within the trust window', async () => {
    // Prepare: the task starts, and its events are lost.
    const world = await eventWorld();
    await world.signUp('acme');
    await reconcile(world.deps, 'acme', watch);
    world.cloud.tick();
    world.cloud.tick();

    // Act
    world.clock.advance(TRUST_MS - 1);
    await reconcile(world.deps, 'acme', watch);
    const lookupsWithinWindow = world.ecsLookups();
    world.clock.advance(1);
    await reconcile(world.deps, 'acme', watch);

    // Assess: within the window the record stood for ECS; past it ECS was asked, and the look went on.
    expect(lookupsWithinWindow).toBe(1);
    expect(world.ecsLookups()).toBe(2);
    expect(world.cloud.countCalls('RegisterTargets')).toBe(1);
  });

  it('reads a new target’s health once its checks can have passed, not at every poll', async () => {
    // Prepare
    const world = await eventWorld({ healthWaitMs: 20_000 });
    await world.signUp('acme');
    await reconcile(world.deps, 'acme', watch);
    world.cloud.tick();
    world.cloud.tick();
    await world.deliver();

    // Act
    const registered = await reconcile(world.deps, 'acme', watch);

    // Assess
    expect(world.cloud.countCalls('RegisterTargets')).toBe(1);
    expect(registered).toEqual({ phase: 'Provisioning', requeueAfterMs: 20_000, watching: true });
  });

  it('keeps taking a running task’s record past the window while its target’s health checks reach it, and asks ECS once they fail', async () => {
    // Prepare: the task runs and is registered; then no event comes for longer than the window.
    const world = await eventWorld();
    world.cloud.failingHealthChecks.set('acme', 'The application does not answer.');
    await world.signUp('acme');
    await reconcile(world.deps, 'acme', watch);
    world.cloud.tick();
    world.cloud.tick();
    await world.deliver();
    await reconcile(world.deps, 'acme', watch);
    world.clock.advance(TRUST_MS + 1);
    const lookupsBefore = world.ecsLookups();

    // Act
    await reconcile(world.deps, 'acme', watch);
    const whileInitial = world.ecsLookups() - lookupsBefore;
    world.cloud.tick();
    await reconcile(world.deps, 'acme', watch);

    // Assess: no ECS lookup while the target was `initial`; one once it was `unhealthy`.
    expect(whileInitial).toBe(0);
    expect(world.ecsLookups() - lookupsBefore).toBe(1);
  });

  it('passivates on the stop event, asking ECS and the load balancer once more before it records Passivated', async () => {
    // Prepare
    const world = await eventWorld();
    await world.signUp('acme');
    await world.converge(['acme']);
    await world.deliver();
    // It has run a while: its last event is older than the trust window.
    world.clock.advance(TRUST_MS);
    await world.setDesired('acme', 'passivated');
    const lookupsBefore = world.ecsLookups();

    // Act: the stop is ordered; the STOPPED event brings the next look.
    const stopping = await reconcile(world.deps, 'acme', watch);
    world.cloud.tick();
    world.clock.advance(1_000);
    await world.deliver();
    const stopped = await reconcile(world.deps, 'acme', watch);

    // Assess: one lookup to begin with (the record was not followed), one to confirm at the end.
    expect(stopping).toEqual({ phase: 'Passivating', requeueAfterMs: TRUST_MS });
    expect(stopped.phase).toBe('Passivated');
    expect(world.ecsLookups() - lookupsBefore).toBe(2);
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(0);
    expect(world.cloud.rules.size).toBe(0);
    expect(world.cloud.targetGroups.size).toBe(0);
  });
});
