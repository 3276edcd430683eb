import { translatingAwsErrors } from '../../shared/adapters/aws/aws-errors.js';
import { Route53Dns } from '../../shared/adapters/aws/route53-dns.js';
import { ELB_HOSTED_ZONE_ID, HOSTED_ZONE_ID } from '../support/aws-model.js';
import { manualAwsModel } from '../support/aws-adapters.js';
import { FakeDns } from '../support/fake-dns.js';
import { SHARDS, describeDnsContract } from './dns.contract.js';

const DOMAIN = 'trials.example.com';
const shardDnsName = (shard: number) => `dorm-shard${shard}-12345${shard}.us-east-1.elb.amazonaws.com`;

describeDnsContract('Route53Dns over the AWS model', async () => {
  const { model } = manualAwsModel();
  const dns = translatingAwsErrors(
    new Route53Dns({
      client: model.route53Client,
      hostedZoneId: HOSTED_ZONE_ID,
      domain: DOMAIN,
      loadBalancers: Array.from({ length: SHARDS }, (_, shard) => ({ dnsName: shardDnsName(shard), hostedZoneId: ELB_HOSTED_ZONE_ID })),
      batchWindowMs: 1,
    }),
  );
  return {
    dns,
    targetOf: async (tenantId) => {
      const [set, ...more] = model.recordSetsNamed(`${tenantId}.${DOMAIN}.`);
      if (more.length > 0) throw new Error(`${tenantId} has ${more.length + 1} records`);
      if (!set) return undefined;
      const shard = Array.from({ length: SHARDS }, (_, i) => i).find(
        (i) => set.AliasTarget?.DNSName === `dualstack.${shardDnsName(i)}.` && set.AliasTarget.HostedZoneId === ELB_HOSTED_ZONE_ID,
      );
      return shard ?? 'foreign';
    },
    plantForeign: async (tenantId) =>
      model.plantRecordSet({
        Name: `${tenantId}.${DOMAIN}.`,
        Type: 'A',
        AliasTarget: {
          DNSName: 'dualstack.neighbour-999.us-east-1.elb.amazonaws.com.',
          HostedZoneId: ELB_HOSTED_ZONE_ID,
          EvaluateTargetHealth: false,
        },
      }),
    close: async () => model.restore(),
  };
});

describeDnsContract('FakeDns (use-case tests)', async () => {
  const dns = new FakeDns(SHARDS);
  return {
    dns,
    targetOf: async (tenantId) => {
      const record = dns.records.get(tenantId);
      return record === undefined ? undefined : 'shard' in record ? record.shard : 'foreign';
    },
    plantForeign: async (tenantId) => void dns.records.set(tenantId, { foreign: 'neighbour' }),
    close: async () => {},
  };
});
