import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { GetMetricDataCommandInput, MetricDataQuery, MetricDataResult } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchActivity, targetGroupDimension, taskIdOf } from '../../shared/adapters/aws/cloudwatch-activity.js';

const cloudWatch = mockClient(CloudWatchClient);

const LOAD_BALANCER = 'app/dormouse/50dc6c495c0c9188';
const tgArn = (name: string, id = '6d0ecf831eec9f09') => `arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/${name}/${id}`;
/** Not on minute boundaries, so the widening to whole minutes shows. */
const WINDOW = { start: new Date('2026-11-21T10:02:30.500Z'), end: new Date('2026-11-21T10:05:10.000Z') };
const START = new Date('2026-11-21T10:02:00.000Z');
const END = new Date('2026-11-21T10:06:00.000Z');
/** CloudWatch's rules for query ids. */
const VALID_ID = /^[a-z][a-zA-Z0-9_]*$/;

function activity() {
  return new CloudWatchActivity({ loadBalancerFullName: LOAD_BALANCER });
}

function requestCountQuery(id: string, targetGroup: string, loadBalancer = LOAD_BALANCER): MetricDataQuery {
  return {
    Id: id,
    MetricStat: {
      Metric: {
        Namespace: 'AWS/ApplicationELB',
        MetricName: 'RequestCount',
        Dimensions: [
          { Name: 'TargetGroup', Value: targetGroup },
          { Name: 'LoadBalancer', Value: loadBalancer },
        ],
      },
      Period: 60,
      Stat: 'Sum',
    },
    ReturnData: true,
  };
}

function sent(): GetMetricDataCommandInput[] {
  return cloudWatch.commandCalls(GetMetricDataCommand).map((call) => call.args[0].input);
}

/** Answers every query of a request, with the values `valuesFor` gives its target group. */
function answerWith(valuesFor: (targetGroup: string) => number[]) {
  cloudWatch.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
    MetricDataResults: (input.MetricDataQueries ?? []).map((query): MetricDataResult => ({
      Id: query.Id,
      StatusCode: 'Complete',
      Values: valuesFor(query.MetricStat!.Metric!.Dimensions![0]!.Value!),
      Timestamps: [],
    })),
  }));
}

beforeEach(() => {
  cloudWatch.reset();
});

describe('CloudWatchActivity', () => {
  it('asks for the Sum of RequestCount per minute, per target group on this load balancer, over whole minutes of the window', async () => {
    // Prepare
    answerWith(() => []);

    // Act
    await activity().activity(
      [
        { tenantId: 'acme', targetGroupArn: tgArn('dm-acme') },
        { tenantId: 'globex', targetGroupArn: tgArn('dm-globex', 'a1b2c3d4e5f60718') },
      ],
      WINDOW,
    );

    // Assess
    expect(sent()).toStrictEqual([
      {
        MetricDataQueries: [
          requestCountQuery('q0', 'targetgroup/dm-acme/6d0ecf831eec9f09'),
          requestCountQuery('q1', 'targetgroup/dm-globex/a1b2c3d4e5f60718'),
        ],
        StartTime: START,
        EndTime: END,
      },
    ]);
  });

  it("reads tenants of several shards in the same call, each with its own shard's load balancer", async () => {
    // Prepare
    answerWith(() => [2]);
    const shards = ['app/dormouse/50dc6c495c0c9188', 'app/dormouse-1/60dc6c495c0c9188', 'app/dormouse-2/70dc6c495c0c9188'];
    const sharded = new CloudWatchActivity({ loadBalancerFullName: shards });

    // Act
    const levels = await sharded.activity(
      [
        { tenantId: 'acme', targetGroupArn: tgArn('dm-acme') },
        { tenantId: 'globex', targetGroupArn: tgArn('dm-globex', 'a1b2c3d4e5f60718'), shard: 2 },
        { tenantId: 'initech', targetGroupArn: tgArn('dm-initech', 'b1b2c3d4e5f60718'), shard: 1 },
        // A shard the installation does not have: unmeasurable, so not reported idle.
        { tenantId: 'hooli', targetGroupArn: tgArn('dm-hooli'), shard: 3 },
      ],
      WINDOW,
    );

    // Assess
    expect(sent()).toStrictEqual([
      {
        MetricDataQueries: [
          requestCountQuery('q0', 'targetgroup/dm-acme/6d0ecf831eec9f09', shards[0]),
          requestCountQuery('q1', 'targetgroup/dm-globex/a1b2c3d4e5f60718', shards[2]),
          requestCountQuery('q2', 'targetgroup/dm-initech/b1b2c3d4e5f60718', shards[1]),
        ],
        StartTime: START,
        EndTime: END,
      },
    ]);
    expect([...levels.keys()]).toEqual(['acme', 'globex', 'initech']);
  });

  it('batches 600 tenants into two calls of at most 500 queries, with valid and unique ids in each', async () => {
    // Prepare
    answerWith(() => [1]);
    const targets = Array.from({ length: 600 }, (_, index) => ({ tenantId: `t${index}`, targetGroupArn: tgArn(`dm-t${index}`) }));

    // Act
    const levels = await activity().activity(targets, WINDOW);

    // Assess
    const requests = sent();
    expect(requests.map((request) => request.MetricDataQueries!.length)).toEqual([500, 100]);
    for (const request of requests) {
      const ids = request.MetricDataQueries!.map((query) => query.Id!);
      expect(ids.every((id) => VALID_ID.test(id))).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      expect(request).toMatchObject({ StartTime: START, EndTime: END });
    }
    const asked = requests.flatMap((request) => request.MetricDataQueries!.map((query) => query.MetricStat!.Metric!.Dimensions![0]!.Value));
    expect(asked).toEqual(targets.map((_, index) => `targetgroup/dm-t${index}/6d0ecf831eec9f09`));
    expect(levels.size).toBe(600);
    expect(levels.get('t599')).toEqual({ requests: 1, connections: 0 });
  });

  it('maps each query back to its tenant: datapoints summed, none counted as zero, connections always zero', async () => {
    // Prepare
    answerWith(
      (targetGroup) =>
        ({ 'targetgroup/dm-acme/6d0ecf831eec9f09': [3, 0, 2], 'targetgroup/dm-globex/6d0ecf831eec9f09': [7] })[targetGroup] ?? [],
    );

    // Act
    const levels = await activity().activity(
      ['acme', 'globex', 'initech'].map((tenantId) => ({ tenantId, targetGroupArn: tgArn(`dm-${tenantId}`) })),
      WINDOW,
    );

    // Assess
    expect(Object.fromEntries(levels)).toEqual({
      acme: { requests: 5, connections: 0 },
      globex: { requests: 7, connections: 0 },
      initech: { requests: 0, connections: 0 },
    });
  });

  it('follows NextToken with the same queries and adds up the pages', async () => {
    // Prepare
    cloudWatch
      .on(GetMetricDataCommand)
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'q0', StatusCode: 'PartialData', Values: [4], Timestamps: [] },
          { Id: 'q1', StatusCode: 'PartialData', Values: [], Timestamps: [] },
        ],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'q0', StatusCode: 'Complete', Values: [6], Timestamps: [] },
          { Id: 'q1', StatusCode: 'Complete', Values: [1], Timestamps: [] },
        ],
      });
    const targets = [
      { tenantId: 'acme', targetGroupArn: tgArn('dm-acme') },
      { tenantId: 'globex', targetGroupArn: tgArn('dm-globex') },
    ];

    // Act
    const levels = await activity().activity(targets, WINDOW);

    // Assess
    const [first, second] = sent();
    expect(first).not.toHaveProperty('NextToken');
    expect(second).toStrictEqual({ ...first, NextToken: 'page-2' });
    expect(levels.get('acme')).toEqual({ requests: 10, connections: 0 });
    expect(levels.get('globex')).toEqual({ requests: 1, connections: 0 });
  });

  it('leaves out what it could not measure, so the sweep does not take it for idleness', async () => {
    // Prepare
    cloudWatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'q0', StatusCode: 'InternalError', Values: [], Timestamps: [] },
        { Id: 'q1', StatusCode: 'Complete', Values: [], Timestamps: [] },
      ],
    });

    // Act
    const levels = await activity().activity(
      [
        { tenantId: 'acme', targetGroupArn: tgArn('dm-acme') },
        { tenantId: 'broken', targetGroupArn: 'arn:aws:elasticloadbalancing:targetgroup/dm-broken' },
        { tenantId: 'globex', targetGroupArn: tgArn('dm-globex') },
      ],
      WINDOW,
    );

    // Assess
    expect(sent()[0]!.MetricDataQueries!.map((query) => query.MetricStat!.Metric!.Dimensions![0]!.Value)).toEqual([
      'targetgroup/dm-acme/6d0ecf831eec9f09',
      'targetgroup/dm-globex/6d0ecf831eec9f09',
    ]);
    expect(Object.fromEntries(levels)).toEqual({ globex: { requests: 0, connections: 0 } });
  });

  it('makes no call for no targets', async () => {
    expect((await activity().activity([], WINDOW)).size).toBe(0);
    expect(cloudWatch).not.toHaveReceivedCommand(GetMetricDataCommand);
  });

  it('propagates a failed call, so the caller knows activity is unknown', async () => {
    cloudWatch.on(GetMetricDataCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    await expect(activity().activity([{ tenantId: 'acme', targetGroupArn: tgArn('dm-acme') }], WINDOW)).rejects.toThrow('Rate exceeded');
  });
});

describe('CloudWatchActivity with task network metrics', () => {
  const CLUSTER = 'dormouse-TenantsCluster3A2B1C0D-x9YzAbCdEfGh';
  const taskArn = (id: string) => `arn:aws:ecs:eu-west-1:111122223333:task/${CLUSTER}/${id}`;
  const ACME_TASK = '0123456789abcdef0123456789abcdef';
  const GLOBEX_TASK = 'fedcba9876543210fedcba9876543210';
  const NETWORK_EXPRESSION =
    'SELECT AVG(NetworkRxBytes) FROM SCHEMA("ECS/ContainerInsights", ClusterName, TaskDefinitionFamily, TaskId) ' +
    `WHERE ClusterName = '${CLUSTER}' GROUP BY TaskId ORDER BY MAX() DESC LIMIT 500`;
  const targets = [
    { tenantId: 'acme', targetGroupArn: tgArn('dm-acme'), taskArn: taskArn(ACME_TASK) },
    { tenantId: 'globex', targetGroupArn: tgArn('dm-globex', 'a1b2c3d4e5f60718'), taskArn: taskArn(GLOBEX_TASK) },
  ];

  function withNetwork() {
    return new CloudWatchActivity({ loadBalancerFullName: LOAD_BALANCER, taskNetwork: { clusterName: CLUSTER, busyBytesPerSecond: 256 } });
  }

  /** Answers the RequestCount queries with no datapoints and the network query with `series` (task id → bytes per second per minute). */
  function answerNetwork(series: Record<string, number[]>, status: MetricDataResult['StatusCode'] = 'Complete') {
    cloudWatch.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
      MetricDataResults: (input.MetricDataQueries ?? []).flatMap((query): MetricDataResult[] =>
        query.Expression
          ? Object.entries(series).map(([taskId, values]) => ({
              Id: query.Id,
              Label: taskId,
              StatusCode: status,
              Values: values,
              Timestamps: [],
            }))
          : [{ Id: query.Id, StatusCode: 'Complete', Values: [], Timestamps: [] }],
      ),
    }));
  }

  it('asks, in the same call as the requests, for the bytes every task of the cluster received per minute', async () => {
    // Prepare
    answerNetwork({});

    // Act
    await withNetwork().activity(targets, WINDOW);

    // Assess
    expect(sent()).toStrictEqual([
      {
        MetricDataQueries: [
          { Id: 'network', Expression: NETWORK_EXPRESSION, Period: 60, ReturnData: true },
          requestCountQuery('q0', 'targetgroup/dm-acme/6d0ecf831eec9f09'),
          requestCountQuery('q1', 'targetgroup/dm-globex/a1b2c3d4e5f60718'),
        ],
        StartTime: START,
        EndTime: END,
      },
    ]);
  });

  it('counts the minutes each task received more than the threshold; a task without datapoints or a tenant without a task had none', async () => {
    // Prepare
    answerNetwork({ [ACME_TASK]: [80, 4_000, 300, 120], [GLOBEX_TASK]: [90, 100, 95] });

    // Act
    const levels = await withNetwork().activity(
      [
        ...targets,
        { tenantId: 'initech', targetGroupArn: tgArn('dm-initech'), taskArn: taskArn('00000000000000000000000000000001') },
        { tenantId: 'umbrella', targetGroupArn: tgArn('dm-umbrella') },
      ],
      WINDOW,
    );

    // Assess
    expect(Object.fromEntries(levels)).toEqual({
      acme: { requests: 0, connections: 0, busyMinutes: 2 },
      globex: { requests: 0, connections: 0, busyMinutes: 0 },
      initech: { requests: 0, connections: 0, busyMinutes: 0 },
      umbrella: { requests: 0, connections: 0, busyMinutes: 0 },
    });
  });

  it('leaves out a task it cannot speak for (query refused, answer cut at 500 busy tasks, window past three hours) unless it had requests', async () => {
    // Refused.
    answerNetwork({ [ACME_TASK]: [9_000] }, 'Forbidden');
    expect([...(await withNetwork().activity(targets, WINDOW)).keys()]).toEqual([]);

    // Cut: 500 series, every one busy, none of them globex's.
    cloudWatch.reset();
    answerNetwork(Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`task${i}`, [1_000]])));
    expect([...(await withNetwork().activity(targets, WINDOW)).keys()]).toEqual([]);

    // Longer than Metrics Insights reads: no network query at all.
    cloudWatch.reset();
    answerWith((targetGroup) => (targetGroup.includes('dm-acme') ? [2] : []));
    const long = { start: new Date(WINDOW.end.getTime() - 4 * 3_600_000), end: WINDOW.end };
    const levels = await withNetwork().activity(targets, long);
    expect(sent()[0]!.MetricDataQueries!.map((query) => query.Id)).toEqual(['q0', 'q1']);
    expect(Object.fromEntries(levels)).toEqual({ acme: { requests: 2, connections: 0 } });
  });

  it('refuses a cluster name it could not quote in a query', () => {
    expect(
      () =>
        new CloudWatchActivity({
          loadBalancerFullName: LOAD_BALANCER,
          taskNetwork: { clusterName: "x' OR '1'='1", busyBytesPerSecond: 1 },
        }),
    ).toThrow('Not an ECS cluster name');
  });
});

describe('taskIdOf', () => {
  it.each([
    ['arn:aws:ecs:eu-west-1:111122223333:task/my-cluster/0123456789abcdef0123456789abcdef', '0123456789abcdef0123456789abcdef'],
    ['arn:aws:ecs:eu-west-1:111122223333:task/0123456789abcdef0123456789abcdef', '0123456789abcdef0123456789abcdef'],
    ['local:task/42', undefined],
  ])('%s → %s', (arn, id) => {
    expect(taskIdOf(arn)).toBe(id);
  });
});

describe('targetGroupDimension', () => {
  it.each([
    [tgArn('dm-acme'), 'targetgroup/dm-acme/6d0ecf831eec9f09'],
    ['arn:aws-cn:elasticloadbalancing:cn-north-1:111122223333:targetgroup/dm-a/0123456789abcdef', 'targetgroup/dm-a/0123456789abcdef'],
    ['arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/dormouse/50dc6c495c0c9188', undefined],
    ['not an arn', undefined],
  ])('%s → %s', (arn, dimension) => {
    expect(targetGroupDimension(arn)).toBe(dimension);
  });
});
