import { describe, expect, it } from 'vitest';
import { ConfigError, loadShardDns } from '../../shared/config.js';
import { readSettings } from '../../shared/config/settings.js';

const reconciler = {
  DORMOUSE_TABLE_NAME: 'tenants',
  DORMOUSE_INSTALLATION: 'prod',
  DORMOUSE_BASE_URL: 'https://trials.example.com',
  DORMOUSE_CLUSTER: 'cluster',
  DORMOUSE_TASK_DEFINITION: 'td',
  DORMOUSE_SUBNETS: 'subnet-1',
  DORMOUSE_SECURITY_GROUPS: 'sg-1',
  DORMOUSE_VPC_ID: 'vpc-1',
  DORMOUSE_LISTENER_ARN: 'arn:aws:elasticloadbalancing:us-east-1:111122223333:listener/app/a/1/2',
};

const shardDns = (env: Record<string, string>) => loadShardDns(readSettings('reconciler', { ...reconciler, ...env }));

describe("the shards' DNS settings", () => {
  it('are not needed, nor used, with one shard: the wildcard record serves every tenant', () => {
    expect(shardDns({})).toBeUndefined();
    expect(shardDns({ DORMOUSE_SHARDS: '1', DORMOUSE_HOSTED_ZONE_ID: 'Z0123456789ABC' })).toBeUndefined();
  });

  it('name the zone, the domain of the base URL and each shard load balancer in order', () => {
    expect(
      shardDns({
        DORMOUSE_SHARDS: '2',
        DORMOUSE_HOSTED_ZONE_ID: 'Z0123456789ABC',
        DORMOUSE_SHARD_LOAD_BALANCERS: 'a-1.us-east-1.elb.amazonaws.com@Z35SXDOTRQ7X7K, b-2.us-east-1.elb.amazonaws.com@Z35SXDOTRQ7X7K',
      }),
    ).toStrictEqual({
      hostedZoneId: 'Z0123456789ABC',
      domain: 'trials.example.com',
      loadBalancers: [
        { dnsName: 'a-1.us-east-1.elb.amazonaws.com', hostedZoneId: 'Z35SXDOTRQ7X7K' },
        { dnsName: 'b-2.us-east-1.elb.amazonaws.com', hostedZoneId: 'Z35SXDOTRQ7X7K' },
      ],
    });
  });

  it("complete a load balancer given as its first label, or without its zone, with the first's", () => {
    expect(
      shardDns({
        DORMOUSE_SHARDS: '3',
        DORMOUSE_HOSTED_ZONE_ID: 'Z0123456789ABC',
        DORMOUSE_SHARD_LOAD_BALANCERS: 'a-1.us-east-1.elb.amazonaws.com@Z35SXDOTRQ7X7K,b-2,c-3.us-east-1.elb.amazonaws.com',
      })?.loadBalancers,
    ).toStrictEqual([
      { dnsName: 'a-1.us-east-1.elb.amazonaws.com', hostedZoneId: 'Z35SXDOTRQ7X7K' },
      { dnsName: 'b-2.us-east-1.elb.amazonaws.com', hostedZoneId: 'Z35SXDOTRQ7X7K' },
      { dnsName: 'c-3.us-east-1.elb.amazonaws.com', hostedZoneId: 'Z35SXDOTRQ7X7K' },
    ]);
  });

  it('stop start-up with more than one shard and no zone, or a load balancer count that is not the shard count', () => {
    expect(() => shardDns({ DORMOUSE_SHARDS: '3', DORMOUSE_SHARD_LOAD_BALANCERS: 'a.elb.amazonaws.com@Z35SXDOTRQ7X7K' })).toThrow(
      new ConfigError([
        'DORMOUSE_HOSTED_ZONE_ID: is required with 3 shards (each tenant gets its own record)',
        'DORMOUSE_SHARD_LOAD_BALANCERS: lists 1 load balancers for 3 shards (DORMOUSE_SHARDS); one per shard, in shard order',
      ]),
    );
  });

  it('refuse a load balancer that is not <dnsName>@<canonicalHostedZoneId>, and a first one without both in full', () => {
    expect(() => shardDns({ DORMOUSE_SHARDS: '2', DORMOUSE_SHARD_LOAD_BALANCERS: 'a.elb.amazonaws.com@zone,b' })).toThrow(
      /DORMOUSE_SHARD_LOAD_BALANCERS: must be <dnsName>@<canonicalHostedZoneId> per shard/,
    );
    for (const first of ['a.elb.amazonaws.com', 'a@Z35SXDOTRQ7X7K']) {
      expect(() =>
        shardDns({ DORMOUSE_SHARDS: '2', DORMOUSE_HOSTED_ZONE_ID: 'Z0123456789ABC', DORMOUSE_SHARD_LOAD_BALANCERS: `${first},b` }),
      ).toThrow(
        new ConfigError([
          `DORMOUSE_SHARD_LOAD_BALANCERS: must be <dnsName>@<canonicalHostedZoneId> per shard; the first entry (${first}) needs both in full, the others may leave out what they share with it`,
        ]),
      );
    }
  });
});
