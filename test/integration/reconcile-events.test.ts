import { describe, expect, it } from 'vitest';
import { reconcile } from '../../shared/app/reconcile.js';
import { handleTaskEvent } from '../../shared/app/task-event.js';
import { CloudUnavailableError } from '../../shared/domain/errors.js';
import type { FakeCloudOptions } from '../support/fake-cloud.js';
import { createWorld } from '../support/reconciler-world.js';

const TRUST_MS = 60_000;
const watch = { owner: 'invocation-1', maxWaitMs: 20_000 };

/** A world whose task events reach the record, as the task-events function writes them. */
async function eventWorld(settings: { healthWaitMs?: number } = {}, cloud: FakeCloudOptions = {}) {
  const world = await createWorld({ settings: { eventTrustMs: TRUST_MS, ...settings }, cloud });
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

  it('asks ECS at once about a task whose RUNNING event came before RunTask’s answer was written, instead of waiting out the window', async () => {
    // Prepare: the task runs, and its events are handled, between RunTask's answer and the
    // reconciler's write of it (a local task starts in well under a second).
    const world = await eventWorld();
    await world.signUp('acme');
    const runTask = world.cloud.runTask.bind(world.cloud);
    world.cloud.runTask = async (request) => {
      const answer = await runTask(request);
      world.cloud.tick();
      world.cloud.tick();
      await world.deliver();
      return answer;
    };

    // Act
    const first = await reconcile(world.deps, 'acme', watch);
    const recorded = (await world.store.get('acme'))!.status;
    const lookupsAfterRunTask = world.ecsLookups();
    await reconcile(world.deps, 'acme', watch);

    // Assess: the answer (PROVISIONING) is recorded undated, so the next look, at once, asks ECS
    // once, finds the task running and registers its target.
    expect(first.requeueAfterMs).toBe(0);
    expect(recorded.task?.lastStatus).toBe('PROVISIONING');
    expect(recorded.task?.seenAt).toBeUndefined();
    expect(recorded.launch).toBeUndefined();
    expect(world.ecsLookups()).toBe(lookupsAfterRunTask + 1);
    expect(world.cloud.countCalls('RegisterTargets')).toBe(1);
  });

  it('asks ECS about a task started before a lost answer, when the repeated RunTask is answered as the first was', async () => {
    // Prepare: the first RunTask's answer is lost, and the task's events come before the
    // reconciler has written its backoff. ECS answers the same token again with that first
    // answer, as its documentation says, and does not list the task yet.
    const world = await eventWorld({}, { listingLagTicks: 10 });
    await world.signUp('acme');
    const runTask = world.cloud.runTask.bind(world.cloud);
    let firstAnswer: Awaited<ReturnType<typeof runTask>> | undefined;
    world.cloud.runTask = async (request) => {
      if (firstAnswer) return firstAnswer;
      firstAnswer = await runTask(request);
      world.cloud.tick();
      world.cloud.tick();
      await world.deliver();
      throw new CloudUnavailableError('start the task', 'RequestTimeout');
    };
    await reconcile(world.deps, 'acme', watch);

    // Act: past the backoff, and then past one poll.
    world.clock.advance(5_000);
    const retried = await reconcile(world.deps, 'acme', watch);
    world.clock.advance(retried.requeueAfterMs!);
    await reconcile(world.deps, 'acme', watch);

    // Assess: the repeated answer said PROVISIONING and was not taken for ECS's word: one poll
    // later ECS was asked, and the target registered. One task was started.
    expect(firstAnswer).toMatchObject({ started: true, task: { lastStatus: 'PROVISIONING' } });
    expect(retried.requeueAfterMs).toBe(world.settings.pollMs);
    expect(world.cloud.countCalls('RegisterTargets')).toBe(1);
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(1);
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
