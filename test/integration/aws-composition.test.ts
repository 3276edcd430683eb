import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeTasksCommand, ECSClient, ListTasksCommand, RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import {
  DeleteRuleCommand,
  DeleteTargetGroupCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  type Rule,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { DynamoDbWakeTimes } from '../../shared/adapters/aws/dynamodb-wake-times.js';
import { reconcilerDeps } from '../../shared/adapters/aws/composition/reconcile.js';
import { streamPublisherDeps } from '../../shared/adapters/aws/composition/stream-publisher.js';
import { sweepDeps } from '../../shared/adapters/aws/composition/sweep.js';
import { taskEventsDeps } from '../../shared/adapters/aws/composition/task-events.js';
import { sweep } from '../../shared/app/sweep.js';
import { loadReconcilerConfig, loadStreamPublisherConfig, loadTaskEventsConfig, type Env } from '../../shared/config.js';
import { INSTALLATION_TAG, TENANT_TAG } from '../../shared/adapters/common/names.js';
import { costPrices } from '../../shared/domain/prices.js';
import { newTenant } from '../../shared/domain/tenant.js';
import { createTestTables } from '../support/dynamodb.js';
import { reconcilerEnv, TEST_LISTENER_ARN } from '../support/reconciler-env.js';
import { TRIAL_LAUNCH } from '../support/launch.js';

const cloudWatch = mockClient(CloudWatchClient);
const ecs = mockClient(ECSClient);
const elb = mockClient(ElasticLoadBalancingV2Client);
const eventBridge = mockClient(EventBridgeClient);

const LOAD_BALANCER = 'app/dormouse/50dc6c495c0c9188';
const TARGET_GROUP = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/dm-acme/6d0ecf831eec9f09';

const LISTENER = TEST_LISTENER_ARN;

beforeEach(() => {
  cloudWatch.reset();
  ecs.reset();
  elb.reset();
  eventBridge.reset();
});

describe('sweepDeps', () => {
  it('wires the sweep to the tenant table, CloudWatch on the configured load balancer, and the ECS and ELBv2 inventories', async () => {
    // Prepare: a tenant that has run, idle, for an hour; AWS answers with nothing else
    const tables = await createTestTables();
    const config = loadReconcilerConfig(reconcilerEnv({ DORMOUSE_TABLE_NAME: tables.tenantTable }));
    const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
    const anHourAgo = new Date(Date.now() - 3_600_000);
    const created = await store.create(
      newTenant({ slug: 'acme', email: 'ann@acme.test', plan: 'trial', tokenHash: '0'.repeat(64), now: anHourAgo, trialDays: 14 }),
      { maxTenants: 10 },
    );
    await store.save({ ...created, status: { ...created.status, phase: 'Running', observedGeneration: 1, targetGroupArn: TARGET_GROUP } });
    cloudWatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'q0', StatusCode: 'Complete', Values: [], Timestamps: [] }] });
    ecs.on(ListTasksCommand).resolves({ taskArns: [] });
    elb.on(DescribeRulesCommand).resolves({ Rules: [] });
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [] });
    const deps = sweepDeps(
      config,
      { loadBalancerFullName: LOAD_BALANCER },
      {
        dynamoClient: tables.client,
        ecsClient: new ECSClient({}),
        elbClient: new ElasticLoadBalancingV2Client({}),
        cloudWatchClient: new CloudWatchClient({}),
      },
    );

    // Act
    const report = await sweep(deps);

    // Assess
    expect(report).toMatchObject({ scanned: 1, passivated: 1, done: true });
    expect((await store.get('acme'))!.spec.desired).toBe('passivated');
    const [query] = cloudWatch.commandCalls(GetMetricDataCommand)[0]!.args[0].input.MetricDataQueries!;
    expect(query!.MetricStat!.Metric!.Dimensions).toEqual([
      { Name: 'TargetGroup', Value: 'targetgroup/dm-acme/6d0ecf831eec9f09' },
      { Name: 'LoadBalancer', Value: LOAD_BALANCER },
    ]);
    expect(ecs).toHaveReceivedCommandWith(ListTasksCommand, { cluster: 'dormouse', desiredStatus: 'RUNNING' });
    expect(ecs).not.toHaveReceivedCommand(DescribeTasksCommand);
    expect(elb).toHaveReceivedCommandWith(DescribeRulesCommand, { ListenerArn: config.elb.listenerArns[0] });
  });

  it("with a network threshold, reads the tenant cluster's task traffic in the same call and keeps a tenant up whose task was busy", async () => {
    // Prepare: a tenant that has run for an hour without a request, its task receiving a steady stream
    const tables = await createTestTables();
    const cluster = 'arn:aws:ecs:eu-west-1:111122223333:cluster/dormouse-tenants';
    const taskArn = 'arn:aws:ecs:eu-west-1:111122223333:task/dormouse-tenants/0123456789abcdef0123456789abcdef';
    const config = loadReconcilerConfig(reconcilerEnv({ DORMOUSE_TABLE_NAME: tables.tenantTable, DORMOUSE_CLUSTER: cluster }));
    const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
    const anHourAgo = new Date(Date.now() - 3_600_000);
    const created = await store.create(
      newTenant({ slug: 'acme', email: 'ann@acme.test', plan: 'trial', tokenHash: '0'.repeat(64), now: anHourAgo, trialDays: 14 }),
      { maxTenants: 10 },
    );
    await store.save({
      ...created,
      status: {
        ...created.status,
        phase: 'Running',
        observedGeneration: 1,
        targetGroupArn: TARGET_GROUP,
        task: { arn: taskArn, capacityProvider: 'FARGATE_SPOT', lastStatus: 'RUNNING', startedAt: anHourAgo.toISOString() },
      },
    });
    cloudWatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'network', Label: '0123456789abcdef0123456789abcdef', StatusCode: 'Complete', Values: [2_048, 1_900], Timestamps: [] },
        { Id: 'q0', StatusCode: 'Complete', Values: [], Timestamps: [] },
      ],
    });
    ecs.on(ListTasksCommand).resolves({ taskArns: [] });
    elb.on(DescribeRulesCommand).resolves({ Rules: [] });
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [] });
    const deps = sweepDeps(
      config,
      { loadBalancerFullName: LOAD_BALANCER, networkActivityBytesPerSecond: 256 },
      {
        dynamoClient: tables.client,
        ecsClient: new ECSClient({}),
        elbClient: new ElasticLoadBalancingV2Client({}),
        cloudWatchClient: new CloudWatchClient({}),
      },
    );

    // Act
    const report = await sweep(deps);

    // Assess
    expect(report).toMatchObject({ scanned: 1, active: 1, passivated: 0 });
    expect((await store.get('acme'))!.spec.desired).toBe('running');
    expect(cloudWatch.commandCalls(GetMetricDataCommand)).toHaveLength(1);
    const [network] = cloudWatch.commandCalls(GetMetricDataCommand)[0]!.args[0].input.MetricDataQueries!;
    expect(network!.Expression).toContain("WHERE ClusterName = 'dormouse-tenants' GROUP BY TaskId");
  });

  it("repairs drift only on this installation's resources: another installation's task, group and rule of a tenant it does not know are left alone", async () => {
    // Prepare: no tenant records; the cluster and the account hold resources of 'ghost' from
    // this installation and from another one ('stage'), plus an untagged task from before tags.
    const tables = await createTestTables();
    const config = loadReconcilerConfig(reconcilerEnv({ DORMOUSE_TABLE_NAME: tables.tenantTable }));
    const task = (id: string) => `arn:aws:ecs:eu-west-1:111122223333:task/dormouse/${id}`;
    const group = (name: string) => `arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/${name}/6d0ecf831eec9f09`;
    const rule = (id: string) => `${LISTENER.replace(':listener/', ':listener-rule/')}/${id}`;
    const tags = (installation: string) => [
      { key: TENANT_TAG, value: 'ghost' },
      { key: INSTALLATION_TAG, value: installation },
    ];
    ecs.on(ListTasksCommand).resolves({ taskArns: [task('ours'), task('stage'), task('untagged')] });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        { taskArn: task('ours'), group: 'tenant:ghost', lastStatus: 'RUNNING', desiredStatus: 'RUNNING', tags: tags('prod') },
        { taskArn: task('stage'), group: 'tenant:ghost', lastStatus: 'RUNNING', desiredStatus: 'RUNNING', tags: tags('stage') },
        { taskArn: task('untagged'), group: 'tenant:ghost', lastStatus: 'RUNNING', desiredStatus: 'RUNNING', tags: [] },
      ],
    });
    ecs.on(StopTaskCommand).resolves({});
    elb.on(DescribeTargetGroupsCommand).resolves({
      TargetGroups: [
        { TargetGroupArn: group('dm-prod-ghost'), TargetGroupName: 'dm-prod-ghost', VpcId: 'vpc-0abc' },
        { TargetGroupArn: group('dm-stage-ghost'), TargetGroupName: 'dm-stage-ghost', VpcId: 'vpc-0abc' },
      ],
    });
    const hostRule = (id: string, priority: number): Rule => ({
      RuleArn: rule(id),
      Priority: String(priority),
      Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: ['ghost.trials.example.com'] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: group('dm-prod-ghost') }],
    });
    elb.on(DescribeRulesCommand).resolves({ Rules: [hostRule('ours', 1), hostRule('stage', 2)] });
    elb.on(DescribeTagsCommand).callsFake(({ ResourceArns = [] }: { ResourceArns?: string[] }) => ({
      TagDescriptions: ResourceArns.map((arn) => ({
        ResourceArn: arn,
        Tags: tags(arn.endsWith('/stage') ? 'stage' : 'prod').map(({ key, value }) => ({ Key: key, Value: value })),
      })),
    }));
    elb.on(DeleteRuleCommand).resolves({});
    elb.on(DeleteTargetGroupCommand).resolves({});
    const deps = sweepDeps(
      config,
      { loadBalancerFullName: LOAD_BALANCER },
      {
        dynamoClient: tables.client,
        ecsClient: new ECSClient({}),
        elbClient: new ElasticLoadBalancingV2Client({}),
        cloudWatchClient: new CloudWatchClient({}),
      },
    );

    // Act
    const report = await sweep(deps);

    // Assess: exactly this installation's three resources are removed, and nothing else is touched.
    expect(report.repaired).toEqual({ tasks: 1, rules: 1, targetGroups: 1, storage: 0, tenants: 0 });
    expect(ecs.commandCalls(StopTaskCommand).map((call) => call.args[0].input.task)).toEqual([task('ours')]);
    expect(elb.commandCalls(DeleteRuleCommand).map((call) => call.args[0].input)).toEqual([{ RuleArn: rule('ours') }]);
    expect(elb.commandCalls(DeleteTargetGroupCommand).map((call) => call.args[0].input)).toEqual([
      { TargetGroupArn: group('dm-prod-ghost') },
    ]);
    // The other installation's group is not even looked at: its name is not this installation's.
    expect(elb.commandCalls(DescribeTagsCommand).flatMap((call) => call.args[0].input.ResourceArns ?? [])).not.toContain(
      group('dm-stage-ghost'),
    );
  });
});

describe('reconcilerDeps', () => {
  it('gives the reconciler the settings its configuration asks for', () => {
    const config = loadReconcilerConfig(reconcilerEnv({ DORMOUSE_MAX_RESTARTS: '5', DORMOUSE_HANDOVER: 'overlap' }));

    const { settings } = reconcilerDeps(config, { dynamoClient: new DynamoDBClient({}) });

    expect(settings).toMatchObject({ maxRestarts: 5, handover: 'overlap', persistentData: false, maxActiveTenants: 90 });
    expect(settings.hostFor('acme')).toBe('acme.trials.example.com');
  });

  it('records the wakes it ends in the configured tenant table, where the waking page reads its estimate', async () => {
    const tables = await createTestTables();
    const config = loadReconcilerConfig(reconcilerEnv({ DORMOUSE_TABLE_NAME: tables.tenantTable }));

    const { wakeTimes } = reconcilerDeps(config, { dynamoClient: tables.client });
    await wakeTimes!.record({ wokenAt: '2026-01-01T00:00:00.000Z', ms: 12_000 });

    const kept = new DynamoDbWakeTimes({ tableName: tables.tenantTable, client: tables.documentClient });
    expect(await kept.recent()).toEqual([{ wokenAt: '2026-01-01T00:00:00.000Z', ms: 12_000 }]);
  });

  it("paces the load balancer's Describe* calls to ELB's published rate: past a burst of 40, the next waits its turn", async () => {
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });
    const { routing } = reconcilerDeps(loadReconcilerConfig(reconcilerEnv()), {
      dynamoClient: new DynamoDBClient({}),
      elbClient: new ElasticLoadBalancingV2Client({}),
    });

    const started = Date.now();
    await Promise.all(Array.from({ length: 40 }, () => routing.targets(TARGET_GROUP)));
    const burstMs = Date.now() - started;
    await routing.targets(TARGET_GROUP);

    expect(burstMs).toBeLessThan(90);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(elb).toHaveReceivedCommandTimes(DescribeTargetHealthCommand, 41);
  });

  it("starts a plan with an image of its own on that plan's task definition", async () => {
    // Prepare
    const proDefinition = 'arn:aws:ecs:eu-west-1:111122223333:task-definition/dormouse-tenant-pro:4';
    const config = loadReconcilerConfig(reconcilerEnv({ DORMOUSE_PLAN_TASK_DEFINITIONS: JSON.stringify({ pro: proDefinition }) }));
    ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: 'arn:aws:ecs:eu-west-1:111122223333:task/dormouse/1', group: 'tenant:acme' }] });
    const { compute } = reconcilerDeps(config, { dynamoClient: new DynamoDBClient({}), ecsClient: new ECSClient({}) });

    // Act
    await compute.runTask({
      ...TRIAL_LAUNCH,
      tenantId: 'acme',
      host: 'acme.trials.example.com',
      clientToken: 'acme-g1-r1',
      capacityProvider: 'FARGATE',
      plan: 'pro',
    });

    // Assess
    expect(ecs).toHaveReceivedCommandWith(RunTaskCommand, { taskDefinition: proDefinition });
  });
});

describe('taskEventsDeps', () => {
  it('keeps actual state in the configured tenant table', async () => {
    const tables = await createTestTables();

    const { store } = taskEventsDeps(loadTaskEventsConfig({ DORMOUSE_TABLE_NAME: tables.tenantTable }), { dynamoClient: tables.client });

    const created = await new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient }).create(
      newTenant({ slug: 'acme', email: 'ann@acme.test', plan: 'trial', tokenHash: '0'.repeat(64), now: new Date(), trialDays: 14 }),
      { maxTenants: 10 },
    );
    expect(await store.get('acme')).toEqual(created);
  });
});

describe('streamPublisherDeps', () => {
  it('prices Tenant Usage at the rates of DORMOUSE_TASK_ARCHITECTURE, x86_64 when unset', () => {
    const env = { DORMOUSE_EVENT_BUS_NAME: 'dormouse-prod', DORMOUSE_TABLE_NAME: 'tenants' };

    expect(streamPublisherDeps(loadStreamPublisherConfig({ ...env, DORMOUSE_TASK_ARCHITECTURE: 'arm64' })).prices).toEqual(
      costPrices('arm64'),
    );
    expect(streamPublisherDeps(loadStreamPublisherConfig(env)).prices).toEqual(costPrices('x86_64'));
  });

  it('publishes to the configured bus', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    const { publisher } = streamPublisherDeps(
      loadStreamPublisherConfig({ DORMOUSE_EVENT_BUS_NAME: 'dormouse-prod', DORMOUSE_TABLE_NAME: 'tenants' }),
      {
        eventBridgeClient: new EventBridgeClient({ region: 'eu-west-1' }),
      },
    );

    await publisher.publish([{ detailType: 'Tenant Ready', tenantId: 'acme', detail: {}, time: '2026-01-05T09:00:00.000Z' }]);

    expect(
      eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries?.map((entry) => entry.EventBusName)),
    ).toEqual([['dormouse-prod']]);
  });
});
