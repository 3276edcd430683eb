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
      /** The world moves a poll interval; events arrive; the reconciler looks, or (half the time) not yet. */
      const settle = async () => {
        for (let round = 0; round < 80; round++) {
          world.cloud.tick();
          world.clock.advance(world.settings.pollMs);
          await deliverEvents();
          if (random() < 0.5) await world.reconcile('acme');
          if (
            isSettled((await world.store.get('acme'))!) &&
            world.cloud.tasksOf('acme').every((task) => task.lastStatus === 'RUNNING' || task.lastStatus === 'STOPPED')
          )
            return;
        }
        throw new Error('Not settled');
      };
      await world.signUp('acme');

      // Act: run for an hour or so, sleep, wake, run, sleep again.
      await settle();
      world.clock.advance(3_600_000 + Math.floor(random() * 600_000));
      await world.setDesired('acme', 'passivated');
      await settle();
      world.clock.advance(600_000);
      await world.setDesired('acme', 'running');
      await settle();
      world.clock.advance(Math.floor(random() * 1_200_000));
      await world.setDesired('acme', 'passivated');
      await settle();
      // Whatever is still held arrives late, and everything once more.
      for (const event of [...held, ...world.cloud.events]) await handleTaskEvent(taskEvents, event);
      await world.reconcile('acme');

      // Assess
      const tasks = world.cloud.tasksOf('acme');
      expect(tasks.length).toBe(2);
      const trueSeconds = tasks.reduce((sum, task) => sum + (Date.parse(task.stoppedAt!) - Date.parse(task.startedAt!)) / 1000, 0);
      const usage = (await world.store.get('acme'))!.usage!;
      const metered = Object.values(usage.runningSeconds!).reduce((sum, value) => sum + value, 0);
      expect(trueSeconds).toBeGreaterThan(3600);
      expect(Math.abs(metered - trueSeconds)).toBeLessThanOrEqual(world.settings.pollMs / 1000);
      expect(Object.keys(usage.runningSeconds!)).toEqual([meterKey('FARGATE_SPOT', { cpu: 256, memory: 512 })]);
      expect(usage).toMatchObject({ wakes: 1, passivations: 2 });
      expect(usage.meter?.running).toBeUndefined();
    });
  }
});
