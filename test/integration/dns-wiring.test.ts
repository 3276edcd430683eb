import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { reconcilerDeps } from '../../shared/adapters/aws/composition/reconcile.js';
import { loadReconcilerConfig } from '../../shared/config.js';
import { CloudRefusedError } from '../../shared/domain/errors.js';
import { TEST_LISTENER_ARN, reconcilerEnv } from '../support/reconciler-env.js';

const route53 = mockClient(Route53Client);

const SHARDS = {
  DORMOUSE_SHARDS: '2',
  // One listener per shard; the second as the end of its ARN, as the CDK app writes it.
  DORMOUSE_LISTENER_ARN: `${TEST_LISTENER_ARN},app/dormouse-1/60dc6c495c0c9188/a2f7dc8efc522ab2`,
  DORMOUSE_HOSTED_ZONE_ID: 'Z0123456789TENANTS',
  DORMOUSE_SHARD_LOAD_BALANCERS: 'dorm-a-1.eu-west-1.elb.amazonaws.com@Z32O12XQLNTSW2,dorm-b-2.eu-west-1.elb.amazonaws.com@Z32O12XQLNTSW2',
};

function deps(env = {}) {
  return reconcilerDeps(loadReconcilerConfig(reconcilerEnv(env)), {
    dynamoClient: new DynamoDBClient({}),
    route53Client: new Route53Client({}),
  }) as ReturnType<typeof reconcilerDeps> & { dns?: { ensureRecord(tenantId: string, shard: number): Promise<void> } };
}

beforeEach(() => {
  route53.reset();
  route53.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [], IsTruncated: false, MaxItems: 1 });
  route53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: 'C1', Status: 'PENDING', SubmittedAt: new Date(0) } });
});

describe("the reconciler's DNS on AWS", () => {
  it('is left out with one shard: the wildcard record serves every tenant', () => {
    expect(deps().dns).toBeUndefined();
  });

  it('is Route 53, in the configured zone, with the domain of the base URL, with more than one shard', async () => {
    await deps(SHARDS).dns!.ensureRecord('acme', 1);

    expect(route53).toHaveReceivedCommandWith(ChangeResourceRecordSetsCommand, {
      HostedZoneId: 'Z0123456789TENANTS',
      ChangeBatch: {
        Comment: 'Dormouse tenants',
        Changes: [
          {
            Action: 'UPSERT',
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
      .on(ListResourceRecordSetsCommand)
      .rejects(Object.assign(new Error('User is not authorized to perform: route53:ListResourceRecordSets'), { name: 'AccessDenied' }));

    await expect(deps(SHARDS).dns!.ensureRecord('acme', 0)).rejects.toBeInstanceOf(CloudRefusedError);
  });
});
