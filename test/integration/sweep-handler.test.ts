import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { localLambdaContext } from '../../shared/adapters/local/lambda-runtime.js';
import type { SweepDeps } from '../../shared/app/sweep.js';
import { createSweepHandler } from '../../shared/events/sweep-handler.js';
import { FakeActivity } from '../support/fake-activity.js';
import { createWorld } from '../support/reconciler-world.js';

/** An invocation of the sweep with this much time left. */
const lambdaContext = (remainingMs: number) => localLambdaContext('dormouse-sweep', 'c6af9ac6-7b61-11e6-9a41-93e812345678', remainingMs);

/** What EventBridge Scheduler sends when the schedule sets no input of its own. */
const SCHEDULER_PAYLOAD = {};

/** The EMF documents Powertools metrics wrote to stdout, for the metrics they carry. */
function emfValues(writes: string[]): Record<string, number> {
  const values: Record<string, number> = {};
  for (const line of writes.join('').split('\n')) {
    if (!line.includes('"_aws"')) continue;
    const document = JSON.parse(line) as Record<string, unknown> & {
      _aws: { CloudWatchMetrics: Array<{ Namespace: string; Metrics: Array<{ Name: string }> }> };
    };
    for (const { Namespace, Metrics: metrics } of document._aws.CloudWatchMetrics) {
      expect(Namespace).toBe('Dormouse');
      for (const { Name } of metrics) values[Name] = document[Name] as number;
    }
  }
  return values;
}

async function sweepWorld() {
  const world = await createWorld();
  const activity = new FakeActivity();
  const deps: SweepDeps = {
    store: world.store,
    activity,
    clock: world.clock,
    reconcile: world.reconcile,
    drift: { compute: world.cloud, routing: world.cloud },
  };
  const handler = (pageSize?: number) =>
    createSweepHandler({
      deps,
      settings: pageSize ? { pageSize } : {},
      logger: new Logger({ serviceName: 'dormouse-sweep', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'Dormouse', serviceName: 'dormouse-sweep' }),
    });
  return { world, activity, handler };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('sweep handler', () => {
  it('sweeps on a scheduler invocation and reports what it did as metrics', async () => {
    // Prepare: one idle tenant and an orphaned rule and target group
    const { world, handler } = await sweepWorld();
    await world.signUp('acme');
    await world.converge(['acme']);
    world.clock.advance(20 * 60_000);
    const ghostGroup = await world.cloud.ensureTargetGroup('ghost');
    await world.cloud.createRule('ghost', 'ghost.trials.example.com', ghostGroup);
    const writes: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(chunk.toString());
      return true;
    });

    // Act
    const report = await handler()(SCHEDULER_PAYLOAD, lambdaContext(60_000));

    // Assess
    expect(report).toMatchObject({ passivated: 1, expired: 0, repaired: { rules: 1, targetGroups: 1, tasks: 0, tenants: 0 }, done: true });
    expect(emfValues(writes)).toEqual({
      TenantsPassivated: 1,
      TenantsWarmed: 0,
      TrialsExpired: 0,
      DriftRepaired: 2,
      TenantsReconciled: report.reconciled,
      TenantsStuck: 0,
    });
  });

  it("counts tenants stuck in a passing phase in the TenantsStuck metric, which the operators' alarm watches", async () => {
    // Prepare: a tenant Provisioning for 20 minutes, held by a reconciler that keeps retrying
    const { world, handler } = await sweepWorld();
    await world.signUp('stuck');
    world.clock.advance(20 * 60_000);
    const tenant = (await world.store.get('stuck'))!;
    const twentyMinutesAgo = new Date(world.clock.now().getTime() - 20 * 60_000).toISOString();
    await world.store.save({
      ...tenant,
      status: { ...tenant.status, phase: 'Provisioning', transitionAt: twentyMinutesAgo },
      lease: { owner: 'another', until: new Date(world.clock.now().getTime() + 60_000).toISOString() },
    });
    const writes: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(chunk.toString());
      return true;
    });

    // Act
    const report = await handler()(SCHEDULER_PAYLOAD, lambdaContext(60_000));

    // Assess
    expect(report.stuck).toEqual([{ tenantId: 'stuck', phase: 'Provisioning', minutes: 20 }]);
    expect(emfValues(writes)).toMatchObject({ TenantsStuck: 1 });
  });

  it('keeps its budget within the time the invocation has left: one page when little is left, the rest next time', async () => {
    // Prepare: two tenants on their way up, read one per page
    const { world, handler } = await sweepWorld();
    await world.signUp('acme');
    await world.signUp('globex');
    world.clock.advance(1_000);
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);

    // Act
    const hurried = await handler(1)(SCHEDULER_PAYLOAD, lambdaContext(5_000));
    const relaxed = await handler(1)(SCHEDULER_PAYLOAD, lambdaContext(120_000));

    // Assess
    expect(hurried).toMatchObject({ scanned: 1, done: false });
    // The next run continues where the hurried one stopped and, with time, finishes the pass.
    expect(relaxed).toMatchObject({ scanned: 1, done: true });
  });
});
