import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  TrimmedDataAccessException,
  type ShardIteratorType,
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
  /** The longest pause between two rounds while every round fails. @default 5_000 */
  maxBackoffMs?: number;
  /** Defaults to a client for `endpoint`; tests pass one to watch or disturb its calls. */
  streamsClient?: DynamoDBStreamsClient;
}

export interface StreamPoller {
  stop(): Promise<void>;
}

/** Where the poller stands in one shard. */
interface ShardPosition {
  iterator: string;
  /** The last record handed on: the place to resume from when the iterator becomes unusable. */
  lastSequenceNumber?: string;
}

/**
 * Reads the table's stream from DynamoDB Local and hands it on, as the EventBridge Pipe does on
 * AWS. Starts at the latest record: what happened before a restart is covered by the startup
 * resync, as lost events are by the sweep. A batch that fails is handed on again.
 */
export async function pollStream(options: StreamPollerOptions): Promise<StreamPoller> {
  const { dynamoClient, endpoint, tableName, onRecords, onError = () => {}, intervalMs = 200, maxBackoffMs = 5_000 } = options;
  const streams = options.streamsClient ?? new DynamoDBStreamsClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  const { Table } = await dynamoClient.send(new DescribeTableCommand({ TableName: tableName }));
  const streamArn = Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`Table ${tableName} has no stream`);

  const positions = new Map<string, ShardPosition>();
  /** Shards read to their end: a closed shard has nothing more to give. */
  const finished = new Set<string>();
  let stopped = false;

  async function iteratorFor(shardId: string, type: ShardIteratorType, sequenceNumber?: string) {
    const { ShardIterator } = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shardId,
        ShardIteratorType: type,
        ...(sequenceNumber ? { SequenceNumber: sequenceNumber } : {}),
      }),
    );
    return ShardIterator;
  }

  async function discoverShards(type: 'LATEST' | 'TRIM_HORIZON') {
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    for (const shard of StreamDescription?.Shards ?? []) {
      const shardId = shard.ShardId!;
      if (positions.has(shardId) || finished.has(shardId)) continue;
      // Shards found after start are new: read them from their beginning.
      const iterator = await iteratorFor(shardId, type);
      if (iterator) positions.set(shardId, { iterator });
    }
  }

  /**
   * A fresh iterator just past the last record handed on, or the shard's oldest record when none
   * was. An iterator expires after a while; and DynamoDB Local numbers stream records across all
   * tables, so an iterator taken on an empty shard points at a number another table's write may
   * take, and reading it reports the data as trimmed. Either way nothing handed on is repeated.
   */
  async function reposition(shardId: string, position: ShardPosition) {
    let iterator: string | undefined;
    if (position.lastSequenceNumber) {
      try {
        iterator = await iteratorFor(shardId, 'AFTER_SEQUENCE_NUMBER', position.lastSequenceNumber);
      } catch (error) {
        // The records after it are gone (older than the stream keeps): the oldest left is next.
        if (!(error instanceof TrimmedDataAccessException)) throw error;
      }
    }
    iterator ??= await iteratorFor(shardId, 'TRIM_HORIZON');
    if (iterator) positions.set(shardId, { ...position, iterator });
    else positions.delete(shardId);
  }

  async function pollOnce() {
    for (const [shardId, position] of [...positions]) {
      let output;
      try {
        output = await streams.send(new GetRecordsCommand({ ShardIterator: position.iterator, Limit: 100 }));
      } catch (error) {
        if (error instanceof ExpiredIteratorException || error instanceof TrimmedDataAccessException) {
          await reposition(shardId, position);
          continue;
        }
        throw error;
      }
      const records = output.Records ?? [];
      if (records.length > 0) await onRecords(records.map(toLambdaRecord)); // throws → same iterator next time
      const lastSequenceNumber = records.at(-1)?.dynamodb?.SequenceNumber ?? position.lastSequenceNumber;
      if (output.NextShardIterator) {
        positions.set(shardId, { iterator: output.NextShardIterator, ...(lastSequenceNumber ? { lastSequenceNumber } : {}) });
      } else {
        positions.delete(shardId);
        finished.add(shardId);
      }
    }
  }

  await discoverShards('LATEST');
  let rounds = 0;
  let failures = 0;
  let pause: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  const loop = (async () => {
    while (!stopped) {
      try {
        if (rounds++ % 25 === 0) await discoverShards('TRIM_HORIZON');
        await pollOnce();
        failures = 0;
      } catch (error) {
        failures++;
        onError(error);
      }
      // A failing round is retried later and later, so a store that is down is not hammered.
      const delay = failures === 0 ? intervalMs : Math.min(maxBackoffMs, intervalMs * 2 ** failures);
      await new Promise<void>((resolve) => {
        pause = { timer: setTimeout(resolve, delay), resolve };
      });
    }
  })();

  return {
    async stop() {
      stopped = true;
      if (pause) {
        clearTimeout(pause.timer);
        pause.resolve();
      }
      await loop;
      if (!options.streamsClient) streams.destroy();
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
