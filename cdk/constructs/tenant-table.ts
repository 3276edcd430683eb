import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';
import type { KeySchemaElement, ScalarAttributeType } from '@aws-sdk/client-dynamodb';
import { TENANT_TABLE, createIdempotencyTableInput, createTenantTableInput, keys } from '../../shared/adapters/aws/tenant-table.js';
import { addSettings } from '../settings.js';

const ATTRIBUTE_TYPES: Record<ScalarAttributeType, AttributeType> = {
  S: AttributeType.STRING,
  N: AttributeType.NUMBER,
  B: AttributeType.BINARY,
};

export interface TenantTableProps {
  /**
   * What happens to the tables when the stack is deleted.
   * @default RemovalPolicy.RETAIN — tenant records outlive an accidental `cdk destroy`
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Item-level actions of the tenant store (transactions are authorised per item action). */
const TENANT_STORE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:Query',
  'dynamodb:Scan',
];
/** What Powertools idempotency's DynamoDB persistence layer calls. */
const IDEMPOTENCY_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];

/**
 * The tenant table (expected and actual state, email claims, counters) and the Powertools
 * idempotency table. The tenant table's shape comes from `shared/adapters/aws/tenant-table.ts`,
 * the same description the DynamoDB adapter and DynamoDB Local use.
 */
export class TenantTable extends Construct {
  readonly table: Table;
  readonly idempotencyTable: Table;
  /** Named one by one in grants, rather than `index/*`. */
  readonly indexNames: string[] = [];

  constructor(scope: Construct, id: string, props: TenantTableProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    // Declared from the same description the adapter and DynamoDB Local use, so they cannot drift.
    const shape = createTenantTableInput('unused');
    const attribute = (name: string | undefined) => {
      const definition = shape.AttributeDefinitions?.find((candidate) => candidate.AttributeName === name);
      if (!name || !definition?.AttributeType) throw new Error(`The tenant table shape does not define attribute ${name}`);
      return { name, type: ATTRIBUTE_TYPES[definition.AttributeType] };
    };
    const keyOf = (schema: KeySchemaElement[] | undefined, keyType: 'HASH' | 'RANGE') =>
      schema?.find((key) => key.KeyType === keyType)?.AttributeName;

    this.table = new Table(this, 'Tenants', {
      partitionKey: attribute(keyOf(shape.KeySchema, 'HASH')),
      billingMode: BillingMode.PAY_PER_REQUEST,
      // The stream publisher derives events from the change between the two images.
      stream: StreamViewType[shape.StreamSpecification?.StreamViewType ?? 'NEW_AND_OLD_IMAGES'],
      timeToLiveAttribute: TENANT_TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy,
      // A stack update or a console click cannot drop the records; tearing down starts by turning this off.
      deletionProtection: true,
    });
    for (const index of shape.GlobalSecondaryIndexes ?? []) {
      const sortKey = keyOf(index.KeySchema, 'RANGE');
      this.table.addGlobalSecondaryIndex({
        indexName: index.IndexName as string,
        partitionKey: attribute(keyOf(index.KeySchema, 'HASH')),
        ...(sortKey ? { sortKey: attribute(sortKey) } : {}),
        projectionType: ProjectionType[index.Projection?.ProjectionType ?? 'ALL'],
        ...(index.Projection?.NonKeyAttributes ? { nonKeyAttributes: index.Projection.NonKeyAttributes } : {}),
      });
      this.indexNames.push(index.IndexName as string);
    }

    // Powertools' default layout (key `id`), with its expiry attribute `expiration` as the TTL.
    const idempotencyShape = createIdempotencyTableInput('unused');
    const idempotencyKey = keyOf(idempotencyShape.KeySchema, 'HASH');
    this.idempotencyTable = new Table(this, 'Idempotency', {
      partitionKey: {
        name: idempotencyKey as string,
        type: ATTRIBUTE_TYPES[idempotencyShape.AttributeDefinitions?.find((a) => a.AttributeName === idempotencyKey)?.AttributeType ?? 'S'],
      },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiration',
      // No point-in-time recovery, on purpose: each record holds a signup's answer, token included,
      // for whoever replays its key within the TTL. Backups would keep those tokens for 35 days
      // after the TTL removed them, while restoring the table brings nothing back worth having
      // (a lost record only means a retried signup is answered 409 instead of replayed).
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false },
      removalPolicy,
      // A stack update or a console click cannot drop the records; tearing down starts by turning this off.
      deletionProtection: true,
    });
    acknowledge(
      this.idempotencyTable,
      'AwsSolutions-DDB3',
      'Point-in-time recovery is off on purpose: the records are short-lived replayable signup answers (tokens included) that backups would keep for 35 days past their TTL; losing them costs nothing but a replay.',
    );
  }

  /**
   * Lets `fn` read and write tenant records and query each index by name, and tells it the table.
   * With several routing shards it also reads every shard's slot counter in one BatchGetItem.
   */
  bindTenantStore(fn: LambdaFunction, { shards = 1 }: { shards?: number } = {}): void {
    fn.addToRolePolicy(
      new PolicyStatement({
        sid: 'TenantStore',
        actions: shards > 1 ? [...TENANT_STORE_ACTIONS, 'dynamodb:BatchGetItem'] : TENANT_STORE_ACTIONS,
        resources: [this.table.tableArn],
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        sid: 'TenantStoreIndexes',
        actions: ['dynamodb:Query', 'dynamodb:Scan'],
        resources: this.indexNames.map((name) => `${this.table.tableArn}/index/${name}`),
      }),
    );
    addSettings(fn, { DORMOUSE_TABLE_NAME: this.table.tableName });
  }

  /**
   * Lets `fn` read tenant records and the routing slot counter, query the indexes, and replace
   * a tenant record with a single conditional put, nothing more, and tells it the table. This
   * is what the wake function does: it is public, so it gets no update, delete or transaction
   * rights, and by the items' partition keys (dynamodb:LeadingKeys) it can neither read nor
   * write email claims, the tenant counter or the sweep's markers.
   */
  bindWakeStore(fn: LambdaFunction, { shards = 1 }: { shards?: number } = {}): void {
    // With several shards, every shard's slot counter, read in one BatchGetItem.
    const counters = shards > 1 ? [keys.routingCounter(0), `${keys.routingCounter(0)}#*`] : [keys.routingCounter(0)];
    fn.addToRolePolicy(
      new PolicyStatement({
        sid: 'ReadTenantsAndSlots',
        actions: shards > 1 ? ['dynamodb:GetItem', 'dynamodb:BatchGetItem'] : ['dynamodb:GetItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [keys.tenant('*'), ...counters] } },
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        sid: 'WakeOrEvictTenants',
        actions: ['dynamodb:PutItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [keys.tenant('*')] } },
      }),
    );
    // The recent wake durations behind the waking page's estimate: one item, read and rewritten whole.
    fn.addToRolePolicy(
      new PolicyStatement({
        sid: 'RecentWakeTimes',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [keys.wakeTimes] } },
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        sid: 'QueryTenantIndexes',
        actions: ['dynamodb:Query'],
        resources: this.indexNames.map((name) => `${this.table.tableArn}/index/${name}`),
      }),
    );
    addSettings(fn, { DORMOUSE_TABLE_NAME: this.table.tableName });
  }

  /**
   * Lets `fn` keep tenants' timelines (dynamodb-timeline.ts) and nothing else of the table: by
   * the items' partition keys (dynamodb:LeadingKeys) it can touch neither tenant records, nor
   * claims, nor counters. Tells it the table.
   */
  bindTimelineWriter(fn: LambdaFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({
        sid: 'TenantTimelines',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [keys.timeline('*')] } },
      }),
    );
    addSettings(fn, { DORMOUSE_TABLE_NAME: this.table.tableName });
  }

  /** Lets `fn` read tenants' timelines: the head, then the entries in one BatchGetItem. */
  bindTimelineReader(fn: LambdaFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({
        sid: 'ReadTenantTimelines',
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [keys.timeline('*')] } },
      }),
    );
  }

  /** Lets `fn` keep Powertools idempotency records, and tells it the table. */
  bindIdempotencyStore(fn: LambdaFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({
        sid: 'IdempotencyStore',
        actions: IDEMPOTENCY_ACTIONS,
        resources: [this.idempotencyTable.tableArn],
      }),
    );
    addSettings(fn, { DORMOUSE_IDEMPOTENCY_TABLE_NAME: this.idempotencyTable.tableName });
  }

  /** The stream the event pipe reads. */
  get streamArn(): string {
    const arn = this.table.tableStreamArn;
    if (!arn) throw new Error('The tenant table has no stream');
    return arn;
  }
}
