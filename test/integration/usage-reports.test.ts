import { describe, expect, it } from 'vitest';
import { tenantChanges } from '../../shared/adapters/aws/dynamodb-stream-records.js';
import { sweep, type SweepDeps } from '../../shared/app/sweep.js';
import { domainEventsFor, TENANT_USAGE, type DomainEvent } from '../../shared/domain/domain-events.js';
import { FakeActivity } from '../support/fake-activity.js';
import { createWorld } from '../support/reconciler-world.js';
import { streamAsPipeBatch } from '../support/table-stream.js';

const MINUTE = 60_000;
const SPOT = 'spot:256:512';

/** Everything `Tenant Usage` the table's stream has produced so far, as the stream publisher derives it. */
async function usageEvents(world: Awaited<ReturnType<typeof createWorld>>): Promise<DomainEvent[]> {
  const changes = tenantChanges(await streamAsPipeBatch(world.tables));
  return changes.flatMap((change) => domainEventsFor(change)).filter((event) => event.detailType === TENANT_USAGE);
}

async function activeIds(world: Awaited<ReturnType<typeof createWorld>>): Promise<string[]> {
  return (await world.store.listActive({ limit: 100 })).items.map((tenant) => tenant.id).sort();
}

describe('Tenant Usage', () => {
  it('is published once per tenant and hour it ran, from the hour the sweep closes on the record, a tenant gone to sleep included', async () => {
    // Prepare: at 10:00 both start; acme sleeps after twenty minutes, initech keeps running.
    const world = await createWorld();
    const deps: SweepDeps = {
      store: world.store,
      activity: new FakeActivity(),
      clock: world.clock,
      reconcile: (id) => world.reconcile(id),
    };
    await world.signUp('acme');
    await world.signUp('initech');
    await world.converge(['acme', 'initech']);
    world.clock.advance(20 * MINUTE);
    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);
    expect((await world.store.get('acme'))!.status.phase).toBe('Passivated');
    // Asleep, but not yet reported: still where the sweep looks.
    expect(await activeIds(world)).toEqual(['acme', 'initech']);

    // Act: sweeps within the hour, then after it, several times.
    const within = await sweep(deps);
    world.clock.advance(41 * MINUTE);
    const after = await sweep(deps);
    const again = await sweep(deps);
    world.clock.advance(60 * MINUTE);
    const nextHour = await sweep(deps);

    // Assess
    expect([within.usageReported, after.usageReported, again.usageReported, nextHour.usageReported]).toEqual([0, 2, 0, 1]);
    expect(await activeIds(world)).toEqual(['initech']);
    const events = (await usageEvents(world)).sort((a, b) => String(a.detail.id).localeCompare(String(b.detail.id)));
    expect(events.map((event) => event.detail.id)).toEqual([
      'acme/2026-11-21T10:00:00.000Z',
      'initech/2026-11-21T10:00:00.000Z',
      'initech/2026-11-21T11:00:00.000Z',
    ]);
    const [acme, initechFirst, initechSecond] = events.map((event) => event.detail);
    expect(acme).toMatchObject({
      tenantId: 'acme',
      plan: 'trial',
      period: { start: '2026-11-21T10:00:00.000Z', end: '2026-11-21T11:00:00.000Z' },
      wakes: 0,
      passivations: 1,
      cost: { currency: 'USD', pricesAsOf: { fargate: '2025-06', efs: '2026-12' }, region: expect.any(String) },
    });
    const started = Date.parse(world.cloud.tasksOf('initech')[0]!.startedAt!);
    expect(initechFirst!.runningSeconds).toEqual({ [SPOT]: (Date.parse('2026-11-21T11:00:00.000Z') - started) / 1000 });
    expect(initechSecond!.runningSeconds).toEqual({ [SPOT]: 3600 });
    const acmeTask = world.cloud.tasksOf('acme')[0]!;
    const acmeSeconds = (acme!.runningSeconds as Record<string, number>)[SPOT]!;
    expect(Math.abs(acmeSeconds - (Date.parse(acmeTask.stoppedAt!) - Date.parse(acmeTask.startedAt!)) / 1000)).toBeLessThanOrEqual(5);
    expect((acme!.cost as { amount: number }).amount).toBeGreaterThan(0);
  });
});
