import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * The tenant table's shape, shared by the DynamoDB adapter, the CDK stack and the embedded
 * mode so that all three agree on keys and indexes.
 *
 * One table, one partition key `pk`:
 * - `tenant#<slug>`  the tenant record
 * - `email#<sha256 of the lowercased email>`  the claim that keeps one live trial per email
 * - `counter#tenants#<i>`  how many live tenants item i counts, each within its share of the
 *   ceiling (tenant-ceiling.ts); `counter#tenants` counts the tenants created before the split
 * - `counter#routing`  how many tenants hold a routing slot, checked against the ALB ceiling
 * - `marker#<name>`  where a paged background job (the sweep) left off; `marker#embedded-run`
 *   the embedded run that holds the table (table-claim.ts)
 * - `timeline#<slug>`  where the tenant's timeline stands (entries written, last record version);
 *   `timeline#<slug>#<n>` its entries, a ring of `TIMELINE_LENGTH` slots (dynamodb-timeline.ts)
 * - `stats#wake-times`  the durations of the latest wakes by requests (the waking page's estimate)
 * - `rate#<key>#<window start>`  attempts counted by the rate limiter, removed by TTL (the key
 *   of a signup limit is a hash of the client's address, never the address)
 */
export const TENANT_TABLE = {
  partitionKey: 'pk',
  ttlAttribute: 'expiresAt',
  /** Sparse: only tenants that have, or are about to have, a task. The sweep reads this. */
  activeIndex: { name: 'active', partitionKey: 'activeKey', sortKey: 'lastActiveAt' },
  /** Every tenant by phase, newest first, for the admin listing. */
  phaseIndex: { name: 'byPhase', partitionKey: 'phase', sortKey: 'createdAt' },
  /** Sparse: tenants not yet asked to go, by trial end, so the sweep finds expired trials cheaply. */
  trialIndex: { name: 'byTrialEnd', partitionKey: 'trialKey', sortKey: 'trialEndsAt' },
  /**
   * Sparse: sleeping tenants with keep-warm hours, by when those hours begin next, so the sweep
   * finds the ones to wake without reading every sleeper.
   */
  warmIndex: { name: 'byWarmAt', partitionKey: 'warmKey', sortKey: 'warmAt' },
} as const;

export const keys = {
  tenant: (id: string) => `tenant#${id}`,
  email: (emailHash: string) => `email#${emailHash}`,
  marker: (name: string) => `marker#${name}`,
  wakeTimes: 'stats#wake-times',
  rateWindow: (key: string, windowStart: number) => `rate#${key}#${windowStart}`,
  timeline: (id: string) => `timeline#${id}`,
  timelineSlot: (id: string, slot: number) => `timeline#${id}#${slot}`,
  /** Tenants counted before the count was split; it only goes down now (tenant-ceiling.ts). */
  tenantCounter: 'counter#tenants',
  tenantCounterShare: (index: number) => `counter#tenants#${index}`,
  /**
   * Tenants holding a routing slot (a rule and target group) on one shard's load balancer. Shard
   * 0 keeps the key of the single load balancer before shards, so an upgrade keeps its count.
   */
  routingCounter: (shard: number) => (shard === 0 ? 'counter#routing' : `counter#routing#${shard}`),
} as const;

/** For DynamoDB Local and tests; the CDK stack declares the same table with its own constructs. */
export function createTenantTableInput(tableName: string): CreateTableCommandInput {
  const { partitionKey, activeIndex, phaseIndex, trialIndex, warmIndex } = TENANT_TABLE;
  const index = (spec: { name: string; partitionKey: string; sortKey: string }) => ({
    IndexName: spec.name,
    KeySchema: [
      { AttributeName: spec.partitionKey, KeyType: 'HASH' as const },
      { AttributeName: spec.sortKey, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  });
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: partitionKey, AttributeType: 'S' },
      { AttributeName: activeIndex.partitionKey, AttributeType: 'S' },
      { AttributeName: activeIndex.sortKey, AttributeType: 'S' },
      { AttributeName: phaseIndex.partitionKey, AttributeType: 'S' },
      { AttributeName: phaseIndex.sortKey, AttributeType: 'S' },
      { AttributeName: trialIndex.partitionKey, AttributeType: 'S' },
      { AttributeName: trialIndex.sortKey, AttributeType: 'S' },
      { AttributeName: warmIndex.partitionKey, AttributeType: 'S' },
      { AttributeName: warmIndex.sortKey, AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: partitionKey, KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [index(activeIndex), index(phaseIndex), index(trialIndex), index(warmIndex)],
    StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
  };
}

/** Powertools idempotency's default layout: partition key `id`, TTL on `expiration`. */
export function createIdempotencyTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
  };
}
