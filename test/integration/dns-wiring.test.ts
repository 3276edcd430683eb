import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeLoadBalancersCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { reconcilerDeps } from '../../shared/adapters/aws/composition/reconcile.js';
import { loadReconcilerConfig } from '../../shared/config.js';
import { CloudRefusedError } from '../../shared/domain/errors.js';
import { TEST_LISTENER_ARN, reconcilerEnv } from '../support/reconciler-env.js';

const route53 = mockClient(Route53Client);
const elb = mockClient(ElasticLoadBalancingV2Client);

const SHARDS = {
  DORMOUSE_SHARDS: '2',
  // One listener per shard; the second as the end of its ARN, as the CDK app writes it.
  DORMOUSE_LISTENER_ARN: `${TEST_LISTENER_ARN},app/dormouse-1/60dc6c495c0c9188/a2f7dc8efc522ab2`,
  DORMOUSE_HOSTED_ZONE_ID: 'Z0123456789TENANTS',
};
/** The two shards' load balancers, named by their listeners' ARNs. */
const LOAD_BALANCER_ARNS = [
  'arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/dormouse/50dc6c495c0c9188',
  'arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/dormouse-1/60dc6c495c0c9188',
];

function deps(env = {}) {
  return reconcilerDeps(loadReconcilerConfig(reconcilerEnv(env)), {
    dynamoClient: new DynamoDBClient({}),
    route53Client: new Route53Client({}),
    elbClient: new ElasticLoadBalancingV2Client({}),
  }) as ReturnType<typeof reconcilerDeps> & { dns?: { ensureRecord(tenantId: string, shard: number): Promise<void> } };
}

beforeEach(() => {
  route53.reset();
  elb.reset();
  elb.on(DescribeLoadBalancersCommand).resolves({
    LoadBalancers: [
      // Not necessarily in the order asked.
      { LoadBalancerArn: LOAD_BALANCER_ARNS[1], DNSName: 'dorm-b-2.eu-west-1.elb.amazonaws.com', CanonicalHostedZoneId: 'Z32O12XQLNTSW2' },
      { LoadBalancerArn: LOAD_BALANCER_ARNS[0], DNSName: 'dorm-a-1.eu-west-1.elb.amazonaws.com', CanonicalHostedZoneId: 'Z32O12XQLNTSW2' },
    ],
  });
  route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [], IsTruncated: false, MaxItems: 1 });
  route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: 'C1', Status: 'PENDING', SubmittedAt: new Date(0) } });
});

describe("the reconciler's DNS on AWS", () => {
  it('is left out with one shard: the wildcard record serves every tenant', () => {
    expect(deps().dns).toBeUndefined();
  });

  it("is Route 53, in the configured zone, with the domain of the base URL, aliasing the shard's load balancer as ELB describes it", async () => {
    const dns = deps(SHARDS).dns!;
    await dns.ensureRecord('acme', 1);
    await dns.ensureRecord('beta', 0);

    // One DescribeLoadBalancers for the life of the function, for the shards' own load balancers only.
    expect(elb).toHaveReceivedCommandTimes(DescribeLoadBalancersCommand, 1);
    expect(elb).toHaveReceivedCommandWith(DescribeLoadBalancersCommand, { LoadBalancerArns: LOAD_BALANCER_ARNS });

    expect(route53).toHaveReceivedCommandWith(ChangeResourceRecordSetsCommand, {
      HostedZoneId: 'Z0123456789TENANTS',
      ChangeBatch: {
        Comment: 'Dormouse tenants',
        Changes: [
          {
            Action: 'CREATE',
            ResourceRecordSet: {
              Name: 'acme.trials.example.com.',
              Type: 'A',
              AliasTarget: { DNSName: 'dorm-b-2.eu-west-1.elb.amazonaws.com', HostedZoneId: 'Z32O12XQLNTSW2', EvaluateTargetHealth: false },
            },
          },
        ],
      },
    });
  });

  it("translates Route 53's refusals like the other adapters' errors", async () => {
    route53
      .on(ChangeResourceRecordSetsCommand)
      .rejects(Object.assign(new Error('User is not authorized to perform: route53:ChangeResourceRecordSets'), { name: 'AccessDenied' }));

    await expect(deps(SHARDS).dns!.ensureRecord('acme', 0)).rejects.toBeInstanceOf(CloudRefusedError);
  });
});
