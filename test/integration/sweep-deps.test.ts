import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { DescribeRulesCommand, DescribeTargetGroupsCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { sweepDeps } from '../../shared/adapters/aws/sweep-deps.js';
import { sweep } from '../../shared/app/sweep.js';
import { loadReconcilerConfig } from '../../shared/config.js';
import { newTenant } from '../../shared/domain/tenant.js';
import { createTestTables } from '../support/dynamodb.js';

const cloudWatch = mockClient(CloudWatchClient);
const ecs = mockClient(ECSClient);
const elb = mockClient(ElasticLoadBalancingV2Client);

const LOAD_BALANCER = 'app/dormouse/50dc6c495c0c9188';
const TARGET_GROUP = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/dm-acme/6d0ecf831eec9f09';

beforeEach(() => {
  cloudWatch.reset();
  ecs.reset();
  elb.reset();
});

describe('sweepDeps', () => {
  it('wires the sweep to the tenant table, CloudWatch on the configured load balancer, and the ECS and ELBv2 inventories', async () => {
    // Prepare: a tenant that has run, idle, for an hour; AWS answers with nothing else
    const tables = await createTestTables();
    const config = loadReconcilerConfig({
      DORMOUSE_TABLE_NAME: tables.tenantTable,
      DORMOUSE_BASE_URL: 'https://trials.example.com',
      DORMOUSE_CLUSTER: 'dormouse',
      DORMOUSE_TASK_DEFINITION: 'dormouse-tenant:3',
      DORMOUSE_SUBNETS: 'subnet-a',
      DORMOUSE_SECURITY_GROUPS: 'sg-a',
      DORMOUSE_VPC_ID: 'vpc-0abc',
      DORMOUSE_LISTENER_ARN: 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/dormouse/50dc6c495c0c9188/f2f7dc8efc522ab2',
    });
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
      { dynamoClient: tables.client, ecsClient: new ECSClient({}), elbClient: new ElasticLoadBalancingV2Client({}), cloudWatchClient: new CloudWatchClient({}) },
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
    expect(elb).toHaveReceivedCommandWith(DescribeRulesCommand, { ListenerArn: config.elb.listenerArn });
  });
});
