import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Compute, ObservedTask } from '../../shared/ports/compute.js';
import type { TaskInventory } from '../../shared/ports/inventory.js';
import { TRIAL_LAUNCH } from '../support/launch.js';

/** One implementation of the Compute port (and its inventory), with a way to let time pass. */
export interface ComputeSubject {
  compute: Compute & TaskInventory;
  /** One step of the world's time: tasks move along their lifecycle. */
  step(): Promise<void>;
  /** An ARN of the implementation's kind that names no task. */
  unknownTaskArn: string;
  /**
   * The same platform seen by another installation, where the implementation has that notion
   * (two installations share one AWS account): its tasks must stay invisible to `compute`.
   */
  otherInstallation?: Compute;
  /**
   * Starts a task that looks like the tenant's (its listing key and group) but carries no owner
   * tags, as someone could by hand, where the implementation can tell.
   */
  plantUntaggedTask?: (tenantId: string) => Promise<void>;
  close(): Promise<void>;
}

const STEPS = 200;

/**
 * What the reconciler relies on from Compute, written once and run against every implementation:
 * the ECS adapter over the AWS model, the local process adapter, and the test fake.
 */
/**
 * What only some implementations can show (a second installation on the same cloud, a resource
 * made by hand): the cases that need it are registered only for those that have it.
 */
export type ContractFeature = 'otherInstallation' | 'resourcesByHand';

export function describeComputeContract(
  name: string,
  makeSubject: () => Promise<ComputeSubject>,
  features: readonly ContractFeature[] = [],
): void {
  const itWith = (feature: ContractFeature) => (features.includes(feature) ? it : (_name: string, _case: () => Promise<void>) => undefined);
  describe(`Compute contract: ${name}`, () => {
    let subject: ComputeSubject;
    let compute: Compute & TaskInventory;
    let sequence = 0;

    beforeEach(async () => {
      subject = await makeSubject();
      compute = subject.compute;
    });
    afterEach(async () => {
      await subject.close();
    });

    const request = (tenantId: string, clientToken = `token-${tenantId}-${++sequence}`) => ({
      tenantId,
      host: `${tenantId}.trials.example.com`,
      clientToken,
      capacityProvider: 'FARGATE_SPOT' as const,
      ...TRIAL_LAUNCH,
    });

    async function run(tenantId: string): Promise<ObservedTask> {
      const result = await compute.runTask(request(tenantId));
      if (!result.started) throw new Error(`runTask did not start a task: ${result.reason}`);
      return result.task;
    }

    /** Steps the world until the task, seen through its ARN, satisfies `done`. */
    async function until(tenantId: string, arn: string, done: (task: ObservedTask) => boolean): Promise<ObservedTask> {
      for (let step = 0; step < STEPS; step++) {
        const task = (await compute.tenantTasks(tenantId, [arn])).find((candidate) => candidate.arn === arn);
        if (task && done(task)) return task;
        await subject.step();
      }
      throw new Error(`task ${arn} never reached the state wanted`);
    }

    it('runs a task for the tenant, finds it among its tasks, and sees it reach RUNNING with an IP', async () => {
      const task = await run('acme');
      expect(task).toMatchObject({ tenantId: 'acme', desiredStatus: 'RUNNING', capacityProvider: 'FARGATE_SPOT' });
      expect((await compute.tenantTasks('acme', [])).map((found) => found.arn)).toEqual([task.arn]);
      const running = await until('acme', task.arn, (found) => found.lastStatus === 'RUNNING');
      expect(running.ip).toBeTruthy();
      expect(running.tenantId).toBe('acme');
    });

    it("reports what each task was started as, from the start and whenever its tenant's tasks are looked at", async () => {
      const launchedAs = { plan: 'pro', revision: 'a1b2c3d4e5f6', environment: '0f1e2d3c4b5a' };
      const started = await compute.runTask({ ...request('acme'), plan: 'pro', launchedAs });
      if (!started.started) throw new Error(`runTask did not start a task: ${started.reason}`);
      expect(started.task.launchedAs).toEqual(launchedAs);
      const trial = await run('acme');

      const seen = await compute.tenantTasks('acme', [started.task.arn, trial.arn]);
      expect(Object.fromEntries(seen.map((task) => [task.arn, task.launchedAs]))).toEqual({
        [started.task.arn]: launchedAs,
        [trial.arn]: TRIAL_LAUNCH.launchedAs,
      });
      const running = await until('acme', started.task.arn, (found) => found.lastStatus === 'RUNNING');
      expect(running.launchedAs).toEqual(launchedAs);
    });

    it('starts one task for one client token, however often the call is repeated', async () => {
      const first = await compute.runTask(request('acme', 'same-token'));
      const second = await compute.runTask(request('acme', 'same-token'));
      expect(first.started && second.started && first.task.arn === second.task.arn).toBe(true);
      expect(await compute.tenantTasks('acme', [])).toHaveLength(1);
      expect((await compute.allTenantTasks()).filter((task) => task.tenantId === 'acme')).toHaveLength(1);
    });

    it("lists only the tenant's own tasks", async () => {
      const mine = await run('acme');
      await run('globex');
      expect((await compute.tenantTasks('acme', [])).map((task) => task.arn)).toEqual([mine.arn]);
    });

    it('reports a stopped task with its stop reason through its known ARN, and no longer lists it otherwise', async () => {
      const task = await run('acme');
      await until('acme', task.arn, (found) => found.lastStatus === 'RUNNING');
      await compute.stopTask(task.arn, 'Dormouse: passivated after 15 idle minutes');

      const stopping = (await compute.tenantTasks('acme', [task.arn]))[0];
      expect(stopping).toMatchObject({
        arn: task.arn,
        desiredStatus: 'STOPPED',
        stoppedReason: 'Dormouse: passivated after 15 idle minutes',
      });
      expect(await compute.tenantTasks('acme', [])).toEqual([]);
      expect((await compute.allTenantTasks()).map((found) => found.arn)).not.toContain(task.arn);

      const stopped = await until('acme', task.arn, (found) => found.lastStatus === 'STOPPED');
      expect(stopped).toMatchObject({ stopCode: 'UserInitiated', stoppedReason: 'Dormouse: passivated after 15 idle minutes' });
    });

    it('treats stopping a stopped, stopping or unknown task as done', async () => {
      const task = await run('acme');
      await compute.stopTask(task.arn, 'first');
      await compute.stopTask(task.arn, 'second');
      await until('acme', task.arn, (found) => found.lastStatus === 'STOPPED');
      await compute.stopTask(task.arn, 'third');
      await compute.stopTask(subject.unknownTaskArn, 'never existed');
      expect((await compute.tenantTasks('acme', [task.arn]))[0]?.stoppedReason).toBe('first');
    });

    it('offers every task meant to run for drift repair, and none that is stopping', async () => {
      const kept = await run('acme');
      const stopped = await run('globex');
      await compute.stopTask(stopped.arn, 'gone');
      expect((await compute.allTenantTasks()).map((task) => [task.tenantId, task.arn])).toEqual([['acme', kept.arn]]);
    });

    itWith('otherInstallation')("never lists or offers another installation's tasks, even of a tenant of the same name", async () => {
      const other = subject.otherInstallation!;
      const theirs = await other.runTask(request('acme'));
      expect(theirs.started).toBe(true);
      expect(await compute.tenantTasks('acme', [])).toEqual([]);
      expect(await compute.allTenantTasks()).toEqual([]);
      expect((await other.tenantTasks('acme', [])).map((task) => task.tenantId)).toEqual(['acme']);
    });

    itWith('resourcesByHand')('never adopts or offers a task without the owner tags, whatever it is named', async () => {
      await subject.plantUntaggedTask!('acme');
      expect(await compute.tenantTasks('acme', [])).toEqual([]);
      expect(await compute.allTenantTasks()).toEqual([]);
    });
  });
}
