import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { handleTaskEvent, type TaskEventDeps, type TaskStateChange } from '../../shared/app/task-event.js';
import { VersionConflictError } from '../../shared/domain/errors.js';
import { newTenant, type TaskStatus, type Tenant } from '../../shared/domain/tenant.js';
import type { ObservedTask } from '../../shared/ports/compute.js';
import { createTestTables } from '../support/dynamodb.js';

const NOW = new Date('2026-11-21T10:00:00.000Z');
const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/5f0c1d2e3b4a4c6e8f1a2b3c4d5e6f70';
const STRANGER_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/0123456789abcdef0123456789abcdef';

let store: DynamoDbTenantStore;

beforeEach(async () => {
  const tables = await createTestTables();
  store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
});

/** A tenant whose record expects TASK_ARN, as the reconciler leaves it right after RunTask. */
async function tenantWithTask(task: Partial<TaskStatus> = {}, id = 'acme'): Promise<Tenant> {
  const created = await store.create(
    newTenant({ slug: id, email: `ann@${id}.test`, plan: 'trial', tokenHash: '0'.repeat(64), now: NOW, trialDays: 14 }),
    { maxTenants: 100 },
  );
  return store.save({
    ...created,
    status: {
      ...created.status,
      phase: 'Provisioning',
      slot: true,
      task: { arn: TASK_ARN, capacityProvider: 'FARGATE_SPOT', lastStatus: 'PROVISIONING', ...task },
    },
  });
}

function change(version: number, task: Partial<ObservedTask> = {}): TaskStateChange {
  return {
    version,
    task: {
      arn: TASK_ARN,
      tenantId: 'acme',
      lastStatus: 'RUNNING',
      desiredStatus: 'RUNNING',
      capacityProvider: 'FARGATE_SPOT',
      ip: '10.0.1.5',
      ...task,
    },
  };
}

describe('handleTaskEvent', () => {
  it('applies a newer event to the recorded task: status, IP, version and a Spot termination notice', async () => {
    // Prepare
    const before = await tenantWithTask({ eventVersion: 2 });

    // Act
    const outcome = await handleTaskEvent(
      { store, clock: { now: () => NOW } },
      change(3, { desiredStatus: 'STOPPED', stopCode: 'TerminationNotice', stoppedReason: 'Your Spot Task was interrupted.' }),
    );

    // Assess
    expect(outcome).toBe('applied');
    const after = (await store.get('acme'))!;
    expect(after.status.task).toEqual({
      arn: TASK_ARN,
      capacityProvider: 'FARGATE_SPOT',
      lastStatus: 'RUNNING',
      ip: '10.0.1.5',
      stopCode: 'TerminationNotice',
      eventVersion: 3,
      desiredStatus: 'STOPPED',
      // When ECS last spoke of the task: the reconciler takes the record's word while it is recent.
      seenAt: NOW.toISOString(),
    });
    expect(after.version).toBe(before.version + 1);
    // Only the task's observed facts change; the reconciler's bookkeeping is left alone.
    expect({ ...after.status, task: undefined }).toEqual({ ...before.status, task: undefined });
    expect(after.spec).toEqual(before.spec);
  });

  it('applies the first event for a task that no event has been seen for yet', async () => {
    // Prepare
    await tenantWithTask();

    // Act
    const outcome = await handleTaskEvent({ store, clock: { now: () => NOW } }, change(1));

    // Assess
    expect(outcome).toBe('applied');
    expect((await store.get('acme'))!.status.task).toEqual({
      arn: TASK_ARN,
      capacityProvider: 'FARGATE_SPOT',
      lastStatus: 'RUNNING',
      ip: '10.0.1.5',
      eventVersion: 1,
      seenAt: NOW.toISOString(),
    });
  });

  it('writes only what the reconciler acts on: not the steps between, which would each cost a reconcile', async () => {
    // Prepare
    const before = await tenantWithTask({ eventVersion: 1 });

    // Act
    const pending = await handleTaskEvent({ store }, change(2, { lastStatus: 'PENDING', ip: undefined }));
    const running = await handleTaskEvent({ store }, change(3));
    const stopping = await handleTaskEvent({ store }, change(4, { lastStatus: 'DEPROVISIONING', desiredStatus: 'STOPPED' }));
    const deprovisioning = await handleTaskEvent({ store }, change(5, { lastStatus: 'DEPROVISIONING', desiredStatus: 'STOPPED' }));
    const stopped = await handleTaskEvent({ store }, change(6, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' }));

    // Assess
    expect([pending, running, stopping, deprovisioning, stopped]).toEqual(['no-news', 'applied', 'applied', 'no-news', 'applied']);
    const after = (await store.get('acme'))!;
    expect(after.version).toBe(before.version + 3);
    expect(after.status.task).toMatchObject({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', eventVersion: 6 });
  });

  it('drops a duplicate delivery (same version) without writing', async () => {
    // Prepare
    await tenantWithTask({ eventVersion: 2 });
    await handleTaskEvent({ store }, change(3));
    const applied = (await store.get('acme'))!;

    // Act
    const outcome = await handleTaskEvent({ store }, change(3, { lastStatus: 'DEPROVISIONING' }));

    // Assess
    expect(outcome).toBe('stale');
    const after = (await store.get('acme'))!;
    expect(after.version).toBe(applied.version);
    expect(after.status.task).toEqual(applied.status.task);
  });

  it('drops an older event that arrives after a newer one (reordered delivery)', async () => {
    // Prepare
    await tenantWithTask({ eventVersion: 1 });
    await handleTaskEvent({ store }, change(5, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'SpotInterruption' }));
    const newest = (await store.get('acme'))!;

    // Act
    const outcome = await handleTaskEvent({ store }, change(3, { lastStatus: 'RUNNING' }));

    // Assess
    expect(outcome).toBe('stale');
    const after = (await store.get('acme'))!;
    expect(after.version).toBe(newest.version);
    expect(after.status.task).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'SpotInterruption', eventVersion: 5 });
  });

  it('leaves the record alone for a task it does not expect', async () => {
    // Prepare
    const before = await tenantWithTask({ eventVersion: 2 });

    // Act
    const outcome = await handleTaskEvent({ store }, change(9, { arn: STRANGER_ARN, ip: '10.0.9.9' }));

    // Assess
    expect(outcome).toBe('other-task');
    const after = (await store.get('acme'))!;
    expect(after.version).toBe(before.version);
    expect(after.status.task).toEqual(before.status.task);
  });

  it('leaves a record with no task alone', async () => {
    // Prepare
    const created = await store.create(
      newTenant({ slug: 'acme', email: 'ann@acme.test', plan: 'trial', tokenHash: '0'.repeat(64), now: NOW, trialDays: 14 }),
      { maxTenants: 100 },
    );

    // Act
    const outcome = await handleTaskEvent({ store }, change(1));

    // Assess
    expect(outcome).toBe('other-task');
    const after = (await store.get('acme'))!;
    expect(after.version).toBe(created.version);
    expect(after.status.task).toBeUndefined();
  });

  it('marks a RunTask in flight, once, when news comes of a task the record does not know yet', async () => {
    // Prepare: RunTask is out; its answer is not written yet.
    const created = await store.create(
      newTenant({ slug: 'acme', email: 'ann@acme.test', plan: 'trial', tokenHash: '0'.repeat(64), now: NOW, trialDays: 14 }),
      { maxTenants: 100 },
    );
    const launch = { clientToken: 'acme-g1-r1', capacityProvider: 'FARGATE_SPOT' as const, requestedAt: NOW.toISOString() };
    const launching = await store.save({ ...created, status: { ...created.status, phase: 'Provisioning', slot: true, launch } });

    // Act
    const pending = await handleTaskEvent({ store }, change(2, { lastStatus: 'PENDING', ip: undefined }));
    const running = await handleTaskEvent({ store }, change(3));
    const again = await handleTaskEvent({ store }, change(4, { desiredStatus: 'STOPPED' }));

    // Assess: PENDING is not news; the RUNNING event marks the launch; the task stays the reconciler's to record.
    expect([pending, running, again]).toEqual(['other-task', 'before-answer', 'other-task']);
    const after = (await store.get('acme'))!;
    expect(after.version).toBe(launching.version + 1);
    expect(after.status.task).toBeUndefined();
    expect(after.status.launch).toEqual({ ...launch, eventBeforeAnswer: true });
  });

  it('reports an unknown tenant and writes nothing', async () => {
    // Act
    const outcome = await handleTaskEvent({ store }, change(1, { tenantId: 'ghost' }));

    // Assess
    expect(outcome).toBe('unknown-tenant');
    expect(await store.get('ghost')).toBeUndefined();
  });

  it('retries from a fresh read when another writer saves in between, keeping both changes', async () => {
    // Prepare
    await tenantWithTask({ eventVersion: 2 });
    const touchedAt = '2026-11-21T10:05:00.000Z';
    const saves: Tenant[] = [];
    let competed = false;
    // The first save finds that someone else (here: an activity update) wrote since the read.
    const racing: TaskEventDeps['store'] = {
      get: (id) => store.get(id),
      save: async (tenant, options) => {
        saves.push(tenant);
        if (!competed) {
          competed = true;
          const fresh = (await store.get(tenant.id))!;
          await store.save({ ...fresh, lastActiveAt: touchedAt });
        }
        return store.save(tenant, options);
      },
    };

    // Act
    const outcome = await handleTaskEvent({ store: racing }, change(3));

    // Assess
    expect(outcome).toBe('applied');
    expect(saves).toHaveLength(2);
    expect(saves[1]!.version).toBe(saves[0]!.version + 1);
    const after = (await store.get('acme'))!;
    expect(after.lastActiveAt).toBe(touchedAt);
    expect(after.status.task).toMatchObject({ lastStatus: 'RUNNING', ip: '10.0.1.5', eventVersion: 3 });
  });

  it('does not apply an event that a concurrent writer already applied', async () => {
    // Prepare
    await tenantWithTask({ eventVersion: 2 });
    let competed = false;
    // Two deliveries of the same event race: the other one wins the write.
    const racing: TaskEventDeps['store'] = {
      get: (id) => store.get(id),
      save: async (tenant, options) => {
        if (!competed) {
          competed = true;
          await handleTaskEvent({ store }, change(3));
        }
        return store.save(tenant, options);
      },
    };

    // Act
    const outcome = await handleTaskEvent({ store: racing }, change(3));

    // Assess
    expect(outcome).toBe('stale');
    expect((await store.get('acme'))!.status.task!.eventVersion).toBe(3);
  });

  it('gives up with the conflict after a bounded number of attempts when writers never stop competing', async () => {
    // Prepare
    await tenantWithTask({ eventVersion: 2 });
    let saves = 0;
    const hopeless: TaskEventDeps['store'] = {
      get: (id) => store.get(id),
      save: async (tenant, options) => {
        saves += 1;
        const fresh = (await store.get(tenant.id))!;
        await store.save({ ...fresh, lastActiveAt: new Date(NOW.getTime() + saves * 1_000).toISOString() });
        return store.save(tenant, options);
      },
    };

    // Act
    const attempt = handleTaskEvent({ store: hopeless }, change(3));

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(VersionConflictError);
    expect(saves).toBe(5);
    expect((await store.get('acme'))!.status.task!.eventVersion).toBe(2);
  });
});
