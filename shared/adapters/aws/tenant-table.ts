import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * The tenant table's shape, shared by the DynamoDB adapter, the CDK stack and the embedded
 * mode so that all three agree on keys and indexes.
 *
 * One table, one partition key `pk`:
 * - `tenant#<slug>`  the tenant record
 * - `email#<sha256 of the lowercased email>`  the claim that keeps one live trial per email
 * - `counter#tenants`  how many live tenants exist, checked against the ceiling on create
 * - `counter#routing`  how many tenants hold a routing slot, checked against the ALB ceiling
 */
export const TENANT_TABLE = {
  partitionKey: 'pk',
  ttlAttribute: 'expiresAt',
  /** Sparse: only tenants that have, or are about to have, a task. The sweep reads this. */
  activeIndex: { name: 'active', partitionKey: 'activeKey', sortKey: 'lastActiveAt' },
  /** Every tenant by phase, newest first, for the admin listing. */
  phaseIndex: { name: 'byPhase', partitionKey: 'phase', sortKey: 'createdAt' },
} as const;

export const keys = {
  tenant: (id: string) => `tenant#${id}`,
  email: (emailHash: string) => `email#${emailHash}`,
  tenantCounter: 'counter#tenants',
  /** Tenants holding a routing slot (a rule and target group on the load balancer). */
  routingCounter: 'counter#routing',
} as const;

/** For DynamoDB Local and tests; the CDK stack declares the same table with its own constructs. */
export function createTenantTableInput(tableName: string): CreateTableCommandInput {
  const { partitionKey, activeIndex, phaseIndex } = TENANT_TABLE;
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: partitionKey, AttributeType: 'S' },
      { AttributeName: activeIndex.partitionKey, AttributeType: 'S' },
      { AttributeName: activeIndex.sortKey, AttributeType: 'S' },
      { AttributeName: phaseIndex.partitionKey, AttributeType: 'S' },
      { AttributeName: phaseIndex.sortKey, AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: partitionKey, KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [
      {
        IndexName: activeIndex.name,
        KeySchema: [
          { AttributeName: activeIndex.partitionKey, KeyType: 'HASH' },
          { AttributeName: activeIndex.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: phaseIndex.name,
        KeySchema: [
          { AttributeName: phaseIndex.partitionKey, KeyType: 'HASH' },
          { AttributeName: phaseIndex.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
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
