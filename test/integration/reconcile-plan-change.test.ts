import { describe, expect, it } from 'vitest';
import { reconcile } from '../../shared/app/reconcile.js';
import { isSettled } from '../../shared/domain/tenant.js';
import { createAwsWorld } from '../support/aws-reconciler-world.js';

const INSTALLATION = 'prod';
const POLL_MS = 5_000;

/**
 * What a plan change costs on AWS: the reconcile use case wired as the Lambda wires it (the real
 * ECS, ELBv2 and, with data, EFS adapters) over the AWS model, one look every five seconds.
 */
async function world(data: boolean) {
  const { store, clock, model, deps } = await createAwsWorld({ installation: INSTALLATION, persistentData: data });

  /** Looks until the tenant settles; returns how many looks saw the host without a rule (no service). */
  async function converge(): Promise<{ looks: number; looksWithoutRule: number }> {
    let looksWithoutRule = 0;
    for (let looks = 1; looks <= 60; looks++) {
      await reconcile(deps, 'acme');
      if (model.rulesOf('acme').length === 0) looksWithoutRule += 1;
      const tenant = (await store.get('acme'))!;
      if (isSettled(tenant)) return { looks, looksWithoutRule };
      clock.advance(POLL_MS);
      model.settle();
    }
    throw new Error(`acme did not settle: ${(await store.get('acme'))?.status.phase}`);
  }

  async function changePlan(plan: string): Promise<void> {
    const tenant = (await store.get('acme'))!;
    await store.save({ ...tenant, spec: { ...tenant.spec, plan, generation: tenant.spec.generation + 1 } });
  }

  return { model, store, converge, changePlan };
}

describe('a plan change on AWS (the adapters over the AWS model)', () => {
  it('without data, replaces the task with no gap in these AWS calls', async () => {
    // Prepare
    const { model, store, converge, changePlan } = await world(false);
    await converge();
    const [old] = model.liveTasksOf('acme');
    model.resetHistory();

    // Act
    await changePlan('pro');
    const { looksWithoutRule } = await converge();

    // Assess
    expect(looksWithoutRule).toBe(0);
    expect(model.liveTasksOf('acme')).toEqual([expect.objectContaining({ launchedAs: expect.objectContaining({ plan: 'pro' }) })]);
    expect(model.liveTasksOf('acme')[0]!.arn).not.toBe(old!.arn);
    expect((await store.get('acme'))!.status.phase).toBe('Running');
    // RunTask once, StopTask once, the new target in and the old one out; the rest are looks.
    expect(model.callCounts()).toEqual({
      RunTask: 1,
      StopTask: 1,
      RegisterTargets: 1,
      DeregisterTargets: 1,
      ListTasks: 5,
      DescribeTasks: 5,
      DescribeTargetHealth: 5,
      DescribeRules: 5,
    });
  });

  it('with data, stops the old task first (stop-first), then starts the new one, in these AWS calls', async () => {
    // Prepare
    const { model, converge, changePlan } = await world(true);
    await converge();
    model.resetHistory();

    // Act
    await changePlan('pro');
    const { looks, looksWithoutRule } = await converge();

    // Assess
    expect(model.liveTasksOf('acme')).toEqual([expect.objectContaining({ launchedAs: expect.objectContaining({ plan: 'pro' }) })]);
    // Visitors see the waking page from the rule's removal until the new task serves: the old
    // task's stop, then the new one's start and first health checks (six looks, 30 s here).
    expect({ looks, looksWithoutRule }).toEqual({ looks: 7, looksWithoutRule: 6 });
    expect(model.callCounts()).toEqual({
      DeleteRule: 1,
      StopTask: 1,
      DescribeTaskDefinition: 1,
      DescribeAccessPoints: 1,
      RunTask: 1,
      RegisterTargets: 1,
      DeregisterTargets: 1,
      CreateRule: 1,
      ListTasks: 7,
      DescribeTasks: 7,
      // The rule is looked for once, on the way down; on the way up the record names it.
      DescribeRules: 1,
      DescribeTargetHealth: 7,
    });
  });
});
