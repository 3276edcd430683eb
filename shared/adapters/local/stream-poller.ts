import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './dynamodb-local.js';

export interface StreamPollerOptions {
  dynamoClient: DynamoDBClient;
  endpoint: string;
  tableName: string;
  /** Receives each batch in stream order, in the shape a Lambda (or a Pipe) would get it. */
  onRecords: (records: DynamoDBRecord[]) => Promise<void>;
  onError?: (error: unknown) => void;
  intervalMs?: number;
}

export interface StreamPoller {
  stop(): Promise<void>;
}

/**
 * Reads the table's stream from DynamoDB Local and hands it on, as the EventBridge Pipe does on
 * AWS. Starts at the latest record: what happened before a restart is covered by the startup
 * resync, as lost events are by the sweep. A batch that fails is handed on again.
 */
export async function pollStream(options: StreamPollerOptions): Promise<StreamPoller> {
  const { dynamoClient, endpoint, tableName, onRecords, onError = () => {}, intervalMs = 200 } = options;
  const streams = new DynamoDBStreamsClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  const { Table } = await dynamoClient.send(new DescribeTableCommand({ TableName: tableName }));
  const streamArn = Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`Table ${tableName} has no stream`);

  /** Open iterators by shard; a shard whose iterator ran out is closed and dropped. */
  const iterators = new Map<string, string>();
  const finished = new Set<string>();
  let stopped = false;

  async function discoverShards(type: 'LATEST' | 'TRIM_HORIZON') {
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    for (const shard of StreamDescription?.Shards ?? []) {
      const shardId = shard.ShardId!;
      if (iterators.has(shardId) || finished.has(shardId)) continue;
      // Shards found after start are new: read them from their beginning.
      const { ShardIterator } = await streams.send(
        new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: type }),
      );
      if (ShardIterator) iterators.set(shardId, ShardIterator);
    }
  }

  async function pollOnce() {
    for (const [shardId, iterator] of [...iterators]) {
      let output;
      try {
        output = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 100 }));
      } catch (error) {
        if (error instanceof ExpiredIteratorException) {
          iterators.delete(shardId);
          continue;
        }
        throw error;
      }
      const records = (output.Records ?? []).map(toLambdaRecord);
      if (records.length > 0) await onRecords(records); // throws → same iterator next time
      if (output.NextShardIterator) iterators.set(shardId, output.NextShardIterator);
      else {
        iterators.delete(shardId);
        finished.add(shardId);
      }
    }
  }

  await discoverShards('LATEST');
  let rounds = 0;
  const loop = (async () => {
    while (!stopped) {
      try {
        if (rounds++ % 25 === 0) await discoverShards('TRIM_HORIZON');
        await pollOnce();
      } catch (error) {
        onError(error);
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();

  return {
    async stop() {
      stopped = true;
      await loop;
      streams.destroy();
    },
  };
}

/** The SDK gives dates as Date; Lambda and Pipes give epoch seconds. */
export function toLambdaRecord(record: StreamRecord): DynamoDBRecord {
  const { ApproximateCreationDateTime, ...rest } = record.dynamodb ?? {};
  return {
    ...(record as unknown as DynamoDBRecord),
    dynamodb: {
      ...(rest as DynamoDBRecord['dynamodb']),
      ...(ApproximateCreationDateTime ? { ApproximateCreationDateTime: ApproximateCreationDateTime.getTime() / 1000 } : {}),
    },
  };
}
