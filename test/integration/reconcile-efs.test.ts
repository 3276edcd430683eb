import { describe, expect, it } from 'vitest';
import { taskFamily } from '../../shared/adapters/common/names.js';
import { reconcile } from '../../shared/app/reconcile.js';
import { isSettled, withDesired, type Desired } from '../../shared/domain/tenant.js';
import { createAwsWorld } from '../support/aws-reconciler-world.js';

const INSTALLATION = 'prod';

/** The reconcile use case wired as the Lambda wires it with a data path, over the AWS model. */
async function world() {
  const { store, clock, model, deps } = await createAwsWorld({ installation: INSTALLATION, persistentData: true });

  async function converge(id: string): Promise<void> {
    for (let round = 0; round < 60; round++) {
      await reconcile(deps, id);
      const tenant = await store.get(id);
      if (tenant && isSettled(tenant)) return;
      clock.advance(5_000);
      model.settle();
    }
    throw new Error(`${id} did not settle: ${(await store.get(id))?.status.phase}`);
  }

  async function setDesired(id: string, desired: Desired): Promise<void> {
    await store.save(withDesired((await store.get(id))!, desired), { releaseClaims: desired === 'deleted' });
  }

  return { model, store, converge, setDesired };
}

describe('reconcile with persistent data on AWS (EfsStorage over the AWS model)', () => {
  it('runs the tenant on its own task definition, keeps it across a passivation, and removes everything at delete', async () => {
    // Prepare
    const { model, store, converge, setDesired } = await world();

    // Act: start
    await converge('acme');

    // Assess: the task runs the tenant's task definition, which mounts the tenant's access point
    const [accessPoint] = model.accessPointsOf('acme');
    const [taskDefinition] = model.taskDefinitionsOf('acme');
    expect(accessPoint).toMatch(/^fsap-\S+ \/tenants\/acme$/);
    expect(taskDefinition).toContain(`task-definition/${taskFamily(INSTALLATION, 'acme')}:1`);
    const [running] = model.liveTasksOf('acme');
    expect(model.taskDefinitionOf(running!.arn)).toBe(taskDefinition);

    // Act: passivate and wake
    model.dataBytes.set('acme', 5_000_000);
    await setDesired('acme', 'passivated');
    await converge('acme');
    // Assess: its data was measured, once, through the data function, for its metered storage
    expect(model.measured).toEqual(['acme']);
    expect((await store.get('acme'))?.usage?.meter?.storage?.bytes).toBe(5_000_000);
    await setDesired('acme', 'running');
    await converge('acme');

    // Assess: the same access point and task definition, nothing registered again
    expect(model.accessPointsOf('acme')).toEqual([accessPoint]);
    expect(model.taskDefinitionsOf('acme')).toEqual([taskDefinition]);
    const [woken] = model.liveTasksOf('acme');
    expect(woken!.arn).not.toBe(running!.arn);
    expect(model.taskDefinitionOf(woken!.arn)).toBe(taskDefinition);

    // Act: delete
    await setDesired('acme', 'deleted');
    await converge('acme');

    // Assess: files, access point and task definitions gone, and the record says so
    expect(model.cleaned).toEqual(['acme']);
    expect(model.accessPointsOf('acme')).toEqual([]);
    expect(model.taskDefinitionsOf('acme')).toEqual([]);
    expect(model.liveTasksOf('acme')).toEqual([]);
    expect((await store.get('acme'))?.status.dataRemoved).toBe(true);
  });
});
