import { beforeEach, describe, expect, it } from 'vitest';
import 'aws-sdk-client-mock-vitest/extend';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeTasksCommand,
  ECSClient,
  ECSServiceException,
  InvalidParameterException,
  ListTasksCommand,
  RunTaskCommand,
  ServerException,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import type { ListTasksCommandInput, RunTaskCommandInput, Task } from '@aws-sdk/client-ecs';
import { ClientTokenError, EcsCompute, toObservedTask } from '../../shared/adapters/aws/ecs-compute.js';
import { INSTALLATION_TAG, LAUNCHED_AS_TAG, TENANT_TAG, startedBy } from '../../shared/adapters/common/names.js';
import type { CapacityProvider } from '../../shared/domain/tenant.js';
import { TRIAL_LAUNCH } from '../support/launch.js';

const CLUSTER = 'dormouse-tenants';
const TASK_DEFINITION = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/tenant-app:7';
const SUBNETS = ['subnet-a', 'subnet-b'];
const SECURITY_GROUPS = ['sg-tenants'];
const CAPACITY_WORDING = 'Capacity is unavailable at this time. Please try again later or in a different availability zone';

const ecs = mockClient(ECSClient);
/** TRIAL_LAUNCH's tag value: plan, revision, environment digest. */
const TRIAL_TAG = `trial/${TRIAL_LAUNCH.launchedAs.revision}/${TRIAL_LAUNCH.launchedAs.environment}`;
const INSTALLATION = 'prod';

function compute(options: { client?: ECSClient; assignPublicIp?: boolean; planTaskDefinitions?: Record<string, string> } = {}): EcsCompute {
  return new EcsCompute({
    client: options.client ?? new ECSClient({ region: 'eu-west-1' }),
    installation: INSTALLATION,
    cluster: CLUSTER,
    taskDefinition: TASK_DEFINITION,
    containerName: 'app',
    subnets: SUBNETS,
    securityGroups: SECURITY_GROUPS,
    ...(options.assignPublicIp === undefined ? {} : { assignPublicIp: options.assignPublicIp }),
    ...(options.planTaskDefinitions ? { planTaskDefinitions: options.planTaskDefinitions } : {}),
  });
}

function arn(id: string): string {
  return `arn:aws:ecs:eu-west-1:123456789012:task/${CLUSTER}/${id}`;
}

/** Both owner tags, as RunTask sets them. */
function owner(tenant: string, installation = INSTALLATION): Task['tags'] {
  return [
    { key: TENANT_TAG, value: tenant },
    { key: INSTALLATION_TAG, value: installation },
  ];
}

function ecsTask(id: string, fields: Partial<Task> = {}): Task {
  return {
    taskArn: arn(id),
    group: 'tenant:acme',
    tags: owner('acme'),
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    capacityProviderName: 'FARGATE_SPOT',
    ...fields,
  };
}

function eni(ip: string): Task['attachments'] {
  return [
    {
      id: 'attachment-1',
      type: 'ElasticNetworkInterface',
      status: 'ATTACHED',
      details: [
        { name: 'subnetId', value: 'subnet-a' },
        { name: 'networkInterfaceId', value: 'eni-0abc' },
        { name: 'privateIPv4Address', value: ip },
      ],
    },
  ];
}

/** The matchers take an indexable object; the SDK's input interfaces have no index signature. */
type Request<T> = T & Record<string, unknown>;

function expectedRunTask(
  capacityProvider: CapacityProvider,
  assignPublicIp: 'DISABLED' | 'ENABLED' = 'DISABLED',
): Request<RunTaskCommandInput> {
  return {
    cluster: CLUSTER,
    taskDefinition: TASK_DEFINITION,
    count: 1,
    capacityProviderStrategy: [{ capacityProvider, weight: 1 }],
    clientToken: 'acme-gen-3-attempt-1',
    startedBy: 'dm/prod/acme',
    group: 'tenant:acme',
    networkConfiguration: { awsvpcConfiguration: { subnets: SUBNETS, securityGroups: SECURITY_GROUPS, assignPublicIp } },
    overrides: {
      cpu: '256',
      memory: '512',
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
    tags: [...owner('acme')!, { key: LAUNCHED_AS_TAG, value: TRIAL_TAG }],
    enableECSManagedTags: true,
    propagateTags: 'TASK_DEFINITION',
  };
}

function runRequest(capacityProvider: CapacityProvider = 'FARGATE_SPOT', clientToken = 'acme-gen-3-attempt-1') {
  return { tenantId: 'acme', host: 'acme.trials.example.com', clientToken, capacityProvider, ...TRIAL_LAUNCH };
}

beforeEach(() => {
  ecs.reset();
});

describe('EcsCompute.runTask', () => {
  it.each<CapacityProvider>(['FARGATE_SPOT', 'FARGATE'])(
    'sends exactly one RunTask on %s naming the tenant, its host, the token and the network, with no launch type',
    async (capacityProvider) => {
      // Prepare
      ecs.on(RunTaskCommand).resolves({
        tasks: [ecsTask('t-1', { lastStatus: 'PROVISIONING', capacityProviderName: capacityProvider })],
        failures: [],
      });

      // Act
      const result = await compute().runTask(runRequest(capacityProvider));

      // Assess
      const expected = expectedRunTask(capacityProvider);
      expect(ecs).toHaveReceivedCommandExactlyOnceWith(RunTaskCommand, expected);
      // The matcher only checks the keys it is given; this proves nothing else was sent.
      const sent = ecs.commandCalls(RunTaskCommand)[0]?.args[0].input;
      expect(sent).toStrictEqual(expected);
      expect(sent).not.toHaveProperty('launchType');
      expect(result).toEqual({
        started: true,
        task: {
          arn: arn('t-1'),
          tenantId: 'acme',
          lastStatus: 'PROVISIONING',
          desiredStatus: 'RUNNING',
          capacityProvider,
          launchedAs: TRIAL_LAUNCH.launchedAs,
        },
      });
    },
  );

  it("starts a plan's size and environment, the tenant's over the plan's and the platform's over both, tagged with what it was started as", async () => {
    // Prepare
    ecs.on(RunTaskCommand).resolves({ tasks: [ecsTask('t-1')] });
    const launchedAs = { plan: 'pro', revision: 'aaaaaaaaaaaa', environment: 'bbbbbbbbbbbb' };

    // Act
    await compute().runTask({
      ...runRequest('FARGATE'),
      plan: 'pro',
      cpu: 1024,
      memory: 2048,
      environment: { GREETING: 'hello', TENANT_ID: 'someone-else' },
      launchedAs,
    });

    // Assess
    expect(ecs.commandCalls(RunTaskCommand)[0]?.args[0].input).toStrictEqual({
      ...expectedRunTask('FARGATE'),
      overrides: {
        cpu: '1024',
        memory: '2048',
        containerOverrides: [
          {
            name: 'app',
            environment: [
              { name: 'GREETING', value: 'hello' },
              { name: 'TENANT_ID', value: 'acme' },
              { name: 'TENANT_HOST', value: 'acme.trials.example.com' },
            ],
          },
        ],
      },
      tags: [...owner('acme')!, { key: LAUNCHED_AS_TAG, value: 'pro/aaaaaaaaaaaa/bbbbbbbbbbbb' }],
    });
  });

  it("runs a plan's own task definition when it has one, and the installation's for the other plans", async () => {
    // Prepare
    const proDefinition = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/tenant-app-pro:3';
    ecs.on(RunTaskCommand).resolves({ tasks: [ecsTask('t-1')] });
    const withPlans = compute({ planTaskDefinitions: { pro: proDefinition } });

    // Act
    await withPlans.runTask({ ...runRequest('FARGATE', 'pro-1'), plan: 'pro' });
    await withPlans.runTask(runRequest('FARGATE_SPOT', 'trial-1'));

    // Assess
    expect(ecs.commandCalls(RunTaskCommand).map((call) => call.args[0].input.taskDefinition)).toEqual([proDefinition, TASK_DEFINITION]);
  });

  it('refuses to tag a task with a launch that is not a plan name and two digests, before calling ECS', async () => {
    await expect(
      compute().runTask({ ...runRequest(), launchedAs: { plan: 'Trial Plan', revision: 'x', environment: 'y' } }),
    ).rejects.toThrow(RangeError);
    expect(ecs).not.toHaveReceivedCommand(RunTaskCommand);
  });

  it("runs the tenant's own task definition when given one as its volume, with nothing else changed", async () => {
    // Prepare
    const tenantTaskDefinition = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/dm-prod-acme:2';
    ecs.on(RunTaskCommand).resolves({ tasks: [ecsTask('t-1')] });

    // Act
    await compute().runTask({ ...runRequest(), volume: tenantTaskDefinition });

    // Assess
    expect(ecs.commandCalls(RunTaskCommand)[0]?.args[0].input).toStrictEqual({
      ...expectedRunTask('FARGATE_SPOT'),
      taskDefinition: tenantTaskDefinition,
    });
  });

  it('asks for a public IP only when configured to', async () => {
    ecs.on(RunTaskCommand).resolves({ tasks: [ecsTask('t-1')] });

    await compute({ assignPublicIp: true }).runTask(runRequest());

    expect(ecs).toHaveReceivedCommandExactlyOnceWith(RunTaskCommand, expectedRunTask('FARGATE_SPOT', 'ENABLED'));
  });

  it('reports no Spot capacity as a refusal the caller can fall back from, in ECS own words', async () => {
    ecs.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason: CAPACITY_WORDING }] });

    const result = await compute().runTask(runRequest());

    expect(result).toEqual({ started: false, capacityUnavailable: true, reason: expect.stringContaining(CAPACITY_WORDING) });
    if (result.started) throw new Error('unreachable');
    expect(result.reason).toMatch(/^ECS did not start a FARGATE_SPOT task for tenant "acme": .*\.$/);
  });

  it.each([
    { reason: 'MISSING', detail: 'The task definition was not found' },
    { reason: 'AGENT', detail: undefined },
  ])('reports a $reason failure as a refusal that is not about capacity', async (failure) => {
    ecs.on(RunTaskCommand).resolves({ tasks: [], failures: [{ arn: TASK_DEFINITION, ...failure }] });

    const result = await compute().runTask(runRequest());

    expect(result).toEqual({ started: false, capacityUnavailable: false, reason: expect.stringContaining(failure.reason) });
    if (failure.detail) expect(result).toMatchObject({ reason: expect.stringContaining(failure.detail) });
  });

  it('rejects a client token longer than 64 characters before calling ECS', async () => {
    ecs.on(RunTaskCommand).resolves({ tasks: [ecsTask('t-1')] });

    await expect(compute().runTask(runRequest('FARGATE_SPOT', 'x'.repeat(65)))).rejects.toThrow(ClientTokenError);
    await expect(compute().runTask(runRequest('FARGATE_SPOT', 'x'.repeat(65)))).rejects.toThrow(/clientToken must be 1 to 64/);
    expect(ecs).not.toHaveReceivedCommand(RunTaskCommand);
  });

  it('accepts a client token of exactly 64 characters', async () => {
    ecs.on(RunTaskCommand).resolves({ tasks: [ecsTask('t-1')] });

    await compute().runTask(runRequest('FARGATE_SPOT', 'x'.repeat(64)));

    expect(ecs).toHaveReceivedCommandWith(RunTaskCommand, { clientToken: 'x'.repeat(64) });
  });

  it('lets throttling that outlasts the client retries reach the caller', async () => {
    // maxAttempts 1: the SDK's retry strategy gives up at once, so the test does not sleep.
    const client = new ECSClient({ region: 'eu-west-1', maxAttempts: 1 });
    const throttled = new ECSServiceException({
      name: 'ThrottlingException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'Rate exceeded',
    });
    ecs.on(RunTaskCommand).rejects(throttled);

    await expect(compute({ client }).runTask(runRequest())).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(ecs).toHaveReceivedCommandOnce(RunTaskCommand);
  });
});

describe('EcsCompute.tenantTasks', () => {
  /** Two pages of tasks listed by startedBy; there is no listing of stopping tasks any more. */
  const listings: Record<string, { taskArns: string[]; nextToken?: string }> = {
    '': { taskArns: [arn('running-spot')], nextToken: 'page-2' },
    'page-2': { taskArns: [arn('provisioning-on-demand')] },
  };

  it('lists by startedBy alone, page by page, and describes the listed and the recorded tasks with their tags in one call', async () => {
    // Prepare
    ecs.on(ListTasksCommand).callsFake((input: ListTasksCommandInput) => listings[input.nextToken ?? ''] ?? { taskArns: [] });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        ecsTask('running-spot', { attachments: eni('10.0.1.23'), startedAt: new Date('2025-06-01T12:00:05.000Z') }),
        ecsTask('provisioning-on-demand', { lastStatus: 'PROVISIONING', capacityProviderName: 'FARGATE' }),
        // Recorded and on its way out after a Spot interruption: ListTasks no longer lists it.
        ecsTask('spot-interrupted', {
          desiredStatus: 'STOPPED',
          stopCode: 'TerminationNotice',
          stoppedReason: 'Your Spot Task was interrupted.',
          attachments: eni('10.0.1.42'),
        }),
        ecsTask('stopped-known', {
          lastStatus: 'STOPPED',
          desiredStatus: 'STOPPED',
          capacityProviderName: undefined,
          stopCode: 'TaskFailedToStart',
          stoppedReason: 'Task failed to start',
          containers: [{ name: 'app', reason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)' }],
        }),
      ],
      // A known task stopped long ago is no longer remembered by ECS.
      failures: [{ arn: arn('aged-out'), reason: 'MISSING' }],
    });

    // Act
    const tasks = await compute().tenantTasks('acme', [
      arn('spot-interrupted'),
      arn('stopped-known'),
      arn('running-spot'),
      arn('aged-out'),
    ]);

    // Assess: startedBy is the only filter, as the ECS API reference requires.
    expect(ecs.commandCalls(ListTasksCommand).map((call) => call.args[0].input)).toStrictEqual([
      { cluster: CLUSTER, startedBy: 'dm/prod/acme' },
      { cluster: CLUSTER, startedBy: 'dm/prod/acme', nextToken: 'page-2' },
    ]);
    expect(ecs.commandCalls(DescribeTasksCommand).map((call) => call.args[0].input)).toStrictEqual([
      {
        cluster: CLUSTER,
        tasks: [arn('running-spot'), arn('provisioning-on-demand'), arn('spot-interrupted'), arn('stopped-known'), arn('aged-out')],
        include: ['TAGS'],
      },
    ]);
    expect(tasks).toEqual([
      {
        arn: arn('running-spot'),
        tenantId: 'acme',
        lastStatus: 'RUNNING',
        desiredStatus: 'RUNNING',
        capacityProvider: 'FARGATE_SPOT',
        ip: '10.0.1.23',
        startedAt: '2025-06-01T12:00:05.000Z',
      },
      {
        arn: arn('provisioning-on-demand'),
        tenantId: 'acme',
        lastStatus: 'PROVISIONING',
        desiredStatus: 'RUNNING',
        capacityProvider: 'FARGATE',
      },
      {
        arn: arn('spot-interrupted'),
        tenantId: 'acme',
        lastStatus: 'RUNNING',
        desiredStatus: 'STOPPED',
        capacityProvider: 'FARGATE_SPOT',
        ip: '10.0.1.42',
        stopCode: 'TerminationNotice',
        stoppedReason: 'Your Spot Task was interrupted.',
      },
      {
        arn: arn('stopped-known'),
        tenantId: 'acme',
        lastStatus: 'STOPPED',
        desiredStatus: 'STOPPED',
        capacityProvider: 'FARGATE',
        stopCode: 'TaskFailedToStart',
        stoppedReason: 'Task failed to start',
        containerReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
      },
    ]);
  });

  it('reads what each task was started as from its tag, and nothing from a tag that does not read as one', async () => {
    // Prepare
    ecs.on(ListTasksCommand).resolves({ taskArns: [arn('pro'), arn('before-plans'), arn('hand-tagged')] });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        ecsTask('pro', { tags: [...owner('acme')!, { key: LAUNCHED_AS_TAG, value: 'pro/0123456789ab/abcdefabcdef' }] }),
        ecsTask('before-plans'),
        ecsTask('hand-tagged', { tags: [...owner('acme')!, { key: LAUNCHED_AS_TAG, value: 'pro' }] }),
      ],
    });

    // Act
    const tasks = await compute().tenantTasks('acme', []);

    // Assess
    expect(tasks.map((task) => [task.arn, task.launchedAs])).toEqual([
      [arn('pro'), { plan: 'pro', revision: '0123456789ab', environment: 'abcdefabcdef' }],
      [arn('before-plans'), undefined],
      [arn('hand-tagged'), undefined],
    ]);
  });

  it('ignores listed tasks of another tenant or installation, or without tags, even in the same group', async () => {
    ecs.on(ListTasksCommand).resolves({ taskArns: [arn('mine'), arn('theirs'), arn('stage'), arn('untagged'), arn('other-group')] });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        ecsTask('mine'),
        ecsTask('theirs', { tags: owner('acme-other') }),
        ecsTask('stage', { tags: owner('acme', 'stage') }),
        ecsTask('untagged', { tags: [] }),
        ecsTask('other-group', { group: 'tenant:acme-other', tags: owner('acme-other') }),
      ],
    });

    const tasks = await compute().tenantTasks('acme', []);

    expect(tasks.map((task) => task.arn)).toEqual([arn('mine')]);
  });

  it('gives the two slugs that once collided a startedBy of their own, each the only filter', async () => {
    ecs.on(ListTasksCommand).resolves({ taskArns: [] });

    await compute().tenantTasks('acme-corporation-production-trial-env', []);
    await compute().tenantTasks('acme-corporation-productionzodudz6aaa', []);

    const filters = ecs.commandCalls(ListTasksCommand).map((call) => call.args[0].input);
    expect(filters).toStrictEqual([
      { cluster: CLUSTER, startedBy: startedBy(INSTALLATION, 'acme-corporation-production-trial-env') },
      { cluster: CLUSTER, startedBy: startedBy(INSTALLATION, 'acme-corporation-productionzodudz6aaa') },
    ]);
    expect(filters[0]?.startedBy).not.toBe(filters[1]?.startedBy);
  });

  it('makes one ListTasks call and no DescribeTasks call when the tenant has no task and none is known', async () => {
    ecs.on(ListTasksCommand).resolves({ taskArns: [] });

    const tasks = await compute().tenantTasks('acme', []);

    expect(tasks).toEqual([]);
    expect(ecs).toHaveReceivedCommandTimes(ListTasksCommand, 1);
    expect(ecs).not.toHaveReceivedCommand(DescribeTasksCommand);
  });

  it('describes at most 100 tasks per call', async () => {
    const many = Array.from({ length: 150 }, (_, i) => arn(`t-${i}`));
    ecs.on(ListTasksCommand).resolves({ taskArns: many });
    ecs.on(DescribeTasksCommand).callsFake(({ tasks }: { tasks: string[] }) => ({
      tasks: tasks.map((taskArn) => ({ ...ecsTask('x'), taskArn })),
    }));

    const tasks = await compute().tenantTasks('acme', []);

    expect(tasks).toHaveLength(150);
    expect(ecs).toHaveReceivedCommandTimes(DescribeTasksCommand, 2);
    expect(ecs).toHaveReceivedNthCommandWith(DescribeTasksCommand, 1, { cluster: CLUSTER, tasks: many.slice(0, 100), include: ['TAGS'] });
    expect(ecs).toHaveReceivedNthCommandWith(DescribeTasksCommand, 2, { cluster: CLUSTER, tasks: many.slice(100), include: ['TAGS'] });
  });

  it('fails when ECS cannot describe a task for a reason other than its having aged out', async () => {
    ecs.on(ListTasksCommand).resolves({ taskArns: [] });
    ecs.on(DescribeTasksCommand).resolves({ tasks: [], failures: [{ arn: arn('known'), reason: 'INTERNAL ERROR' }] });

    await expect(compute().tenantTasks('acme', [arn('known')])).rejects.toThrow(/INTERNAL ERROR/);
  });
});

describe('EcsCompute.stopTask', () => {
  it('sends the reason cut to the 255 characters ECS keeps', async () => {
    ecs.on(StopTaskCommand).resolves({});
    const reason = `Passivated after 30 minutes idle. ${'z'.repeat(300)}`;

    await compute().stopTask(arn('t-1'), reason);

    expect(ecs).toHaveReceivedCommandExactlyOnceWith(StopTaskCommand, {
      cluster: CLUSTER,
      task: arn('t-1'),
      reason: reason.slice(0, 255),
    });
    expect(ecs.commandCalls(StopTaskCommand)[0]?.args[0].input.reason).toHaveLength(255);
  });

  it('treats a task ECS no longer knows as already stopped', async () => {
    ecs.on(StopTaskCommand).rejects(new InvalidParameterException({ message: 'The referenced task was not found.', $metadata: {} }));

    await expect(compute().stopTask(arn('gone'), 'deleted')).resolves.toBeUndefined();
  });

  it.each([
    new InvalidParameterException({ message: 'Invalid identifier: Unexpected number of separators', $metadata: {} }),
    new ServerException({ message: 'Internal error', $metadata: {} }),
  ])('rethrows any other error ($name)', async (error) => {
    ecs.on(StopTaskCommand).rejects(error);

    await expect(compute().stopTask(arn('t-1'), 'deleted')).rejects.toBe(error);
  });
});

describe('EcsCompute.allTenantTasks', () => {
  it("lists every running task of the cluster and keeps only this installation's tenant tasks", async () => {
    ecs
      .on(ListTasksCommand)
      .resolvesOnce({ taskArns: [arn('acme-task'), arn('platform-task')], nextToken: 'page-2' })
      .resolvesOnce({ taskArns: [arn('globex-task'), arn('stage-task'), arn('untagged-task')] });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        ecsTask('acme-task'),
        ecsTask('platform-task', { group: 'service:wake-proxy' }),
        ecsTask('globex-task', { group: 'tenant:globex', capacityProviderName: 'FARGATE', tags: owner('globex') }),
        // Another installation's task, and one from before tags: never offered for removal.
        ecsTask('stage-task', { group: 'tenant:initech', tags: owner('initech', 'stage') }),
        ecsTask('untagged-task', { group: 'tenant:hooli', tags: [] }),
      ],
    });

    const tasks = await compute().allTenantTasks();

    expect(ecs).toHaveReceivedNthCommandWith(ListTasksCommand, 1, { cluster: CLUSTER, desiredStatus: 'RUNNING' });
    expect(ecs).toHaveReceivedNthCommandWith(ListTasksCommand, 2, { cluster: CLUSTER, desiredStatus: 'RUNNING', nextToken: 'page-2' });
    expect(ecs.commandCalls(ListTasksCommand)[0]?.args[0].input).toStrictEqual({ cluster: CLUSTER, desiredStatus: 'RUNNING' });
    expect(ecs).toHaveReceivedCommandExactlyOnceWith(DescribeTasksCommand, {
      cluster: CLUSTER,
      tasks: [arn('acme-task'), arn('platform-task'), arn('globex-task'), arn('stage-task'), arn('untagged-task')],
      include: ['TAGS'],
    });
    expect(tasks.map((task) => [task.tenantId, task.arn])).toEqual([
      ['acme', arn('acme-task')],
      ['globex', arn('globex-task')],
    ]);
  });
});

describe('toObservedTask', () => {
  it('reads the detail of an ECS Task State Change event, whose dates are strings and whose ENI type is "eni"', () => {
    const detail = {
      taskArn: arn('t-9'),
      group: 'tenant:acme',
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      capacityProviderName: 'FARGATE_SPOT',
      attachments: [{ id: 'a-1', type: 'eni', status: 'DELETED', details: [{ name: 'privateIPv4Address', value: '10.0.2.7' }] }],
      stopCode: 'SpotInterruption',
      stoppedReason: 'Your Spot Task was interrupted.',
      containers: [{ name: 'app', exitCode: 137, lastStatus: 'STOPPED' }],
      startedAt: '2025-06-01T12:00:05.000Z',
      version: 5,
    };

    expect(toObservedTask(detail)).toEqual({
      arn: arn('t-9'),
      tenantId: 'acme',
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      capacityProvider: 'FARGATE_SPOT',
      ip: '10.0.2.7',
      stopCode: 'SpotInterruption',
      stoppedReason: 'Your Spot Task was interrupted.',
      exitCode: 137,
      startedAt: '2025-06-01T12:00:05.000Z',
    });
  });

  it('reads the size the task runs at, overrides applied, from the strings ECS gives; none when it gives none', () => {
    expect(toObservedTask(ecsTask('sized', { cpu: '1024', memory: '2048' }))?.size).toEqual({ cpu: 1024, memory: 2048 });
    expect(toObservedTask(ecsTask('unsized', {}))).not.toHaveProperty('size');
  });

  it('returns nothing for a task that is not a tenant task', () => {
    expect(toObservedTask(ecsTask('svc', { group: 'service:web' }))).toBeUndefined();
    expect(toObservedTask(ecsTask('bare', { group: undefined }))).toBeUndefined();
  });
});
