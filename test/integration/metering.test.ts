import { describe, expect, it } from 'vitest';
import { handleTaskEvent, type TaskStateChange } from '../../shared/app/task-event.js';
import { isSettled } from '../../shared/domain/tenant.js';
import { meterKey } from '../../shared/domain/usage.js';
import { createWorld } from '../support/reconciler-world.js';

/** A small deterministic generator, so a failure can be replayed. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

type World = Awaited<ReturnType<typeof createWorld>>;

/**
 * Moves the world a poll interval at a time, `look` delivering events and reconciling as the test
 * wants, until tenant `acme` is settled with no task between RUNNING and STOPPED.
 */
async function settle(world: World, look: () => Promise<void>): Promise<void> {
  for (let round = 0; round < 80; round++) {
    world.cloud.tick();
    world.clock.advance(world.settings.pollMs);
    await look();
    if (
      isSettled((await world.store.get('acme'))!) &&
      world.cloud.tasksOf('acme').every((task) => task.lastStatus === 'RUNNING' || task.lastStatus === 'STOPPED')
    )
      return;
  }
  throw new Error('Not settled');
}

/** Seconds the tasks truly ran, from their own start and stop times. */
function trueRunningSeconds(tasks: ReturnType<World['cloud']['tasksOf']>): number {
  return tasks.reduce((sum, task) => sum + (Date.parse(task.stoppedAt!) - Date.parse(task.startedAt!)) / 1000, 0);
}

describe('usage metering over DynamoDB Local', () => {
  for (const seed of [15, 16, 17]) {
    it(`meters the true running time within one poll interval, with task events duplicated, late and reordered (seed ${seed})`, async () => {
      // Prepare
      const world = await createWorld();
      const random = seeded(seed);
      const taskEvents = { store: world.store, clock: world.clock, plans: world.settings.plans };
      let delivered = 0;
      const held: TaskStateChange[] = [];
      /** New events from the cloud: each once or twice, shuffled, some held back for a later round. */
      const deliverEvents = async () => {
        const fresh = world.cloud.events.slice(delivered);
        delivered = world.cloud.events.length;
        const batch = [...held.splice(0), ...fresh.flatMap((event) => (random() < 0.4 ? [event, event] : [event]))];
        batch.sort(() => random() - 0.5);
        for (const event of batch) {
          if (random() < 0.25) held.push(event);
          else await handleTaskEvent(taskEvents, event);
        }
      };
      /** Events arrive; the reconciler looks, or (half the time) not yet. */
      const look = async () => {
        await deliverEvents();
        if (random() < 0.5) await world.reconcile('acme');
      };
      await world.signUp('acme');

      // Act: run for an hour or so, sleep, wake, run, sleep again.
      await settle(world, look);
      world.clock.advance(3_600_000 + Math.floor(random() * 600_000));
      await world.setDesired('acme', 'passivated');
      await settle(world, look);
      world.clock.advance(600_000);
      await world.setDesired('acme', 'running');
      await settle(world, look);
      world.clock.advance(Math.floor(random() * 1_200_000));
      await world.setDesired('acme', 'passivated');
      await settle(world, look);
      // Whatever is still held arrives late, and everything once more.
      for (const event of [...held, ...world.cloud.events]) await handleTaskEvent(taskEvents, event);
      await world.reconcile('acme');

      // Assess
      const tasks = world.cloud.tasksOf('acme');
      expect(tasks.length).toBe(2);
      const trueSeconds = trueRunningSeconds(tasks);
      const usage = (await world.store.get('acme'))!.usage!;
      const metered = Object.values(usage.runningSeconds!).reduce((sum, value) => sum + value, 0);
      expect(trueSeconds).toBeGreaterThan(3600);
      expect(Math.abs(metered - trueSeconds)).toBeLessThanOrEqual(world.settings.pollMs / 1000);
      expect(Object.keys(usage.runningSeconds!)).toEqual([meterKey('FARGATE_SPOT', { cpu: 256, memory: 512 })]);
      expect(usage).toMatchObject({ wakes: 1, passivations: 2 });
      expect(usage.meter?.running).toBeUndefined();
    });
  }

  it('meters a task replaced with no gap (a Spot interruption without data, a plan change) until it has stopped', async () => {
    // Prepare: no data path, so each replacement starts before the old task stops.
    const world = await createWorld();
    const taskEvents = { store: world.store, clock: world.clock, plans: world.settings.plans };
    let delivered = 0;
    /** Every event once, in order; the reconciler looks every time. */
    const look = async () => {
      for (const event of world.cloud.events.slice(delivered)) await handleTaskEvent(taskEvents, event);
      delivered = world.cloud.events.length;
      await world.reconcile('acme');
    };
    await world.signUp('acme');
    await settle(world, look);

    // Act: interrupted after a while; later moved to pro; later put to sleep.
    world.clock.advance(600_000);
    world.cloud.interrupt(world.cloud.tasksOf('acme')[0]!);
    await settle(world, look);
    world.clock.advance(600_000);
    const tenant = (await world.store.get('acme'))!;
    await world.store.save({ ...tenant, spec: { ...tenant.spec, plan: 'pro', generation: tenant.spec.generation + 1 } });
    await settle(world, look);
    world.clock.advance(600_000);
    await world.setDesired('acme', 'passivated');
    await settle(world, look);

    // Assess: each task counted from its start to its stop, on its own meter.
    const tasks = world.cloud.tasksOf('acme');
    expect(tasks.length).toBe(3);
    const trueSeconds = (capacity: string) => trueRunningSeconds(tasks.filter((task) => task.capacityProvider === capacity));
    const usage = (await world.store.get('acme'))!.usage!;
    const spot = usage.runningSeconds![meterKey('FARGATE_SPOT', { cpu: 256, memory: 512 })]!;
    const onDemand = usage.runningSeconds![meterKey('FARGATE', { cpu: 256, memory: 512 })]!;
    expect(Math.abs(spot - trueSeconds('FARGATE_SPOT'))).toBeLessThanOrEqual(world.settings.pollMs / 1000);
    expect(Math.abs(onDemand - trueSeconds('FARGATE'))).toBeLessThanOrEqual(world.settings.pollMs / 1000);
    expect(usage.meter?.running).toBeUndefined();
    expect(usage.meter?.outgoing).toBeUndefined();
  });
});
