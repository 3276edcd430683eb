import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { QueryCommandOutput, ScanCommandOutput } from '@aws-sdk/lib-dynamodb';
import {
  EmailInUseError,
  SlotsFullError,
  SlugTakenError,
  TenantCeilingError,
  ValidationError,
  VersionConflictError,
} from '../../domain/errors.js';
import { normalizeEmail } from '../../domain/email.js';
import { isActive, isAwaitingVerification } from '../../domain/tenant.js';
import type { Tenant } from '../../domain/tenant.js';
import type { CreateLimits, ListQuery, Page, PendingSignups, ReadOptions, SaveOptions, TenantStore } from '../../ports/tenant-store.js';
import { CEILING_SHARES, LEGACY_FROZEN_OFFSET, shareOf, shareOrder } from './tenant-ceiling.js';
import { TENANT_TABLE, keys } from './tenant-table.js';

type Item = Record<string, unknown>;
type TransactItem = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number];
type TransactPut = NonNullable<TransactItem['Put']>;

/** Adds `delta` to a counter item; with `below`, only while the counter stays under it. */
function counterUpdate(TableName: string, pk: string, attribute: string, delta: number, below?: number): TransactItem {
  return {
    Update: {
      TableName,
      Key: { pk },
      UpdateExpression: 'ADD #count :delta',
      ExpressionAttributeNames: { '#count': attribute },
      ExpressionAttributeValues: { ':delta': delta, ...(below !== undefined ? { ':below': below } : {}) },
      ...(below !== undefined ? { ConditionExpression: 'attribute_not_exists(#count) OR #count < :below' } : {}),
    },
  };
}

/** Attributes that exist only for keys and indexes; a Tenant read back never carries them. */
const STORAGE_ATTRIBUTES = [
  'pk',
  'kind',
  TENANT_TABLE.phaseIndex.partitionKey,
  TENANT_TABLE.activeIndex.partitionKey,
  TENANT_TABLE.trialIndex.partitionKey,
  TENANT_TABLE.warmIndex.partitionKey,
  'emailHash',
];

/** Positions in the create transaction; cancellation reasons come back in the same order. */
const CREATE_TENANT = 0;
const CREATE_EMAIL_CLAIM = 1;
const CREATE_COUNTER = 2;
/** Positions in the admit transaction. */
const ADMIT_CLAIM = 1;
const ADMIT_COUNTER = 2;

/**
 * Writers that touch the same item at once (two signups on one counter item, two saves of a
 * tenant) cancel each other with TransactionConflict. The SDK's own retries do not cover it
 * (TransactionCanceledException is a 400 it leaves to the caller), so the write is retried here.
 */
const CONFLICT_ATTEMPTS = 6;
const CONFLICT_BACKOFF_MS = 20;
const CONFLICT_BACKOFF_MAX_MS = 1_000;
/**
 * A signup moves to another counter item at each conflict, and a burst of hundreds at the same
 * instant needs several rounds to get through ten items: more tries than a single write, still
 * bounded (the pauses add up to about five seconds at most).
 */
const CEILING_CONFLICT_ATTEMPTS = 10;

/** Bounds one listing call on a table where many items are not tenants (claims, counter). */
const MAX_SCAN_ROUNDS = 25;

/** Keys the one-trial-per-email claim: `ann+1@example.com` and `ann@example.com` share one. */
export function emailHash(email: string): string {
  return createHash('sha256').update(normalizeEmail(email)).digest('hex');
}

/** Epoch seconds of an ISO time, as DynamoDB TTL wants them. */
function epochSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}

/**
 * The document client every Dormouse table is used through: optional fields left undefined are
 * simply not written, so a record never fails to marshal for a field it does not have.
 */
export function documentClientFor(client: DynamoDBClient = new DynamoDBClient({})): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export class DynamoDbTenantStore implements TenantStore, PendingSignups {
  readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;
  /** Items the tenant count is split over: every store on one table must use the same number. */
  private readonly ceilingShares: number;
  /** Set once the legacy counter is frozen at zero: nothing can raise it again, so no more reads. */
  private legacyEmpty = false;

  /** `ceilingShares` other than the default is for comparisons (1 is the single hot item). */
  constructor({
    tableName,
    client = documentClientFor(),
    ceilingShares = CEILING_SHARES,
  }: {
    tableName: string;
    client?: DynamoDBDocumentClient;
    ceilingShares?: number;
  }) {
    this.tableName = tableName;
    this.client = client;
    this.ceilingShares = ceilingShares;
  }

  /**
   * A confirmed signup takes the slug, the email claim and a place under the ceiling in one
   * transaction. An unconfirmed one (PendingVerification) takes the slug and the claim only, both
   * expiring with it; it takes its place under the ceiling when confirmed (`save` with `admit`).
   * A slug or claim whose expiry has passed counts as free even before TTL has removed it.
   */
  async create(tenant: Tenant, { maxTenants }: CreateLimits): Promise<Tenant> {
    const stored = { ...tenant, version: tenant.version + 1 };
    const TableName = this.tableName;
    const pending = isAwaitingVerification(tenant);
    const now = Math.floor(Date.parse(tenant.createdAt) / 1000);
    const expiredAttributes = { '#expiresAt': TENANT_TABLE.ttlAttribute };
    const transaction = (share?: { index: number; below: number }): TransactItem[] => [
      {
        Put: {
          TableName,
          Item: tenantItem(stored),
          // Only an unconfirmed signup that has expired gives its slug away; tombstones keep it.
          ConditionExpression: 'attribute_not_exists(pk) OR (#phase = :pending AND #expiresAt < :now)',
          ExpressionAttributeNames: { ...expiredAttributes, '#phase': TENANT_TABLE.phaseIndex.partitionKey },
          ExpressionAttributeValues: { ':pending': 'PendingVerification', ':now': now },
        },
      },
      {
        Put: {
          TableName,
          Item: emailClaim(tenant, pending ? tenant.expiresAt : undefined, share?.index),
          ConditionExpression: 'attribute_not_exists(pk) OR #expiresAt < :now',
          ExpressionAttributeNames: expiredAttributes,
          ExpressionAttributeValues: { ':now': now },
        },
      },
      ...(share ? [counterUpdate(TableName, keys.tenantCounterShare(share.index), 'liveCount', 1, share.below)] : []),
    ];
    try {
      if (pending) await retryingConflicts(() => this.client.send(new TransactWriteCommand({ TransactItems: transaction() })));
      else await this.withinCeiling(maxTenants, CREATE_COUNTER, (share) => transaction(share));
    } catch (error) {
      const failed = failedConditions(error);
      if (failed.includes(CREATE_TENANT)) throw withCause(new SlugTakenError(tenant.id), error);
      if (failed.includes(CREATE_EMAIL_CLAIM)) throw withCause(new EmailInUseError(), error);
      throw error;
    }
    return stored;
  }

  /**
   * Runs a transaction that takes a place in one counter item: a random one first (see
   * `shareOrder`). When that item is full (its own condition, at `counterAt`, failed alone), the
   * items' counts are read once and only those with room are tried, so that signups at the
   * ceiling do not pile onto full items. When another transaction holds it (a conflict), the
   * next item is tried after a jittered pause: a busy item is the one place likely to be busy
   * again. Any other failed condition is the caller's answer and ends the tries. Throws
   * TenantCeilingError when no item has room; at most one full answer per item and
   * CEILING_CONFLICT_ATTEMPTS conflicts in all, so the tries are bounded.
   */
  private async withinCeiling(
    maxTenants: number,
    counterAt: number,
    transaction: (share: { index: number; below: number }) => TransactItem[],
  ): Promise<void> {
    const room = maxTenants - (await this.legacyCount());
    const below = (index: number) => shareOf(index, this.ceilingShares, room);
    let open = shareOrder(this.ceilingShares, room);
    let countsRead = false;
    let full: unknown;
    for (let conflicts = 0, next = 0; open.length > 0;) {
      const index = open[next % open.length]!;
      try {
        await this.client.send(new TransactWriteCommand({ TransactItems: transaction({ index, below: below(index) }) }));
        return;
      } catch (error) {
        const failed = failedConditions(error);
        if (failed.length === 1 && failed[0] === counterAt) {
          full = error;
          open = open.filter((other) => other !== index);
          if (!countsRead) {
            const counts = await this.shareCounts();
            open = open.filter((other) => counts[other]! < below(other));
            countsRead = true;
          }
        } else if (isTransactionConflict(error) && ++conflicts < CEILING_CONFLICT_ATTEMPTS) {
          next += 1;
          await sleep(conflictBackoffMs(conflicts));
        } else {
          throw error;
        }
      }
    }
    const refused = new TenantCeilingError(maxTenants);
    throw full === undefined ? refused : withCause(refused, full);
  }

  /** Each counter item's count, by index; consistent, so a place freed a moment ago is seen. */
  private async shareCounts(): Promise<number[]> {
    return Promise.all(
      Array.from({ length: this.ceilingShares }, (_, index) => this.readCounter(keys.tenantCounterShare(index), 'liveCount')),
    );
  }

  /**
   * Tenants still counted by the single item of before the split (see tenant-ceiling.ts). The
   * first call freezes that item, so that code of the previous version can no longer add to it.
   * An eventually consistent read is enough: an older value is a larger one.
   */
  private async legacyCount(): Promise<number> {
    if (this.legacyEmpty) return 0;
    const Key = { pk: keys.tenantCounter };
    let { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key }));
    if (Item?.frozen !== true) {
      try {
        ({ Attributes: Item } = await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key,
            UpdateExpression: 'ADD #count :offset SET #frozen = :true',
            ConditionExpression: 'attribute_not_exists(#frozen)',
            ExpressionAttributeNames: { '#count': 'liveCount', '#frozen': 'frozen' },
            ExpressionAttributeValues: { ':offset': LEGACY_FROZEN_OFFSET, ':true': true },
            ReturnValues: 'ALL_NEW',
          }),
        ));
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // Another signup froze it first; read what it left.
        ({ Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key, ConsistentRead: true })));
      }
    }
    const count = Number(Item?.liveCount ?? LEGACY_FROZEN_OFFSET) - LEGACY_FROZEN_OFFSET;
    if (count <= 0) this.legacyEmpty = true;
    return Math.max(count, 0);
  }

  /**
   * The counter item that holds a tenant's place: the share its email claim names, or the
   * legacy item for a tenant admitted before the split. Undefined for a tenant never admitted.
   * A live tenant's claim is its own and never changes, so reading it before the write is safe.
   */
  private async countedBy(tenant: Tenant): Promise<string | undefined> {
    if (isAwaitingVerification(tenant)) return undefined;
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.email(emailHash(tenant.email)) }, ConsistentRead: true }),
    );
    const share = Item?.tenantId === tenant.id ? Item.ceilingShare : undefined;
    return typeof share === 'number' ? keys.tenantCounterShare(share) : keys.tenantCounter;
  }

  /**
   * Takes back an unconfirmed signup whose mail could not be sent: the record and its email
   * claim go, so the visitor can try again at once. Only while it is still the version written.
   */
  async discardPending(tenant: Tenant): Promise<void> {
    const TableName = this.tableName;
    await this.client.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Delete: {
              TableName,
              Key: { pk: keys.tenant(tenant.id) },
              ConditionExpression: '#version = :expected AND #phase = :pending',
              ExpressionAttributeNames: { '#version': 'version', '#phase': TENANT_TABLE.phaseIndex.partitionKey },
              ExpressionAttributeValues: { ':expected': tenant.version, ':pending': 'PendingVerification' },
            },
          },
          {
            Delete: {
              TableName,
              Key: { pk: keys.email(emailHash(tenant.email)) },
              ConditionExpression: 'tenantId = :id',
              ExpressionAttributeValues: { ':id': tenant.id },
            },
          },
        ],
      }),
    );
  }

  async get(id: string, { consistent = true }: ReadOptions = {}): Promise<Tenant | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.tenant(id) }, ConsistentRead: consistent }),
    );
    return Item ? tenantFromItem(Item) : undefined;
  }

  /**
   * `releaseClaims` gives back the place under the ceiling without checking that it is still
   * held: the caller passes it only on the write that turns `desired` into 'deleted', and the
   * version condition lets that write succeed once, so the release happens once too. The email
   * claim is not freed then but given an expiry at the end of the trial period: deleting a trial
   * and signing up again with the same address does not give a fresh trial.
   * `admit` is the confirmation of a PendingVerification signup: it takes its place under the
   * ceiling (TenantCeilingError past it) and makes its email claim permanent.
   */
  async save(tenant: Tenant, { releaseClaims = false, routingSlot, admit }: SaveOptions = {}): Promise<Tenant> {
    const stored = { ...tenant, version: tenant.version + 1 };
    const TableName = this.tableName;
    const put = {
      TableName,
      Item: tenantItem(stored),
      ConditionExpression: '#version = :expected',
      ExpressionAttributeNames: { '#version': 'version' },
      ExpressionAttributeValues: { ':expected': tenant.version },
    };
    if (admit) return this.admit(tenant, stored, put, admit.maxTenants);
    const alongside: TransactItem[] = [];
    if (releaseClaims) {
      // A tenant with no end date (a converted one) frees its address at once.
      const claimUntil = epochSeconds(tenant.trialEndsAt ?? new Date().toISOString());
      const counter = await this.countedBy(tenant);
      alongside.push(
        { Put: { TableName, Item: emailClaim(tenant, claimUntil) } },
        ...(counter ? [counterUpdate(TableName, counter, 'liveCount', -1)] : []),
      );
    }
    // The slot flag on the tenant flips in the same conditional write, so a slot is taken or
    // given back exactly once whatever the retries.
    if (routingSlot?.claim) {
      alongside.push(counterUpdate(TableName, keys.routingCounter(routingSlot.shard ?? 0), 'activeCount', 1, routingSlot.maxActiveTenants));
    } else if (routingSlot) {
      alongside.push(counterUpdate(TableName, keys.routingCounter(routingSlot.shard ?? 0), 'activeCount', -1));
    }
    try {
      if (alongside.length === 0) {
        await retryingConflicts(() => this.client.send(new PutCommand(put)));
      } else {
        const command = new TransactWriteCommand({ TransactItems: [{ Put: put }, ...alongside] });
        await retryingConflicts(() => this.client.send(command));
      }
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || failedConditions(error).includes(0)) {
        throw new VersionConflictError(tenant.id, tenant.version, { cause: error });
      }
      if (routingSlot?.claim && failedConditions(error).length > 0) {
        throw new SlotsFullError(routingSlot.maxActiveTenants, { cause: error });
      }
      throw error;
    }
    return stored;
  }

  /** The confirmation of a PendingVerification signup: see `save`. */
  private async admit(tenant: Tenant, stored: Tenant, put: TransactPut, maxTenants: number): Promise<Tenant> {
    const TableName = this.tableName;
    try {
      await this.withinCeiling(maxTenants, ADMIT_COUNTER, ({ index, below }) => [
        { Put: put },
        {
          Put: {
            TableName,
            Item: emailClaim(tenant, undefined, index),
            ConditionExpression: 'tenantId = :id',
            ExpressionAttributeValues: { ':id': tenant.id },
          },
        },
        counterUpdate(TableName, keys.tenantCounterShare(index), 'liveCount', 1, below),
      ]);
    } catch (error) {
      const failed = failedConditions(error);
      if (failed.includes(0)) throw new VersionConflictError(tenant.id, tenant.version, { cause: error });
      if (failed.includes(ADMIT_CLAIM)) throw withCause(new EmailInUseError(), error);
      throw error;
    }
    return stored;
  }

  async list({ phase, limit, cursor }: ListQuery): Promise<Page<Tenant>> {
    const startKey = cursor === undefined ? undefined : decodeCursor(cursor, phase);
    let last: Item | undefined;
    const items: Item[] = [];
    if (phase !== undefined) {
      const { name, partitionKey } = TENANT_TABLE.phaseIndex;
      const page: QueryCommandOutput = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: name,
          KeyConditionExpression: '#phase = :phase',
          // Timeline entries carry a phase and a creation time too, so the index holds them as well.
          FilterExpression: '#kind = :tenant',
          ExpressionAttributeNames: { '#phase': partitionKey, '#kind': 'kind' },
          ExpressionAttributeValues: { ':phase': phase, ':tenant': 'tenant' },
          ScanIndexForward: false,
          Limit: limit,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      last = page.LastEvaluatedKey;
    } else {
      // Limit counts items read before the filter, so asking for only what is missing keeps
      // LastEvaluatedKey exactly after the last tenant returned, and a cursor never skips one.
      last = startKey;
      for (let round = 0; round < MAX_SCAN_ROUNDS && items.length < limit; round++) {
        const page: ScanCommandOutput = await this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            FilterExpression: '#kind = :tenant',
            ExpressionAttributeNames: { '#kind': 'kind' },
            ExpressionAttributeValues: { ':tenant': 'tenant' },
            Limit: limit - items.length,
            ExclusiveStartKey: last,
          }),
        );
        items.push(...(page.Items ?? []));
        last = page.LastEvaluatedKey;
        if (!last) break;
      }
    }
    return { items: items.map(tenantFromItem), ...(last ? { cursor: encodeCursor(last) } : {}) };
  }

  /** Tenants that have, or are getting, a task, least recently active first (the sparse index). */
  async listActive({ limit, cursor }: { limit: number; cursor?: string }): Promise<Page<Tenant>> {
    const { name, partitionKey } = TENANT_TABLE.activeIndex;
    return this.queryIndex(
      {
        IndexName: name,
        KeyConditionExpression: '#key = :key',
        ExpressionAttributeNames: { '#key': partitionKey },
        ExpressionAttributeValues: { ':key': 'active' },
      },
      limit,
      cursor,
    );
  }

  /** Tenants not yet asked to go whose trial ends before `time`, soonest first. */
  async listTrialsEndingBefore(time: string, { limit, cursor }: { limit: number; cursor?: string }): Promise<Page<Tenant>> {
    const { name, partitionKey, sortKey } = TENANT_TABLE.trialIndex;
    return this.queryIndex(
      {
        IndexName: name,
        KeyConditionExpression: '#key = :key AND #end < :time',
        ExpressionAttributeNames: { '#key': partitionKey, '#end': sortKey },
        ExpressionAttributeValues: { ':key': 'trial', ':time': time },
      },
      limit,
      cursor,
    );
  }

  /** Sleeping tenants whose keep-warm hours begin at or before `time`, soonest first. */
  async listWarmDue(time: string, { limit, cursor }: { limit: number; cursor?: string }): Promise<Page<Tenant>> {
    const { name, partitionKey, sortKey } = TENANT_TABLE.warmIndex;
    return this.queryIndex(
      {
        IndexName: name,
        KeyConditionExpression: '#key = :key AND #warmAt <= :time',
        ExpressionAttributeNames: { '#key': partitionKey, '#warmAt': sortKey },
        ExpressionAttributeValues: { ':key': 'warm', ':time': time },
      },
      limit,
      cursor,
    );
  }

  /** Queued tenants that joined the queue before `queuedAt`: the tenant's place in line. */
  async countQueuedBefore(queuedAt: string): Promise<number> {
    const { name, partitionKey } = TENANT_TABLE.phaseIndex;
    let count = 0;
    let startKey: Item | undefined;
    do {
      const page: QueryCommandOutput = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: name,
          KeyConditionExpression: '#phase = :queued',
          FilterExpression: '#status.#queuedAt < :at',
          ExpressionAttributeNames: { '#phase': partitionKey, '#status': 'status', '#queuedAt': 'queuedAt' },
          ExpressionAttributeValues: { ':queued': 'Queued', ':at': queuedAt },
          Select: 'COUNT',
          ExclusiveStartKey: startKey,
        }),
      );
      count += page.Count ?? 0;
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return count;
  }

  /** Where a paged background job left off; undefined when it should start from the top. */
  async getMarker(name: string): Promise<string | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk: keys.marker(name) } }));
    return typeof Item?.value === 'string' ? Item.value : undefined;
  }

  async setMarker(name: string, value: string | undefined): Promise<void> {
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { pk: keys.marker(name), kind: 'marker', ...(value ? { value } : {}) } }),
    );
  }

  private async queryIndex(
    query: Pick<
      ConstructorParameters<typeof QueryCommand>[0],
      'IndexName' | 'KeyConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
    >,
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<Tenant>> {
    const page: QueryCommandOutput = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        ...query,
        Limit: limit,
        ...(cursor ? { ExclusiveStartKey: JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Item } : {}),
      }),
    );
    const last = page.LastEvaluatedKey;
    return { items: (page.Items ?? []).map(tenantFromItem), ...(last ? { cursor: encodeCursor(last) } : {}) };
  }

  /** Live tenants as counted against the ceiling: the items' counts and the legacy count. */
  async countLiveTenants(): Promise<number> {
    const [legacy, counts] = await Promise.all([this.readCounter(keys.tenantCounter, 'liveCount'), this.shareCounts()]);
    const sum = counts.reduce((total, count) => total + count, 0);
    return sum + (legacy >= LEGACY_FROZEN_OFFSET / 2 ? legacy - LEGACY_FROZEN_OFFSET : legacy);
  }

  /** Tenants holding a routing slot on one shard, as counted against its load balancer's ceiling. */
  async countRoutingSlots(shard = 0): Promise<number> {
    return this.readCounter(keys.routingCounter(shard), 'activeCount');
  }

  /** Every shard's count in one BatchGetItem (at most 20 shards: well under its 100 keys). */
  async routingSlotsByShard(shards: number): Promise<number[]> {
    const wanted = Array.from({ length: shards }, (_, shard) => keys.routingCounter(shard));
    const counts = new Map<string, number>();
    let Keys: Item[] = wanted.map((pk) => ({ pk }));
    for (let round = 0; Keys.length > 0 && round < MAX_SCAN_ROUNDS; round++) {
      const { Responses, UnprocessedKeys } = await this.client.send(
        new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys, ConsistentRead: true } } }),
      );
      for (const item of Responses?.[this.tableName] ?? []) {
        if (typeof item.activeCount === 'number') counts.set(item.pk as string, item.activeCount);
      }
      // Throttled keys come back unprocessed: ask again for those only.
      Keys = (UnprocessedKeys?.[this.tableName]?.Keys as Item[] | undefined) ?? [];
    }
    if (Keys.length > 0) throw new Error('Could not read the routing slot counters: DynamoDB kept them unprocessed');
    return wanted.map((pk) => counts.get(pk) ?? 0);
  }

  private async readCounter(pk: string, attribute: string): Promise<number> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk }, ConsistentRead: true }));
    const value = Item?.[attribute];
    return typeof value === 'number' ? value : 0;
  }
}

/** The claim that keeps one trial per (normalised) email address; with an expiry, it lapses then. */
function emailClaim(tenant: Tenant, expiresAt: number | undefined, ceilingShare?: number): Item {
  return {
    pk: keys.email(emailHash(tenant.email)),
    kind: 'emailClaim',
    tenantId: tenant.id,
    // Which counter item holds the tenant's place, so that its deletion gives back that one.
    ...(ceilingShare !== undefined ? { ceilingShare } : {}),
    ...(expiresAt !== undefined ? { [TENANT_TABLE.ttlAttribute]: expiresAt } : {}),
  };
}

/** The stored item of a tenant, index keys included: for bulk loads that bypass `create`. */
export function tenantItem(tenant: Tenant): Item {
  return {
    ...tenant,
    pk: keys.tenant(tenant.id),
    kind: 'tenant',
    [TENANT_TABLE.phaseIndex.partitionKey]: tenant.status.phase,
    // Omitted rather than nulled: an item without the key is not in the index at all.
    ...(isActive(tenant) ? { [TENANT_TABLE.activeIndex.partitionKey]: 'active' } : {}),
    // An unconfirmed signup has no trial running yet; it simply expires.
    ...(tenant.trialEndsAt && tenant.spec.desired !== 'deleted' && !isAwaitingVerification(tenant)
      ? { [TENANT_TABLE.trialIndex.partitionKey]: 'trial' }
      : {}),
    // Only a tenant asked to sleep waits to be woken for its hours; one woken meanwhile leaves at once.
    ...(tenant.warmAt && tenant.spec.desired === 'passivated' ? { [TENANT_TABLE.warmIndex.partitionKey]: 'warm' } : {}),
    emailHash: emailHash(tenant.email),
  };
}

/** A stored item as a Tenant; also maps the table's stream images, which have the same layout. */
export function tenantFromItem(item: Item): Tenant {
  const tenant = { ...item };
  for (const name of STORAGE_ATTRIBUTES) delete tenant[name];
  return tenant as unknown as Tenant;
}

/** Indexes of the transaction items whose condition failed; empty for any other error. */
function failedConditions(error: unknown): number[] {
  if (!(error instanceof TransactionCanceledException)) return [];
  return (error.CancellationReasons ?? []).flatMap((reason, index) => (reason.Code === 'ConditionalCheckFailed' ? [index] : []));
}

/**
 * Another transaction holding the same items is not an answer about our conditions, so the
 * write is tried again; a failed condition is an answer and is never retried.
 */
function isTransactionConflict(error: unknown): boolean {
  if (error instanceof TransactionConflictException) return true;
  if (!(error instanceof TransactionCanceledException) || failedConditions(error).length > 0) return false;
  return (error.CancellationReasons ?? []).some((reason) => reason.Code === 'TransactionConflict');
}

/** Full jitter, so writers that collided once do not collide again in step. */
function conflictBackoffMs(attempt: number): number {
  return Math.random() * Math.min(CONFLICT_BACKOFF_MAX_MS, CONFLICT_BACKOFF_MS * 2 ** attempt);
}

async function retryingConflicts<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (attempt >= CONFLICT_ATTEMPTS || !isTransactionConflict(error)) throw error;
      await sleep(conflictBackoffMs(attempt));
    }
  }
}

function withCause<E extends Error>(error: E, cause: unknown): E {
  // The domain errors take no options; the cause is still worth having in the log.
  Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true });
  return error;
}

function encodeCursor(key: Item): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * A cursor is only ever a key this store returned, for the same kind of listing: a scan key is
 * `{ pk }`, a phase key is `{ pk, phase, createdAt }` for that phase. Anything else is refused
 * here rather than sent to DynamoDB, which would start from wherever the key points.
 */
function decodeCursor(cursor: string, phase: string | undefined): Item {
  const invalid = (cause?: unknown) => {
    const error = new ValidationError('cursor is not one this API returned', { cursor: 'is not valid' });
    return cause === undefined ? error : withCause(error, cause);
  };
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (error) {
    throw invalid(error);
  }
  if (typeof key !== 'object' || key === null || Array.isArray(key)) throw invalid();
  const entries = Object.entries(key);
  // DynamoDB refuses empty key values and keys over 1 KiB of sort key: reject them as ours.
  if (!entries.every(([, value]) => typeof value === 'string' && value.length > 0 && value.length <= 1024)) throw invalid();
  const { partitionKey, phaseIndex } = TENANT_TABLE;
  const expected = phase === undefined ? [partitionKey] : [partitionKey, phaseIndex.partitionKey, phaseIndex.sortKey];
  const names = entries.map(([name]) => name);
  if (names.length !== expected.length || !expected.every((name) => names.includes(name))) throw invalid();
  if (phase !== undefined && (key as Item)[phaseIndex.partitionKey] !== phase) throw invalid();
  return key as Item;
}
