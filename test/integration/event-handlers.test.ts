import { describe, expect, it, vi } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import { ParseError } from '@aws-lambda-powertools/parser/errors';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { localLambdaContext } from '../../shared/adapters/local/lambda-runtime.js';
import { newTenant, type TaskStatus, type Tenant } from '../../shared/domain/tenant.js';
import { createReconcileHandler, type TenantEvent } from '../../shared/events/reconcile-handler.js';
import { createTaskEventsHandler, type TaskStateChangeEvent } from '../../shared/events/task-events-handler.js';
import { createTestTables } from '../support/dynamodb.js';
import { createWorld } from '../support/reconciler-world.js';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const CLUSTER_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/dormouse`;
const TASK_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/dormouse/5f0c1d2e3b4a4c6e8f1a2b3c4d5e6f70`;

const REQUEST_ID = 'c6af9ac6-7b61-11e6-9a41-93e812345678';

const silent = (serviceName: string) => new Logger({ serviceName, logLevel: 'SILENT' });

/** An "ECS Task State Change" event as EventBridge delivers it from the default bus. */
function taskStateChange(detail: Record<string, unknown> = {}) {
  return {
    version: '0',
    id: '3317b2af-7005-947d-b652-f55e762e571a',
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: ACCOUNT,
    time: '2026-11-21T10:01:12Z',
    region: REGION,
    resources: [TASK_ARN],
    detail: {
      attachments: [
        {
          id: '1789bcae-ddfb-4d10-8ebe-8ac87ddba5b8',
          type: 'eni',
          status: 'ATTACHED',
          details: [
            { name: 'subnetId', value: 'subnet-0a1b2c3d4e5f67890' },
            { name: 'networkInterfaceId', value: 'eni-0a1b2c3d4e5f67890' },
            { name: 'macAddress', value: '0a:98:eb:a7:29:ba' },
            { name: 'privateDnsName', value: 'ip-10-0-1-5.eu-west-1.compute.internal' },
            { name: 'privateIPv4Address', value: '10.0.1.5' },
          ],
        },
      ],
      attributes: [{ name: 'ecs.cpu-architecture', value: 'x86_64' }],
      availabilityZone: 'eu-west-1b',
      capacityProviderName: 'FARGATE_SPOT',
      clusterArn: CLUSTER_ARN,
      connectivity: 'CONNECTED',
      connectivityAt: '2026-11-21T10:00:41.262Z',
      containers: [
        {
          containerArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:container/dormouse/5f0c1d2e3b4a4c6e8f1a2b3c4d5e6f70/6d6c2ef2-0e3f-4b4b-9d4e-0a1b2c3d4e5f`,
          lastStatus: 'RUNNING',
          name: 'app',
          image: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/dormouse-demo:1.4.0`,
          runtimeId: '5f0c1d2e3b4a4c6e8f1a2b3c4d5e6f70-2531612879',
          taskArn: TASK_ARN,
          networkInterfaces: [{ attachmentId: '1789bcae-ddfb-4d10-8ebe-8ac87ddba5b8', privateIpv4Address: '10.0.1.5' }],
          cpu: '0',
        },
      ],
      cpu: '256',
      createdAt: '2026-11-21T10:00:37.832Z',
      desiredStatus: 'RUNNING',
      enableExecuteCommand: false,
      ephemeralStorage: { sizeInGiB: 20 },
      group: 'tenant:acme',
      launchType: 'FARGATE',
      lastStatus: 'RUNNING',
      memory: '512',
      overrides: {
        containerOverrides: [
          {
            name: 'app',
            environment: [
              { name: 'TENANT_ID', value: 'acme' },
              { name: 'TENANT_HOST', value: 'acme.trials.example.com' },
            ],
          },
        ],
      },
      platformVersion: '1.4.0',
      pullStartedAt: '2026-11-21T10:00:52.114Z',
      pullStoppedAt: '2026-11-21T10:01:05.927Z',
      startedAt: '2026-11-21T10:01:12.406Z',
      startedBy: 'dm/acme',
      taskArn: TASK_ARN,
      taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/dormouse-tenant:7`,
      updatedAt: '2026-11-21T10:01:12.406Z',
      version: 3,
      ...detail,
    },
  } as unknown as TaskStateChangeEvent;
}

/** A "Tenant Changed" event as the stream publisher puts it on the dormouse bus. */
function tenantChanged(detail: Record<string, unknown>) {
  return {
    version: '0',
    id: 'b1c2d3e4-5f60-4a7b-8c9d-0e1f2a3b4c5d',
    'detail-type': 'Tenant Changed',
    source: 'dormouse',
    account: ACCOUNT,
    time: '2026-11-21T10:00:00Z',
    region: REGION,
    resources: [],
    detail,
  } as unknown as TenantEvent;
}

describe('task events handler', () => {
  async function setUp(task: Partial<TaskStatus> = {}): Promise<{ store: DynamoDbTenantStore; recorded: Tenant }> {
    const tables = await createTestTables();
    const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
    const created = await store.create(
      newTenant({
        slug: 'acme',
        email: 'ann@acme.test',
        plan: 'trial',
        tokenHash: '0'.repeat(64),
        now: new Date('2026-11-21T10:00:00Z'),
        trialDays: 14,
      }),
      { maxTenants: 100 },
    );
    const recorded = await store.save({
      ...created,
      status: {
        ...created.status,
        phase: 'Provisioning',
        slot: true,
        task: { arn: TASK_ARN, capacityProvider: 'FARGATE_SPOT', lastStatus: 'PENDING', eventVersion: 2, ...task },
      },
    });
    return { store, recorded };
  }

  it('keeps what the task was started as, which task events cannot say (they carry no tags)', async () => {
    // Prepare
    const launchedAs = { plan: 'pro', revision: '0123456789ab', environment: 'abcdefabcdef' };
    const { store } = await setUp({ launchedAs });
    const handler = createTaskEventsHandler({ store }, silent('dormouse-task-events'));

    // Act
    await handler(taskStateChange(), localLambdaContext('dormouse-task-events', REQUEST_ID, 3_000));

    // Assess
    expect((await store.get('acme'))!.status.task).toMatchObject({ lastStatus: 'RUNNING', eventVersion: 3, launchedAs });
  });

  it('records what an ECS Task State Change says about the tenant task', async () => {
    // Prepare
    const { store, recorded } = await setUp();
    const handler = createTaskEventsHandler({ store }, silent('dormouse-task-events'));

    // Act
    const before = Date.now();
    const outcome = await handler(taskStateChange(), localLambdaContext('dormouse-task-events', REQUEST_ID, 3_000));

    // Assess
    expect(outcome).toBe('applied');
    const after = (await store.get('acme'))!;
    // When ECS last spoke of the task: the reconciler takes the record's word for a while after it.
    expect(Date.parse(after.status.task!.seenAt!)).toBeGreaterThanOrEqual(before);
    expect(after.status.task).toEqual({
      seenAt: after.status.task!.seenAt,
      arn: TASK_ARN,
      capacityProvider: 'FARGATE_SPOT',
      lastStatus: 'RUNNING',
      ip: '10.0.1.5',
      eventVersion: 3,
      startedAt: '2026-11-21T10:01:12.406Z',
      size: { cpu: 256, memory: 512 },
    });
    expect(after.version).toBe(recorded.version + 1);
    // Its running time is metered from when ECS says it started, at the size ECS says it runs at.
    expect(after.usage?.meter?.running).toEqual({ task: TASK_ARN, meter: 'spot:256:512', since: '2026-11-21T10:01:12.406Z' });
  });

  it('ignores a task that is not a tenant’s', async () => {
    // Prepare
    const { store, recorded } = await setUp();
    const handler = createTaskEventsHandler({ store }, silent('dormouse-task-events'));

    // Act
    const outcome = await handler(
      taskStateChange({ group: 'family:dormouse-wake' }),
      localLambdaContext('dormouse-task-events', REQUEST_ID, 3_000),
    );

    // Assess
    expect(outcome).toBe('not-a-tenant');
    expect((await store.get('acme'))!.version).toBe(recorded.version);
  });

  it('rejects an event without detail.version before touching the record', async () => {
    // Prepare
    const { store, recorded } = await setUp();
    const handler = createTaskEventsHandler({ store }, silent('dormouse-task-events'));
    const malformed = taskStateChange();
    delete (malformed.detail as Record<string, unknown>).version;

    // Act
    const invocation = handler(malformed, localLambdaContext('dormouse-task-events', REQUEST_ID, 3_000));

    // Assess
    await expect(invocation).rejects.toBeInstanceOf(ParseError);
    expect((await store.get('acme'))!.version).toBe(recorded.version);
  });
});

describe('reconcile handler', () => {
  it('reconciles the tenant a Tenant Changed event names and hands back a requeue instead of waiting inline', async () => {
    // Prepare
    const world = await createWorld();
    await world.signUp('acme');
    const handler = createReconcileHandler(world.deps, silent('dormouse-reconcile'));
    const event = tenantChanged({ tenantId: 'acme', phase: 'Pending', desired: 'running', generation: 1, observedGeneration: 0 });

    // Act: with little time left, the handler must not wait inline for the task to start.
    const result = await handler(event, localLambdaContext('dormouse-reconcile', REQUEST_ID, 1_000));

    // Assess
    expect(result).toEqual({ phase: 'Provisioning', requeueAfterMs: world.settings.pollMs });
    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status.phase).toBe('Provisioning');
    expect(tenant.status.slot).toBe(true);
    expect(tenant.status.task).toMatchObject({ capacityProvider: 'FARGATE_SPOT' });
    expect(tenant.lease).toBeUndefined();
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(1);
    // One reconcile round only: the wait for the task to start was not spent inline.
    expect(world.cloud.countCalls('RunTask')).toBe(1);
    expect(world.cloud.countCalls('DescribeTasks')).toBe(1);
  });

  it('watches the tenant through its short waits, while another invocation for it leaves it alone', async () => {
    // Prepare: short polls, and a cloud that moves on while the first invocation sleeps.
    const world = await createWorld({ settings: { pollMs: 20 } });
    await world.signUp('acme');
    const handler = createReconcileHandler(world.deps, silent('dormouse-reconcile'));
    const event = tenantChanged({ tenantId: 'acme', phase: 'Pending', desired: 'running', generation: 1, observedGeneration: 0 });
    const moving = setInterval(() => {
      world.cloud.tick();
      world.clock.advance(100);
    }, 10);

    try {
      // Act
      const first = handler(event, localLambdaContext('dormouse-reconcile', 'first-invocation', 90_000));
      await vi.waitFor(async () => expect((await world.store.get('acme'))?.lease?.owner).toBe('first-invocation'));
      const second = await handler(event, localLambdaContext('dormouse-reconcile', 'second-invocation', 90_000));
      const firstResult = await first;

      // Assess: the second read the record, saw the watch and left; the first saw it through.
      expect(second).toEqual({});
      expect(firstResult).toEqual({ phase: 'Running' });
      const tenant = (await world.store.get('acme'))!;
      expect(tenant.status.phase).toBe('Running');
      expect(tenant.lease).toBeUndefined();
      expect(world.cloud.countCalls('RunTask')).toBe(1);
      expect(world.cloud.rules.size).toBe(1);
    } finally {
      clearInterval(moving);
    }
  });

  it('records a refusal of AWS on the tenant and returns, rather than failing the invocation toward the dead-letter queue', async () => {
    // Prepare
    const world = await createWorld({ cloud: { fault: (operation) => (operation === 'DescribeTasks' ? 'deny' : undefined) } });
    await world.signUp('acme');
    const handler = createReconcileHandler(world.deps, silent('dormouse-reconcile'));
    const event = tenantChanged({ tenantId: 'acme', phase: 'Pending', desired: 'running', generation: 1, observedGeneration: 0 });

    // Act
    const result = await handler(event, localLambdaContext('dormouse-reconcile', REQUEST_ID, 1_000));

    // Assess: counted as a failed attempt, to be tried again after the backoff.
    const tenant = (await world.store.get('acme'))!;
    expect(result).toEqual({ phase: 'Pending', requeueAfterMs: Date.parse(tenant.status.retryAt!) - world.clock.now().getTime() });
    expect(tenant.status).toMatchObject({ phase: 'Pending', attempts: 1, lastErrorCategory: 'platform' });
    expect(tenant.status.lastError).toMatch(/not allowed to call DescribeTasks/);
    expect(tenant.lease).toBeUndefined();
  });

  it('rejects an event that names no tenant without touching AWS', async () => {
    // Prepare
    const world = await createWorld();
    await world.signUp('acme');
    const handler = createReconcileHandler(world.deps, silent('dormouse-reconcile'));

    // Act
    const invocation = handler(
      tenantChanged({ phase: 'Pending', desired: 'running' }),
      localLambdaContext('dormouse-reconcile', REQUEST_ID, 1_000),
    );

    // Assess
    await expect(invocation).rejects.toBeInstanceOf(ParseError);
    expect(world.cloud.calls).toEqual([]);
    expect((await world.store.get('acme'))!.status.phase).toBe('Pending');
  });
});
