import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { WakeTime, WakeTimes } from '../../ports/wake-times.js';
import { documentClientFor } from './dynamodb-tenant-store.js';
import { TENANT_TABLE, keys } from './tenant-table.js';

/**
 * The recent wakes in one small item of the tenant table (`stats#wake-times`): at most `keep`
 * entries of a few dozen bytes, read whole with one eventually consistent GetItem. Writes are
 * conditional on the version read; a writer that meets another's write gives up, as the wake it
 * carries is most likely the same one.
 */
export class DynamoDbWakeTimes implements WakeTimes {
  private readonly tableName: string;
  private readonly client: DynamoDBDocumentClient;
  private readonly keep: number;

  constructor({
    tableName,
    client = documentClientFor(),
    keep = 20,
  }: {
    tableName: string;
    client?: DynamoDBDocumentClient;
    keep?: number;
  }) {
    this.tableName = tableName;
    this.client = client;
    this.keep = keep;
  }

  async recent(): Promise<WakeTime[]> {
    return (await this.read(false)).wakes;
  }

  async record(wake: WakeTime): Promise<void> {
    const { wakes, version } = await this.read(true);
    if (wakes.some((kept) => kept.wokenAt === wake.wokenAt)) return;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            [TENANT_TABLE.partitionKey]: keys.wakeTimes,
            kind: 'wakeTimes',
            wakes: [...wakes, wake].slice(-this.keep),
            version: version + 1,
          },
          ConditionExpression: version === 0 ? 'attribute_not_exists(#pk)' : '#version = :version',
          ExpressionAttributeNames: version === 0 ? { '#pk': TENANT_TABLE.partitionKey } : { '#version': 'version' },
          ...(version === 0 ? {} : { ExpressionAttributeValues: { ':version': version } }),
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  private async read(consistent: boolean): Promise<{ wakes: WakeTime[]; version: number }> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { [TENANT_TABLE.partitionKey]: keys.wakeTimes }, ConsistentRead: consistent }),
    );
    const wakes = Array.isArray(Item?.wakes) ? (Item.wakes as WakeTime[]) : [];
    return { wakes, version: typeof Item?.version === 'number' ? Item.version : 0 };
  }
}
