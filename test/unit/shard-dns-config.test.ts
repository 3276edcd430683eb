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

  it("name the zone and the domain of the base URL; the load balancers are read off the shards' listeners, not configured", () => {
    expect(shardDns({ DORMOUSE_SHARDS: '2', DORMOUSE_HOSTED_ZONE_ID: 'Z0123456789ABC' })).toStrictEqual({
      hostedZoneId: 'Z0123456789ABC',
      domain: 'trials.example.com',
    });
  });

  it('stop start-up with more than one shard and no zone', () => {
    expect(() => shardDns({ DORMOUSE_SHARDS: '3' })).toThrow(
      new ConfigError(['DORMOUSE_HOSTED_ZONE_ID: is required with 3 shards (each tenant gets its own record)']),
    );
  });
});
