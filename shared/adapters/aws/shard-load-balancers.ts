import { DescribeLoadBalancersCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ShardLoadBalancer } from './route53-dns.js';

export interface ShardLoadBalancersOptions {
  /** Each shard's HTTPS listener, in shard order (`…:listener/app/<name>/<id>/<listener-id>`). */
  listenerArns: readonly string[];
  client?: ElasticLoadBalancingV2Client;
}

/**
 * Each shard's load balancer as a Route 53 alias names it (DNS name and canonical zone), read
 * with one DescribeLoadBalancers the first time it is asked for and kept for the life of the
 * function; a failed read is asked again next time.
 *
 * Read rather than configured: with 20 shards the DNS names alone would take over a kilobyte of
 * Lambda's 4 KB environment. The load balancers are named by the ARNs of the listeners the
 * stack itself configured, never looked up by name, so the answer cannot name another
 * installation's load balancer.
 */
export function shardLoadBalancers(options: ShardLoadBalancersOptions): () => Promise<ShardLoadBalancer[]> {
  const client = options.client ?? new ElasticLoadBalancingV2Client({});
  const arns = options.listenerArns.map(loadBalancerArnOf);
  let read: Promise<ShardLoadBalancer[]> | undefined;
  return () => {
    read ??= describe(client, arns).catch((error: unknown) => {
      read = undefined;
      throw error;
    });
    return read;
  };
}

/** `…:loadbalancer/app/<name>/<id>` of a listener ARN `…:listener/app/<name>/<id>/<listener-id>`. */
export function loadBalancerArnOf(listenerArn: string): string {
  const [start, end] = listenerArn.split(':listener/');
  if (!start || !end) throw new RangeError(`Not a listener ARN: ${listenerArn}`);
  return `${start}:loadbalancer/${end.split('/').slice(0, 3).join('/')}`;
}

/** At most 20 ARNs a request, the most shards an installation may have. */
async function describe(client: ElasticLoadBalancingV2Client, arns: string[]): Promise<ShardLoadBalancer[]> {
  const { LoadBalancers = [] } = await client.send(new DescribeLoadBalancersCommand({ LoadBalancerArns: arns }));
  return arns.map((arn) => {
    const found = LoadBalancers.find((lb) => lb.LoadBalancerArn === arn);
    if (!found?.DNSName || !found.CanonicalHostedZoneId) throw new Error(`Load balancer ${arn} was not described: is the stack deployed?`);
    return { dnsName: found.DNSName, hostedZoneId: found.CanonicalHostedZoneId };
  });
}
