import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { GetMetricDataCommandInput, MetricDataQuery, MetricDataResult } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchActivity, targetGroupDimension } from '../../shared/adapters/aws/cloudwatch-activity.js';

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
