import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { isNewer, TIMELINE_LENGTH, type TimelineEntry } from '../../domain/timeline.js';
import type { TimelineStore } from '../../ports/timeline.js';
import { documentClientFor } from './dynamodb-tenant-store.js';
import { keys } from './tenant-table.js';

type Item = Record<string, unknown>;

/** An entry outlives its tenant by at most this long, should its removal at delete be missed. */
const ENTRY_TTL_SECONDS = 90 * 86_400;
/** Two appends for one tenant at once are unusual (one stream shard feeds one publisher); a few tries settle it. */
const APPEND_ATTEMPTS = 3;
/** BatchWriteItem takes at most 25 requests. */
const BATCH_WRITE_LIMIT = 25;
/** Rounds of asking again for throttled keys before giving up. */
const MAX_BATCH_ROUNDS = 10;

/**
 * Timelines in the tenant table, as a ring per tenant: a head item `timeline#<id>` counts the
 * entries ever written and remembers the last record version, and entry n is the item
 * `timeline#<id>#<n mod TIMELINE_LENGTH>`. The bound needs no deletes: the newest entry
 * overwrites the oldest. An append costs a strongly consistent read of the head (1 RCU) and two
 * writes of under 1 KB (2 WCU); the tenant record itself does not grow. The items are not tenant
 * records (`kind` is `timeline`), so the stream's consumers skip them (the Pipe filters them out).
 */
export class DynamoDbTimeline implements TimelineStore {
  private readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;

  constructor({ tableName, client = documentClientFor() }: { tableName: string; client?: DynamoDBDocumentClient }) {
    this.tableName = tableName;
    this.client = client;
  }

  async append(tenantId: string, entry: TimelineEntry): Promise<boolean> {
    const expiresAt = Math.floor(Date.parse(entry.at) / 1000) + ENTRY_TTL_SECONDS;
    for (let attempt = 1; ; attempt++) {
      const head = await this.head(tenantId, true);
      // The stream delivers a tenant's changes in order: an older version is a redelivery.
      if (head && !isNewer(entry, head)) return false;
      const count = head?.count ?? 0;
      // Written before the head moves: a crash in between writes the same slot again on retry.
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          // The entry is kept whole under one attribute: its phase and createdAt at the top level
          // would put it in the tenant indexes (byPhase is keyed by both).
          Item: { pk: keys.timelineSlot(tenantId, count % TIMELINE_LENGTH), kind: 'timeline', expiresAt, entry },
        }),
      );
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: keys.timeline(tenantId) },
            UpdateExpression: 'SET #count = :next, #version = :version, createdAt = :createdAt, kind = :kind, expiresAt = :expiresAt',
            ConditionExpression: head ? '#count = :count' : 'attribute_not_exists(pk)',
            ExpressionAttributeNames: { '#count': 'entries', '#version': 'version' },
            ExpressionAttributeValues: {
              ':next': count + 1,
              ':version': entry.version,
              ':createdAt': entry.createdAt,
              ':kind': 'timeline',
              ':expiresAt': expiresAt,
              ...(head ? { ':count': count } : {}),
            },
          }),
        );
        return true;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= APPEND_ATTEMPTS) throw error;
      }
    }
  }

  async read(tenantId: string): Promise<TimelineEntry[]> {
    const head = await this.head(tenantId, false);
    if (!head || head.count === 0) return [];
    const items = await this.batchGet(this.slotKeys(tenantId, head.count));
    // Slots not yet overwritten may still hold entries of an earlier tenant of the same slug.
    return items
      .map(entryOf)
      .filter((entry) => entry.createdAt === head.createdAt)
      .sort((a, b) => a.version - b.version);
  }

  async remove(tenantId: string): Promise<void> {
    const head = await this.head(tenantId, true);
    if (!head) return;
    // The head last: should this stop half-way, the next removal still finds the slots.
    await this.batchDelete(this.slotKeys(tenantId, head.count));
    await this.batchDelete([{ pk: keys.timeline(tenantId) }]);
  }

  private slotKeys(tenantId: string, count: number): Item[] {
    return Array.from({ length: Math.min(count, TIMELINE_LENGTH) }, (_, slot) => ({ pk: keys.timelineSlot(tenantId, slot) }));
  }

  private async head(tenantId: string, consistent: boolean): Promise<{ count: number; version: number; createdAt: string } | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.timeline(tenantId) }, ConsistentRead: consistent }),
    );
    if (!Item) return undefined;
    return { count: Number(Item.entries ?? 0), version: Number(Item.version ?? 0), createdAt: String(Item.createdAt ?? '') };
  }

  private async batchGet(wanted: Item[]): Promise<Item[]> {
    const found: Item[] = [];
    let Keys = wanted;
    for (let round = 0; Keys.length > 0 && round < MAX_BATCH_ROUNDS; round++) {
      const { Responses, UnprocessedKeys } = await this.client.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys } } }));
      found.push(...((Responses?.[this.tableName] as Item[] | undefined) ?? []));
      // Throttled keys come back unprocessed: ask again for those only.
      Keys = (UnprocessedKeys?.[this.tableName]?.Keys as Item[] | undefined) ?? [];
    }
    if (Keys.length > 0) throw new Error('Could not read the timeline: DynamoDB kept its items unprocessed');
    return found;
  }

  private async batchDelete(keysToDelete: Item[]): Promise<void> {
    for (let start = 0; start < keysToDelete.length; start += BATCH_WRITE_LIMIT) {
      let requests = keysToDelete.slice(start, start + BATCH_WRITE_LIMIT).map((Key) => ({ DeleteRequest: { Key } }));
      for (let round = 0; requests.length > 0 && round < MAX_BATCH_ROUNDS; round++) {
        const { UnprocessedItems } = await this.client.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
        requests = (UnprocessedItems?.[this.tableName] as typeof requests | undefined) ?? [];
      }
      if (requests.length > 0) throw new Error('Could not remove the timeline: DynamoDB kept its items unprocessed');
    }
  }
}

function entryOf(item: Item): TimelineEntry {
  return item.entry as TimelineEntry;
}
